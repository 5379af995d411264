"""The insurer's daily extracts (contract §1): JS_POLICY and JS_CLAIM CSVs.

A file is transcoded to UTF-8 in a stream (GB18030 as contracted; a file that is valid UTF-8
is read as UTF-8 — the same text, so it loads), its TRAILER is verified against DuckDB's count
and sum of the rows before anything of it is used, then every row is typed and checked in one
SQL pass. Rows that fail a check go to quarantine with their reason and masked; the rest go to
the raw tables with the ID number replaced by its keyed hash. Names and phones stop here.
"""

import codecs
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb

from fpa.normalise.ids import CHECK_CHARS, WEIGHTS
from fpa.personal import PersonHasher
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.state import insert_rows

POLICY_COLUMNS = [
    "保单号",
    "险种代码",
    "险种名称",
    "投保日期",
    "保险起期",
    "保险止期",
    "份数",
    "保费",
    "被保险人姓名",
    "证件类型",
    "证件号码",
    "联系电话",
    "所属市",
    "所属县区",
    "出单机构",
    "保单状态",
    "批改日期",
]
CLAIM_COLUMNS = [
    "赔案号",
    "保单号",
    "险种代码",
    "被保险人证件号码",
    "出险日期",
    "报案日期",
    "结案日期",
    "出险原因",
    "赔付金额",
    "赔案状态",
    "所属县区",
]
PERSONAL = {"被保险人姓名": "name", "联系电话": "phone", "证件号码": "id", "被保险人证件号码": "id"}


@dataclass
class Outcome:
    status: str  # loaded | rejected
    reason_code: str = ""
    reason: str = ""
    rows_received: int = 0
    rows_quarantined: int = 0


