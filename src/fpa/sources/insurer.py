"""The insurer's daily extracts (contract §1): JS_POLICY and JS_CLAIM CSVs.

A file is transcoded to UTF-8 in a stream (GB18030 as contracted; a file that is valid UTF-8
is read as UTF-8 — the same text, so it loads; a byte-order mark is dropped) and its header and
TRAILER line are checked, each read as one RFC 4180 record (quoted or not).
Then the files of a batch are read by DuckDB in one pass that types and checks every row and
replaces its ID number by the keyed hash (read_batch); each file's TRAILER is verified against
the count and sum of its rows before anything of it is used, and the rows of the files that
match go to quarantine with their reason, masked, or to the raw tables (load_batch). Names and
phones stop here.

Every reason this module gives is written here, in its own words, from line numbers, column
names, counts and the contract's own texts: never from a parser's message (DuckDB's quotes the
rows around a fault, a stray quote the whole rest of the file, with names, IDs and phones in
clear) nor from a line of the file that may be a data row. personal.scrub() masks what still
looks like an ID or phone in them, as a last defence.
"""

import csv
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb

from fpa.normalise.ids import CHECK_CHARS, WEIGHTS
from fpa.personal import PersonHasher
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.sources.common import Outcome, Rejected
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
RAW_TABLES = {"policy": "raw.insurer_policies", "claim": "raw.insurer_claims"}
PERSONAL = {"被保险人姓名": "name", "联系电话": "phone", "证件号码": "id", "被保险人证件号码": "id"}


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


def transcode(src: Path, dst: Path) -> tuple[str, str | None]:
    """Write src as UTF-8 without its last line; return (encoding, that last line).

    A GB18030 file (its first 64 KiB not UTF-8: GB18030 Chinese text never is, and the header
    is Chinese) of ICONV_FROM_BYTES or more goes through glibc's iconv: faster than Python's
    codec decoding and encoding, and outside the GIL, beside DuckDB.
    Its last line is then cut off the output. Any other file (a smaller one: starting iconv
    costs more than decoding it), or any machine without iconv, takes the codec path (_recode),
    which tries UTF-8 for the whole file (when its first 64 KiB are), then GB18030.

    A byte-order mark at the start (UTF-8's, or GB18030's encoding of U+FEFF) is not written:
    it is no part of the header's first name.
    """
    with open(src, "rb") as f:
        head = f.read(64 << 10)
        size = os.fstat(f.fileno()).st_size
    utf8 = _utf8_prefix(head)
    if ICONV and size >= ICONV_FROM_BYTES and not utf8:
        # a mark is rare: only then is iconv given the file on its stdin, past the mark; else
        # it opens the file itself, as it always did
        skip = len(BOMS["gb18030"]) if head.startswith(BOMS["gb18030"]) else 0
        with open(src, "rb") as f, open(dst, "wb") as out:
            f.seek(skip)
            done = subprocess.run(
                [ICONV, "-f", "GB18030", "-t", "UTF-8", *([] if skip else [str(src)])],
                stdin=f,
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        if done.returncode:  # an invalid or cut-off sequence: the codec would fail the same way
            raise Rejected(Reason.ENCODING, "neither UTF-8 nor GB18030")
        return "gb18030", _cut_last_line(dst)
    # a file whose first 64 KiB are not UTF-8 is not: not read as UTF-8 for nothing (each try
    # writes dst, and a file's creation was a third of a small file's cost)
    for encoding in ("utf-8", "gb18030") if utf8 else ("gb18030",):
        try:
            last = _recode(src, dst, encoding)
        except UnicodeDecodeError:
            continue
        return encoding, last
    raise Rejected(Reason.ENCODING, "neither UTF-8 nor GB18030")


ICONV = shutil.which("iconv")  # glibc's (libc-bin): on every Debian and in the image
# below this, a file takes the codec: a province's daily claims (~60 KiB, 3,650 files in ten
# years) decoded in 0.5 ms each, where iconv's process took 1.4 ms to start; they were most of
# the ingest's time after the policies (15 of 120 s at ten years)
ICONV_FROM_BYTES = 256 << 10
BOMS = {"utf-8": b"\xef\xbb\xbf", "gb18030": b"\x84\x31\x95\x33"}  # U+FEFF in each


def _utf8_prefix(head: bytes) -> bool:
    """Is head UTF-8, up to a character cut off at its end?"""
    try:
        head.decode()
    except UnicodeDecodeError as e:
        return e.reason == "unexpected end of data" and e.end == len(head)
    return True


def _body_end(data: bytes) -> int:
    """Where the body of data ends: the index of the line feed before its last line (the last
    text, whatever line ends follow it), or -1 when data is one line. Both transcoding paths cut
    the trailer off here."""
    return data.rfind(b"\n", 0, len(data.rstrip(b"\r\n")))


def _cut_last_line(path: Path) -> str | None:
    """Remove the last line of a UTF-8 file and return it. A last line longer than 64 KiB is no
    trailer: None, and the file is left as it is."""
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - (64 << 10))
        f.seek(start)
        tail = f.read()
        cut = _body_end(tail)
        if cut < 0 and start > 0:
            return None
        f.truncate(start + cut + 1)
    return tail[cut + 1 :].rstrip(b"\r\n").decode() or None


def _recode(src: Path, dst: Path, encoding: str) -> str | None:
    """transcode() with Python's codec, for one encoding; raises UnicodeDecodeError.

    One pass in 8 MiB chunks, holding back only the last line (the trailer) and any line ends
    after it. The bytes are cut at line ends before they are decoded: a line feed is never part
    of a multi-byte character in GB18030 or UTF-8, so whole lines decode exactly as a stream
    would, with the codec's C loop and no incremental decoder or string concatenation (a
    decoder loop in Python was a measurable share of an ingest)."""
    with open(src, "rb") as f, open(dst, "wb") as out:
        bom = BOMS[encoding]
        f.seek(len(bom) if f.read(len(bom)) == bom else 0)
        held = b""
        while chunk := f.read(8 << 20):
            held += chunk
            keep = _body_end(held)
            if keep >= 0:  # everything before the last line is body
                out.write(held[: keep + 1].decode(encoding).encode())
                held = held[keep + 1 :]
        # what is held is the last line (and the line ends after it): a line before it would
        # have been written out above
        return held.rstrip(b"\r\n").decode(encoding) or None


def prepare(
    kind: str, landed: Path, tmp: Path, file_name: str, sha256: str, file_day: str, received_at
) -> Prepared:
    """Transcode and check what can be checked before reading rows; raise Rejected."""
    body = tmp / f"{sha256}.csv"
    _, last = transcode(landed, body)
    rows, money = _trailer(last)
    columns = POLICY_COLUMNS if kind == "policy" else CLAIM_COLUMNS
    with open(body, encoding="utf-8", newline="") as f:
        line = f.readline(_HEADER_MAX)
    header = _record(line.rstrip("\r\n"))
    if header is None:
        raise Rejected(Reason.UNKNOWN_LAYOUT, f"line 1, the header: {_quote_fault(line)}")
    if header != columns:
        raise Rejected(Reason.UNKNOWN_LAYOUT, _header_fault(header, columns))
    return Prepared(file_name, sha256, file_day, received_at, body, rows, money)


_HEADER_MAX = 1 << 16  # characters of line 1 read: a header is a few hundred


def _record(line: str) -> list[str] | None:
    """The fields of one line read as one RFC 4180 record, or None when it is not one (a quote
    left open, text after a closing quote). Python's csv on a single line: microseconds, where
    asking DuckDB costs milliseconds a file."""
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error:
        return None


def _quote_fault(line: str) -> str:
    """Why a line is not one record, in the warehouse's words (csv's may change)."""
    if line.count('"') % 2:
        return 'a quoted field is not closed on its line (a stray ")'
    return 'text between a closing quote and the next comma (a stray ")'


def _trailer(last: str | None) -> tuple[int, Decimal]:
    """The row count and money sum of the TRAILER line, quoted or not; raise Rejected. The last
    line may be a data row (a cut transfer): a reason names a field's position and shows a value
    only when it is a short number."""
    fields = None if last is None else _record(last)
    if not fields or fields[0] != "TRAILER":
        if last is not None and fields is None and last.lstrip('"').startswith("TRAILER"):
            raise Rejected(Reason.TRAILER_MISSING, f"the TRAILER line: {_quote_fault(last)}")
        raise Rejected(
            Reason.TRAILER_MISSING,
            "no TRAILER line at the end: the transfer was cut or the file is not an extract",
        )
    if len(fields) < 3:
        raise Rejected(
            Reason.TRAILER_MISSING,
            f"the TRAILER line has {len(fields)} fields, where TRAILER,<rows>,<money> has 3",
        )
    try:
        rows = int(fields[1])
    except ValueError:
        raise Rejected(
            Reason.TRAILER_MISSING,
            f"the TRAILER's row count {_shown(fields[1])} is not a whole number",
        ) from None
    try:
        money = Decimal(fields[2])
    except ArithmeticError:
        money = None
    if money is None or not money.is_finite():
        raise Rejected(
            Reason.TRAILER_MISSING,
            f"the TRAILER's money sum {_shown(fields[2])} is not a number",
        )
    return rows, money