class Rejected(Exception):
    def __init__(self, code: Reason, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


def transcode(src: Path, dst: Path) -> tuple[str, str | None]:
    """Write src as UTF-8 without its last line; return (encoding, that last line).

    One pass in 1 MiB chunks, holding back only the last line seen (the trailer, at the end).
    A file that is not valid UTF-8 throughout is read again as GB18030 (GB18030 Chinese text
    is never valid UTF-8, so a GB18030 file fails at its header and costs no second pass).
    """
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(src, "rb") as f, open(dst, "w", encoding="utf-8", newline="") as out:
                held = ""
                while chunk := f.read(1 << 20):
                    held += decoder.decode(chunk)
                    end = held.rfind("\n")
                    keep = held.rfind("\n", 0, end) if end > 0 else -1
                    if keep >= 0:
                        out.write(held[: keep + 1])
                        held = held[keep + 1 :]
                held += decoder.decode(b"", final=True)
                body, newline, last = held.rstrip("\r\n").rpartition("\n")
                out.write(body + newline)
            return encoding, last.rstrip("\r") or None
        except UnicodeDecodeError:
            continue
    raise Rejected(Reason.ENCODING, "neither UTF-8 nor GB18030")


def _check_sql(col: str) -> str:
    """SQL: does the normalised ID in `col` carry its GB 11643 check character?"""
    digits = " + ".join(
        f"(ascii(substr({col}, {i + 1}, 1)) - 48) * {w}" for i, w in enumerate(WEIGHTS)
    )
    return (
        f"(regexp_full_match({col}, '[0-9]{{17}}[0-9X]') AND "
        f"substr('{CHECK_CHARS}', (({digits}) % 11)::INTEGER + 1, 1) = substr({col}, 18, 1))"
    )


def _reasons_sql(kind: str) -> str:
    """The first reason a row is set aside, or NULL. Order: unreadable, ID, region, plausibility."""
    if kind == "policy":
        unreadable = (
            "w IS NULL OR units IS NULL OR premium IS NULL OR units < 1 "
            "OR (changed_raw <> '' AND changed IS NULL)"
        )
        implausible = (
            "premium <> 0 AND (abs(premium) / units >= p.unit_price_min * 1000 "
            "OR abs(premium) / units <= p.unit_price_max / 1000)"
        )
        implausible_code = Reason.PREMIUM_UNIT_MISMATCH
    else:
        unreadable = "paid IS NULL OR (settled_raw <> '' AND settled IS NULL)"
        implausible = "paid > p.claim_ceiling"
        implausible_code = Reason.CLAIM_ABOVE_CEILING
    return f"""CASE
        WHEN {unreadable} THEN '{Reason.UNREADABLE_VALUE}'
        WHEN p.product_code IS NULL THEN '{Reason.UNKNOWN_PRODUCT}'
        WHEN NOT id_ok THEN '{Reason.BAD_ID_CHECKSUM}'
        WHEN region.code IS NULL OR region.level <> 'county' THEN '{Reason.UNKNOWN_REGION}'
        WHEN {implausible} THEN '{implausible_code}'
    END"""


def _typed_sql(kind: str) -> str:
    if kind == "policy":
        return f"""
            SELECT *, try_cast(投保日期 AS DATE) AS w, try_cast(份数 AS INTEGER) AS units,
                   try_cast(保费 AS DECIMAL(18, 2)) AS premium,
                   coalesce(批改日期, '') AS changed_raw, try_cast(批改日期 AS DATE) AS changed,
                   upper(trim(证件号码)) AS id_norm,
                   {_check_sql("upper(trim(证件号码))")} AS id_ok,
                   regexp_replace(所属县区, '[\\s\u3000]', '', 'g') AS county_clean
            FROM csv"""
    return f"""
        SELECT *, try_cast(赔付金额 AS DECIMAL(18, 2)) AS paid,
               coalesce(结案日期, '') AS settled_raw, try_cast(结案日期 AS DATE) AS settled,
               upper(trim(被保险人证件号码)) AS id_norm,
               {_check_sql("upper(trim(被保险人证件号码))")} AS id_ok,
               regexp_replace(所属县区, '[\\s\u3000]', '', 'g') AS county_clean
        FROM csv"""


def _masked_json(columns: list[str]) -> str:
    parts = []
    for c in columns:
        kind = PERSONAL.get(c)
        value = {
            None: c,
            "id": f"left(trim({c}), 6) || repeat('*', greatest(length(trim({c})) - 6, 0))",
            "name": f"repeat('*', length({c}))",
            "phone": f"repeat('*', length({c}))",
        }[kind]
        parts.append(f"'{c}', {value}")
    return f"json_object({', '.join(parts)})"


@dataclass
class Prepared:
    """A file transcoded to UTF-8 (body only), its header and trailer checked."""

    file_name: str
    sha256: str
    file_day: str
    received_at: object
    body: Path
    rows: int
    money: Decimal


def prepare(
    kind: str, landed: Path, tmp: Path, file_name: str, sha256: str, file_day: str, received_at
) -> Prepared:
    """Transcode and check what can be checked before reading rows; raise Rejected."""
    body = tmp / f"{sha256}.csv"
    _, trailer = transcode(landed, body)
    if trailer is None or not trailer.startswith("TRAILER,"):
        raise Rejected(
            Reason.TRAILER_MISSING,
            "no TRAILER line at the end: the transfer was cut or the file is not an extract",
        )
    parts = trailer.split(",")
    try:
        rows, money = int(parts[1]), Decimal(parts[2])
    except (IndexError, ValueError, ArithmeticError) as e:
        raise Rejected(Reason.TRAILER_MISSING, f"unreadable trailer {trailer!r}") from e
    with open(body, encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\r\n").split(",")
    columns = POLICY_COLUMNS if kind == "policy" else CLAIM_COLUMNS
    if header != columns:
        raise Rejected(
            Reason.UNKNOWN_LAYOUT,
            f"header {','.join(header)} is not the contract's {','.join(columns)}",
        )
    return Prepared(file_name, sha256, file_day, received_at, body, rows, money)


def load_batch(
    con: duckdb.DuckDBPyConnection, kind: str, files: list[Prepared]
) -> dict[str, Outcome]:
    """Read many prepared files in one DuckDB pass inside the caller's transaction: verify
    each trailer against its rows, quarantine bad rows, load the rest. Outcome per sha256.
    The connection has person_key() registered (register_person_key)."""
    if not files:
        return {}
    columns = POLICY_COLUMNS if kind == "policy" else CLAIM_COLUMNS
    money = "保费" if kind == "policy" else "赔付金额"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE batch (body VARCHAR, file_name VARCHAR, "
        "file_sha256 VARCHAR, file_day DATE, received_at TIMESTAMPTZ, rows BIGINT, "
        "money DECIMAL(18, 2))"
    )
    insert_rows(
        con,
        "batch",
        [
            (str(f.body), f.file_name, f.sha256, f.file_day, f.received_at, f.rows, f.money)
            for f in files
        ],
    )
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE csv0 AS SELECT * FROM read_csv(?, "
            "header = true, all_varchar = true, delim = ',', quote = '\"', "
            "escape = '\"', strict_mode = true, filename = '_body', "
            f"columns = {_struct(columns)})",
            [[str(f.body) for f in files]],
        )
    except duckdb.Error as e:
        if len(files) == 1:
            raise Rejected(Reason.UNKNOWN_LAYOUT, f"not a readable CSV: {e}") from e
        raise BatchUnreadable(str(e)) from e
    # insertion order is file order and rowid follows it (inside a transaction from 2^55), so
    # a row's line is its rank in its file; the header is line 1
    con.execute("""
        CREATE OR REPLACE TEMP TABLE csv AS
        SELECT (row_number() OVER (PARTITION BY _body ORDER BY rowid) + 1)::INTEGER AS line, *
        FROM csv0;
        DROP TABLE csv0""")
    counted = {
        body: (n, total or 0)
        for body, n, total in con.execute(
            f"SELECT _body, count(*), sum(try_cast({money} AS DECIMAL(18, 2))) FROM csv "
            "GROUP BY _body"
        ).fetchall()
    }
    outcomes: dict[str, Outcome] = {}
    for f in files:
        n, total = counted.get(str(f.body), (0, 0))
        if (n, total) != (f.rows, f.money):
            outcomes[f.sha256] = Outcome(
                "rejected",
                Reason.TRAILER_MISMATCH,
                f"{DESCRIPTIONS[Reason.TRAILER_MISMATCH]}: trailer says {f.rows} rows, "
                f"{f.money} 元; the file has {n} rows, {total:.2f} 元",
            )
    con.execute("DELETE FROM batch WHERE file_sha256 IN (SELECT unnest(?))", [list(outcomes)])
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE checked AS
        SELECT t.*, b.file_name, b.file_sha256, b.file_day, b.received_at,
               region.code AS county_code, {_reasons_sql(kind)} AS reason_code
        FROM ({_typed_sql(kind)}) t
        JOIN batch b ON b.body = t._body
        LEFT JOIN ref.products p ON p.product_code = t.险种代码
        LEFT JOIN ref.region_names region ON region.name = t.county_clean""")
    con.execute(f"""
        INSERT INTO audit.quarantine
        SELECT '{"insurer_" + kind}', file_name, file_sha256, NULL, line, reason_code,
               ({_reason_text()}), {_masked_json(columns)}
        FROM checked WHERE reason_code IS NOT NULL ORDER BY file_sha256, line""")
    if kind == "policy":
        con.execute("""
            INSERT INTO raw.insurer_policies
            SELECT file_sha256, file_day, line, 保单号, 险种代码, 险种名称, w,
                   try_cast(保险起期 AS DATE), try_cast(保险止期 AS DATE), units, premium, 证件类型,
                   person_key(id_norm), 所属市, 所属县区, county_code, 出单机构, 保单状态, changed,
                   received_at
            FROM checked WHERE reason_code IS NULL ORDER BY file_sha256, line""")
    else:
        con.execute("""
            INSERT INTO raw.insurer_claims
            SELECT file_sha256, file_day, line, 赔案号, 保单号, 险种代码, person_key(id_norm),
                   try_cast(出险日期 AS DATE), try_cast(报案日期 AS DATE), settled, 出险原因,
                   paid, 赔案状态, 所属县区, county_code, received_at
            FROM checked WHERE reason_code IS NULL ORDER BY file_sha256, line""")
    quarantined = dict(
        con.execute(
            "SELECT file_sha256, count(*) FILTER (reason_code IS NOT NULL) FROM checked GROUP BY 1"
        ).fetchall()
    )
    for f in files:
        if f.sha256 not in outcomes:
            outcomes[f.sha256] = Outcome(
                "loaded", rows_received=f.rows, rows_quarantined=quarantined.get(f.sha256, 0)
            )
    con.execute("DROP TABLE checked; DROP TABLE csv; DROP TABLE batch")
    return outcomes


def _struct(columns: list[str]) -> str:
    return "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"


class BatchUnreadable(Exception):
    """One file of a batch is not a readable CSV: the caller retries the files one by one."""


def _reason_text() -> str:
    cases = " ".join(
        f"WHEN '{code}' THEN '{text.replace(chr(39), chr(39) * 2)}'"
        for code, text in DESCRIPTIONS.items()
    )
    return f"CASE reason_code {cases} END"


def register_person_key(con: duckdb.DuckDBPyConnection, hasher: PersonHasher) -> None:
    """person_key(id) in SQL: the keyed hash, computed in Python row by row (about 1 µs)."""
    con.create_function("person_key", hasher, ["VARCHAR"], "VARCHAR", side_effects=False)