def _shown(value: str) -> str:
    """A trailer field for a reason: itself when a short number, else only its length."""
    if re.fullmatch(r"[-+0-9., ]{1,24}", value):
        return f"'{value}'"
    return f"(a text of {len(value)} characters)"


def _header_fault(seen: list[str], columns: list[str]) -> str:
    """How line 1 differs from the contract's header, so that a person sees it: a name that
    looks right but is not is shown with its odd characters as U+XXXX (a byte-order mark, a
    zero-width or full-width space, a compatibility ideograph). A line that has less than half
    the contract's names may be a data row (the header missing): nothing of it is shown, and
    names of the line are shown only for a few unexpected ones among the contract's."""
    expected = f"(the contract's header is {','.join(columns)})"
    if not seen:
        return f"line 1 is empty: no header {expected}"
    other = CLAIM_COLUMNS if columns is POLICY_COLUMNS else POLICY_COLUMNS
    if seen == other:
        return f"line 1 is the header of the other extract ({','.join(seen)}) {expected}"
    known = set(columns)
    named = sum(_plain(s) in known for s in seen)
    if named * 2 < len(columns):
        return (
            f"line 1 is not the contract's header: {len(seen)} fields, {named} of them the "
            f"contract's column names (a data row, the header missing?) {expected}"
        )
    faults = []
    if seen[0].startswith("\ufeff"):  # transcoding dropped one mark: this is another
        faults.append("U+FEFF before the header")
        seen = [seen[0][1:], *seen[1:]]
    others = [s for s in seen if _plain(s) not in known]
    few = len(others) <= 3

    def shown(name: str) -> str:
        return _visible(name) if few or name not in others else "a name not the contract's"

    if len(seen) == len(columns):
        wrong = [(i, s, c) for i, (s, c) in enumerate(zip(seen, columns, strict=True), 1) if s != c]
        faults += [f"column {i} is {shown(s)} where the contract has {c}" for i, s, c in wrong[:6]]
        if len(wrong) > 6:
            faults.append(f"{len(wrong) - 6} more columns differ")
    else:
        faults.append(f"{len(seen)} fields where the contract has {len(columns)}")
        missing = [c for c in columns if c not in seen]
        if missing:
            faults.append("missing " + "、".join(missing))
        unexpected = [s for s in seen if s not in known]
        if unexpected and few:
            faults.append("not the contract's: " + ", ".join(map(_visible, unexpected)))
        elif unexpected:
            faults.append(f"{len(unexpected)} fields not the contract's (not shown)")
    return "; ".join(faults or ["the header differs"]) + " " + expected


def _odd(ch: str) -> bool:
    """A character a person cannot tell from another, or cannot see, in a header name."""
    return (
        ch.isspace()
        or not ch.isprintable()
        or unicodedata.category(ch) in ("Cf", "Mn", "Co", "Cn")
        or unicodedata.normalize("NFKC", ch) != ch
    )


def _visible(name: str) -> str:
    """A header name in 「」, its odd characters as <U+XXXX>, cut at 40 characters."""
    shown = "".join(f"<U+{ord(ch):04X}>" if _odd(ch) else ch for ch in name[:40])
    return f"「{shown}」" + ("…" if len(name) > 40 else "")


def _plain(name: str) -> str:
    """A header name without its odd characters and in NFKC: what it was meant to say."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", name) if not _odd(ch))


def read_batch(
    con: duckdb.DuckDBPyConnection, kind: str, files: list[Prepared]
) -> tuple[list[Prepared], dict[str, Outcome]]:
    """Parse, type, check and key many prepared files in one DuckDB pass into the temp table
    `checked`; return the files read and the outcome of those that are not a readable CSV. The
    connection must have a PersonHasher installed: each row's ID becomes its person key here.

    Run it outside any transaction: a failed statement aborts DuckDB's transaction, and the
    files of a batch that fails are then tried one by one to find the unreadable ones."""
    if not files:
        return [], {}
    try:
        _read(con, kind, files)
        return files, {}
    except duckdb.Error as e:
        if len(files) == 1:
            return [], {files[0].sha256: _unreadable(con, kind, files[0], e)}
    readable, outcomes = [], {}
    for f in files:
        try:
            _read(con, kind, [f])
            readable.append(f)
        except duckdb.Error as e:
            outcomes[f.sha256] = _unreadable(con, kind, f, e)
    if readable:
        _read(con, kind, readable)
    return readable, outcomes


def _read(con: duckdb.DuckDBPyConnection, kind: str, files: list[Prepared]) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE batch (idx INTEGER, file_name VARCHAR, "
        "file_sha256 VARCHAR, file_day DATE, received_at TIMESTAMPTZ)"
    )
    insert_rows(
        con,
        "batch",
        [(i, f.file_name, f.sha256, f.file_day, f.received_at) for i, f in enumerate(files)],
    )
    refs = _lookups(con, files)
    con.execute(_checked_sql(kind, refs), {"bodies": [str(f.body) for f in files]})


def _unreadable(
    con: duckdb.DuckDBPyConnection, kind: str, f: Prepared, error: duckdb.Error
) -> Outcome:
    return Outcome(
        "rejected",
        Reason.UNKNOWN_LAYOUT,
        f"{DESCRIPTIONS[Reason.UNKNOWN_LAYOUT]}: not a readable CSV: "
        f"{_csv_fault(con, kind, f, error)}",
    )


_REJECTS = "fpa_csv_rejects"
# DuckDB's error types, most telling first (a stray quote also leaves its line a field short
# or long), in the warehouse's words
_CSV_FAULTS = {
    "UNQUOTED VALUE": 'unterminated quoted field (a stray ")',
    "INVALID STATE": "a quote or line end where a CSV record allows none",
    "LINE SIZE OVER MAXIMUM": "a record over the reader's 2 MB (a quoted field never closed?)",
    "INVALID ENCODING": "not UTF-8 after transcoding",
    "TOO MANY COLUMNS": "",
    "MISSING COLUMNS": "",
    "CAST": "a value of the wrong type",
}


def _csv_fault(con: duckdb.DuckDBPyConnection, kind: str, f: Prepared, error: duckdb.Error) -> str:
    """Where and why DuckDB cannot read a file, in the warehouse's words. Its message is never
    used: it quotes the lines around the fault in clear. The file is read once more into
    DuckDB's rejects table, of which only the line, the column and the type of error are taken
    (its text columns copy the line too). A line is a record: a line break inside a quoted
    field does not count, as in the raw tables' line."""
    columns = POLICY_COLUMNS if kind == "policy" else CLAIM_COLUMNS
    found, stopped = [], error
    try:
        con.execute(f"DROP TABLE IF EXISTS {_REJECTS}; DROP TABLE IF EXISTS {_REJECTS}_scan")
        # fetched: an unfetched result leaves the scan, and the rejects table, unmade
        con.execute(
            f"SELECT count(*) FROM {_csv_source(columns, rejects=True)}", {"bodies": [str(f.body)]}
        ).fetchall()
        found = con.execute(f"""
            SELECT line, error_type::VARCHAR, min(column_idx), max(column_idx),
                   arg_min(column_name, column_idx)
            FROM {_REJECTS} WHERE line = (SELECT min(line) FROM {_REJECTS})
            GROUP BY ALL""").fetchall()
    except duckdb.Error as again:
        stopped = again  # the second read failed outright (DuckDB raises some faults regardless)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_REJECTS}; DROP TABLE IF EXISTS {_REJECTS}_scan")
    if not found:
        # of the loading read's message only a line number, as a number
        line = re.search(r"CSV Error on Line: (\d+)", str(error))
        where = f"line {line[1]}: " if line else ""
        return f"{where}not a well-formed CSV record ({type(stopped).__name__})"
    order = list(_CSV_FAULTS)
    line, kind_of, first, last, name = min(
        found, key=lambda r: order.index(r[1]) if r[1] in order else len(order)
    )
    if kind_of in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
        # one rejects row per extra field, the last's index the count of fields; or per
        # missing column, the first's index (from 0) the count
        fields = last if kind_of == "TOO MANY COLUMNS" else first
        return f"line {line}: {fields} fields where the header has {len(columns)}"
    column = f", column {name}" if name in columns else ""  # DuckDB names ours: only ours
    return f"line {line}{column}: {_CSV_FAULTS.get(kind_of, kind_of.lower())}"


def load_batch(
    con: duckdb.DuckDBPyConnection, kind: str, files: list[Prepared]
) -> dict[str, Outcome]:
    """The files read by read_batch(), inside the caller's transaction: verify each trailer
    against its rows, quarantine bad rows, load the rest. Outcome per sha256.

    The trailers are verified on `checked` with one GROUP BY; quarantine and raw tables are
    filled from it, only for the files whose trailer matched."""
    if not files:
        return {}
    outcomes = _verify_trailers(con, files)
    _insert_rows(con, kind)
    con.execute("DROP TABLE checked; DROP TABLE loading; DROP TABLE batch")
    return outcomes


def _verify_trailers(con: duckdb.DuckDBPyConnection, files: list[Prepared]) -> dict[str, Outcome]:
    """Each file's rows and money sum against its trailer; `loading` keeps the files that
    match, with their first rowid (for line numbers)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE loading AS
        SELECT b.*, c.first, coalesce(c.rows, 0) AS rows, coalesce(c.money, 0) AS money,
               coalesce(c.quarantined, 0) AS quarantined
        FROM batch b LEFT JOIN (
            SELECT idx, min(rowid) AS first, count(*) AS rows, sum(money) AS money,
                   count(*) FILTER (reason_code IS NOT NULL) AS quarantined
            FROM checked GROUP BY idx) c USING (idx)""")
    counted = {
        idx: (n, total, quarantined)
        for idx, n, total, quarantined in con.execute(
            "SELECT idx, rows, money, quarantined FROM loading"
        ).fetchall()
    }
    outcomes, rejected = {}, []
    for idx, f in enumerate(files):
        n, total, quarantined = counted[idx]
        if (n, total) == (f.rows, f.money):
            outcomes[f.sha256] = Outcome("loaded", rows_received=n, rows_quarantined=quarantined)
            continue
        rejected.append(idx)
        outcomes[f.sha256] = Outcome(
            "rejected",
            Reason.TRAILER_MISMATCH,
            f"{DESCRIPTIONS[Reason.TRAILER_MISMATCH]}: trailer says {f.rows} rows, "
            f"{f.money} 元; the file has {n} rows, {total:.2f} 元",
        )
    con.execute("DELETE FROM loading WHERE idx IN (SELECT unnest(?))", [rejected])
    return outcomes


def _insert_rows(con: duckdb.DuckDBPyConnection, kind: str) -> None:
    """Quarantined rows and loaded rows of the files in `loading`."""
    rows = "checked c JOIN loading f USING (idx)"
    line = "(c.rowid - f.first + 2)::INTEGER"
    con.execute(f"""
        INSERT INTO audit.quarantine
        SELECT 'insurer_{kind}', file_name, file_sha256, NULL, {line}, reason_code,
               ({_reason_text()}), raw_row
        FROM {rows} WHERE reason_code IS NOT NULL ORDER BY c.rowid""")
    if kind == "policy":
        values = f"""file_sha256, file_day, {line}, 保单号, 险种代码, 险种名称, w, cover_start,
            cover_end, units, c.money, 证件类型, person_key, 所属市, 所属县区,
            county_code, 出单机构, 保单状态, changed, received_at"""
    else:
        values = f"""file_sha256, file_day, {line}, 赔案号, 保单号, 险种代码,
            person_key, event_on, reported_on, settled, 出险原因, c.money, 赔案状态,
            所属县区, county_code, received_at"""
    # no ORDER BY: sorting 100,000s of rows costs more than the physical order is worth (the
    # marts order versions by file_day and line)
    con.execute(
        f"INSERT INTO {RAW_TABLES[kind]} SELECT {values} FROM {rows} WHERE reason_code IS NULL"
    )


_BODY, _COUNTY, _PRODUCT = "fpa_batch_file", "fpa_county_name", "fpa_product_code"


@dataclass
class _Refs:
    """The seeds as SQL constants indexed by county_i and product_i (1-based)."""

    county_code: str
    price_min: str
    price_max: str
    ceiling: str


def _lookups(con: duckdb.DuckDBPyConnection, files: list[Prepared]) -> _Refs:
    """Temp enums of the batch's files, the county names (of county level: another level
    is an unknown region to an insurer row) and the product codes; the values that go with
    them as constant lists in the same order."""
    counties = con.execute(
        "SELECT name, code FROM ref.region_names WHERE level = 'county' ORDER BY name"
    ).fetchall()
    products = con.execute(
        "SELECT product_code, unit_price_min_yuan, unit_price_max_yuan, claim_ceiling_yuan "
        "FROM ref.products "
        "ORDER BY product_code"
    ).fetchall()
    for name, values in (
        (_BODY, [str(f.body) for f in files]),
        (_COUNTY, [n for n, _ in counties]),
        (_PRODUCT, [p[0] for p in products]),
    ):
        con.execute(f"CREATE OR REPLACE TEMP TYPE {name} AS ENUM ({_literals(values)})")

    def money(i: int) -> str:
        values = ", ".join("NULL" if p[i] is None else str(p[i]) for p in products)
        return f"([{values}]::DECIMAL(18, 2)[])[product_i]"

    return _Refs(f"[{_literals([c for _, c in counties])}][county_i]", money(1), money(2), money(3))


def _literals(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _checked_sql(kind: str, refs: _Refs) -> str:
    """One pass over the CSVs: each row typed, checked and given its file (idx); a row set
    aside keeps its reason and its masked JSON (built only for those rows).

    Projections only, so DuckDB reads the files on all its threads and still stores the rows in
    file order: a row's line is its rowid less its file's first rowid, plus 2 (the header is
    line 1). A join would not keep that order, and row_number() OVER () would keep it but runs
    the whole pass on one thread; so files, counties and products are looked up through enums
    and constant lists (refs) instead of joins."""
    columns = POLICY_COLUMNS if kind == "policy" else CLAIM_COLUMNS
    return f"""
        CREATE OR REPLACE TEMP TABLE checked AS
        SELECT idx, {_KEPT[kind]}, reason_code,
               CASE WHEN reason_code IS NOT NULL THEN {_masked_json(columns)} END AS raw_row
        FROM (
            SELECT *, {refs.county_code} AS county_code, {_reasons_sql(kind, refs)} AS reason_code,
                   {PersonHasher.sql("id_norm")} AS person_key
            FROM ({_typed_sql(kind)}))"""


# what a checked row keeps for the raw tables (text that is not loaded is not kept twice)
_KEPT = {
    "policy": """保单号, 险种代码, 险种名称, w, try_cast(保险起期 AS DATE) AS cover_start,
        try_cast(保险止期 AS DATE) AS cover_end, units, premium AS money, 证件类型, person_key,
        所属市, 所属县区, county_code, 出单机构, 保单状态, changed""",
    "claim": """赔案号, 保单号, 险种代码, person_key, try_cast(出险日期 AS DATE) AS event_on,
        try_cast(报案日期 AS DATE) AS reported_on, settled, 出险原因, paid AS money, 赔案状态,
        所属县区, county_code""",
}


def _typed_sql(kind: str) -> str:
    """Every row of the batch's files as read (the files in list order, each file's rows in
    order), typed. Nested projections compute what several expressions use once."""
    columns = POLICY_COLUMNS if kind == "policy" else CLAIM_COLUMNS
    id_column = "证件号码" if kind == "policy" else "被保险人证件号码"
    source = _csv_source(columns)
    if kind == "policy":
        typed = """try_cast(投保日期 AS DATE) AS w, try_cast(份数 AS INTEGER) AS units,
               try_cast(保费 AS DECIMAL(18, 2)) AS premium,
               coalesce(批改日期, '') AS changed_raw, try_cast(批改日期 AS DATE) AS changed"""
    else:
        typed = """try_cast(赔付金额 AS DECIMAL(18, 2)) AS paid,
               coalesce(结案日期, '') AS settled_raw, try_cast(结案日期 AS DATE) AS settled"""
    # a county name is looked up as delivered first: only a miss pays for the regexp that
    # strips spaces (on every row it cost four times the lookup)
    return f"""
        SELECT *, {typed}, {_check_sql()} AS id_ok, enum_code(_body::{_BODY}) AS idx,
               coalesce(enum_code(try_cast(所属县区 AS {_COUNTY})),
                        enum_code(try_cast(regexp_replace(所属县区, '[\\s\u3000]', '', 'g')
                                           AS {_COUNTY}))) + 1 AS county_i,
               enum_code(try_cast(险种代码 AS {_PRODUCT})) + 1 AS product_i
        FROM (
            SELECT *, try_cast(left(id_norm, 9) AS INTEGER) AS id_head,
                   try_cast(substr(id_norm, 10, 8) AS INTEGER) AS id_tail
            FROM (SELECT *, {_normalised_id(id_column)} AS id_norm FROM {source}))"""


def _csv_source(columns: list[str], rejects: bool = False) -> str:
    """SQL: the files $bodies, read as the contract's CSV. The dialect is the contract's,
    spelled out: sniffing it anyway costs time on every file. rejects: faulty records are
    skipped and described in the temp table _REJECTS (a diagnosis: the loading read fails on
    the first)."""
    kept = (
        f", store_rejects = true, rejects_table = '{_REJECTS}', "
        f"rejects_scan = '{_REJECTS}_scan', rejects_limit = 1000"
        if rejects
        else ""
    )
    return (
        "read_csv($bodies, header = true, all_varchar = true, delim = ',', quote = '\"', "
        "escape = '\"', strict_mode = true, auto_detect = false, filename = '_body', "
        f"columns = {_struct(columns)}{kept})"
    )


def _normalised_id(column: str) -> str:
    """SQL: the ID upper-cased (a lower-case x) and trimmed. Trim only what is not 18 bytes
    long: trim() cost three times upper(), and an 18-byte ID with a space fails the check with
    or without it."""
    return f"CASE WHEN strlen({column}) = 18 THEN upper({column}) ELSE upper(trim({column})) END"


def _reasons_sql(kind: str, refs: _Refs) -> str:
    """The first reason a row is set aside, or NULL. Order: unreadable, ID, region, plausibility.
    A missing ID fails the check too (a NULL id_ok once let the row through to a NOT NULL
    person_key, which aborted the night)."""
    if kind == "policy":
        unreadable = (
            "w IS NULL OR units IS NULL OR premium IS NULL OR units < 1 "
            "OR (changed_raw <> '' AND changed IS NULL)"
        )
        implausible = (
            f"premium <> 0 AND (abs(premium) / units >= {refs.price_min} * 1000 "
            f"OR abs(premium) / units <= {refs.price_max} / 1000)"
        )
        implausible_code = Reason.PREMIUM_UNIT_MISMATCH
    else:
        unreadable = "paid IS NULL OR (settled_raw <> '' AND settled IS NULL)"
        implausible = f"paid > {refs.ceiling}"
        implausible_code = Reason.CLAIM_ABOVE_CEILING
    return f"""CASE
        WHEN {unreadable} THEN '{Reason.UNREADABLE_VALUE}'
        WHEN product_i IS NULL THEN '{Reason.UNKNOWN_PRODUCT}'
        WHEN NOT coalesce(id_ok, false) THEN '{Reason.BAD_ID_CHECKSUM}'
        WHEN county_i IS NULL THEN '{Reason.UNKNOWN_REGION}'
        WHEN {implausible} THEN '{implausible_code}'
    END"""


def _check_sql() -> str:
    """SQL: does id_norm carry its GB 11643 check character? The 17 digits are taken from two
    integers, id_head (the first 9) and id_tail (the next 8): integer arithmetic costs a third
    less than 17 substrings (the check was the costliest expression of the pass)."""
    digits = " + ".join(
        f"(id_head // {10 ** (8 - i)} % 10) * {w}"
        if i < 9
        else f"(id_tail // {10 ** (16 - i)} % 10) * {w}"
        for i, w in enumerate(WEIGHTS)
    )
    return (
        "(regexp_full_match(id_norm, '[0-9]{17}[0-9X]') AND "
        f"substr('{CHECK_CHARS}', (({digits}) % 11)::INTEGER + 1, 1) = substr(id_norm, 18, 1))"
    )


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


def _reason_text() -> str:
    cases = " ".join(
        f"WHEN '{code}' THEN '{text.replace(chr(39), chr(39) * 2)}'"
        for code, text in DESCRIPTIONS.items()
    )
    return f"CASE reason_code {cases} END"


def _struct(columns: list[str]) -> str:
    return "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
