"""The cities' monthly work reports (contract §2), read with python-calamine (.xlsx and .xls).

The city and month come from the merged title (the file name is the fallback; the two
disagreeing reject the file). The header is found wherever it sits, one or two rows, its texts
mapped to fields through the header seed (a 万元 header converts its column); 合计 and footer
are excluded and 合计 is checked against the rows (a mismatch is reported, not fatal). A
corrected report replaces the earlier one for its city and month entirely.

A report holds one sheet of each kind (活动, 培训): the kinds, their sheet names and raw tables
are seeds (report_kinds.csv, report_sheets.csv); how each kind's rows are read is its reader
here (READERS). A kind with no reader stops the load (kinds()) rather than land anywhere.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from fpa import reference, settings
from fpa.clock import CST
from fpa.normalise.dates import DateError, parse_date_range
from fpa.normalise.numbers import NumberError, parse_number
from fpa.normalise.regions import resolve
from fpa.personal import scrub
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.sources.common import Outcome, Rejected
from fpa.sources.spreadsheet import Limits, merged_ranges, open_workbook, sheet_rows
from fpa.state import RowBuffer

TITLE = re.compile(
    r"(?P<city>[^\d\s]+?)(?:计生协|计划生育协会)\s*(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月"
)
FILE = re.compile(
    r"(?P<city>[^\d\s]+?)计生协(?P<y>\d{4})年(?P<m>\d{1,2})月工作月报(?P<rest>.*)"
    r"\.(?:xlsx|xls|xlsm|ods)",
    re.IGNORECASE,
)
REVISION = re.compile(r"修订|更正|修正")
# a total or subtotal row, wherever it stands: 合计, 小计, 金城江区小计, 本月累计, 总计：…
TOTAL = re.compile(r"[^\d]{0,10}?(?:小计|合计|总计|累计|共计|汇总)[:：]?")
FOOTER = ("填报人", "审核人", "制表人", "制表", "负责人", "单位负责人")
# free-text fields: a total word there is part of a name (健康讲座累计…), not a total row
FREE_TEXT = {"name", "remarks", "organiser"}
FILLED = re.compile(r"填报日期[:：]\s*(?P<d>\S+)")
_HEADER_NORMAL = str.maketrans("（）", "()")


def _norm_header(v) -> str:
    return re.sub(r"\s+", "", str(v)).translate(_HEADER_NORMAL) if v not in (None, "") else ""


def _headers() -> dict[str, dict[str, tuple[str, Decimal]]]:
    out: dict[str, dict[str, tuple[str, Decimal]]] = {}
    for h in reference.report_headers():
        out.setdefault(h["kind"], {})[_norm_header(h["header"])] = (
            h["field"],
            Decimal(h["multiplier"]),
        )
    return out


@dataclass
class SheetRows:
    kind: str
    name: str
    rows: list[dict] = field(default_factory=list)  # parsed, loadable
    quarantined: list[tuple[int, Reason, str, dict]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    filled_on: date | None = None


def _period(text: str, pattern: re.Pattern) -> tuple[str, date] | None:
    m = pattern.search(text or "")
    if not m:
        return None
    city = resolve(m["city"])
    if city is None or city.level != "city":
        return None
    return city.code, date(int(m["y"]), int(m["m"]), 1)


def parse(
    out: RowBuffer, landed: Path, file_name: str, sha256: str, received_at, limits: Limits
) -> Outcome:
    """A monthly report's rows, added to `out`; raise Rejected before adding any."""
    wb = open_workbook(landed)
    base = file_name.rsplit("/", 1)[-1]
    by_name = _period(base, FILE)
    known = kinds()
    named = reference.report_sheets()
    sheets = {}
    for name in wb.sheet_names:
        kind = named.get(re.sub(r"\s+", "", name))
        if kind:
            sheets[kind] = (name, sheet_rows(wb, name, limits), merged_ranges(wb, name, landed))
    for kind in known.values():
        if kind.name not in sheets:
            raise Rejected(
                Reason.UNKNOWN_LAYOUT,
                f"{base}: no sheet {' or '.join(kind.sheet_names)} "
                f"(found {', '.join(wb.sheet_names)})",
            )
    titles = {_period(_first_text(rows), TITLE) for _, rows, _ in sheets.values()} - {None}
    if len(titles) > 1 or (titles and by_name and titles != {by_name}):
        raise Rejected(
            Reason.TITLE_FILENAME_MISMATCH,
            f"{base}: title says "
            f"{_show(titles)}, file name says {_show({by_name} if by_name else set())}",
        )
    period = next(iter(titles)) if titles else by_name
    if period is None:
        raise Rejected(
            Reason.UNKNOWN_LAYOUT,
            f"{base}: neither title nor file name names a "
            "city and month (expected e.g. 河池市计生协2023年5月活动情况统计表)",
        )
    city_code, month = period
    this_month = datetime.now(CST).date().replace(day=1)
    first = settings.first_report_month()
    if not first <= month <= this_month:
        raise Rejected(
            Reason.PERIOD_OUT_OF_RANGE,
            f"{base}: the report is for {month.year}年{month.month}月; reports are taken from "
            f"{first.year}年{first.month}月 to this month "
            f"({this_month.year}年{this_month.month}月)",
        )
    parsed = [
        _sheet(kind, name, rows, merges, city_code, month)
        for kind, (name, rows, merges) in sheets.items()
    ]
    filled = max((s.filled_on for s in parsed if s.filled_on), default=None)
    marked = bool(REVISION.search(base))
    mismatches = [m for s in parsed for m in s.mismatches]
    out.add(
        "raw.reports",
        [
            (
                sha256,
                file_name,
                city_code,
                month,
                filled,
                marked,
                received_at,
                False,  # is_current: settle_revisions decides
                "; ".join(mismatches) or None,
            )
        ],
    )
    n = q = 0
    for s in parsed:
        kind = known[s.kind]
        cols = kind.reader.columns
        out.add(
            kind.raw_table,
            [
                [sha256, s.name, r["row_number"], city_code, month] + [r.get(c) for c in cols]
                for r in s.rows
            ],
        )
        out.add(
            "audit.quarantine",
            [
                (
                    "report",
                    file_name,
                    sha256,
                    s.name,
                    row_number,
                    str(reason),
                    scrub(f"{DESCRIPTIONS[reason]}: {detail}"),
                    json.dumps(
                        {k: scrub(v) if isinstance(v, str) else v for k, v in raw.items()},
                        ensure_ascii=False,
                        default=str,
                    ),
                )
                for row_number, reason, detail, raw in s.quarantined
            ],
        )
        n += len(s.rows) + len(s.quarantined)
        q += len(s.quarantined)
    note = f"合计 differs from the rows: {'; '.join(mismatches)}" if mismatches else ""
    return Outcome("loaded", "", note, n, q)


def _show(periods: set) -> str:
    cities = {c.code: c.name for c in reference.cities()}
    return ", ".join(f"{cities[c]} {m.year}年{m.month}月" for c, m in sorted(periods)) or "nothing"


def _first_text(rows: list[list]) -> str:
    for row in rows[:3]:
        for v in row:
            if isinstance(v, str) and v.strip():
                return v
    return ""


def _sheet(
    kind: str, name: str, rows: list[list], merges: list, city_code: str, month: date
) -> SheetRows:
    out = SheetRows(kind, name)
    known = _headers()[kind]
    header_at = None
    for i, row in enumerate(rows[:12]):
        for v in row:
            m = isinstance(v, str) and FILLED.search(v)
            if m:
                try:
                    out.filled_on = parse_date_range(m["d"], month.year)[0]
                except DateError:
                    pass
        if header_at is None and sum(_norm_header(v) in known for v in row) >= 3:
            header_at = i
    if header_at is None:
        raise Rejected(
            Reason.UNKNOWN_LAYOUT,
            f"sheet {name}: no header row (expected headers such as {', '.join(list(known)[:6])})",
        )
    columns = [known.get(_norm_header(v)) for v in rows[header_at]]
    first_data = header_at + 1
    if first_data < len(rows):  # a second header row under merged group cells
        below = [known.get(_norm_header(v)) for v in rows[first_data]]
        if any(below) and not _is_number(rows[first_data][0] if rows[first_data] else None):
            columns = [b or a for a, b in zip(columns, below, strict=False)]
            first_data += 1
    fields = {f: (i, mult) for i, c in enumerate(columns) if c for f, mult in [c]}
    reader = kinds()[kind].reader
    missing = [f for f in reader.required if f not in fields]
    if missing:
        raise Rejected(
            Reason.UNKNOWN_LAYOUT,
            f"sheet {name}: no column for "
            f"{', '.join(missing)} (headers found: "
            f"{', '.join(str(v) for v in rows[header_at] if v not in (None, ''))})",
        )
    # each column's header as the reader sees it: the lower row's text under a merged group
    header_rows = [rows[i] for i in range(first_data - 1, header_at - 1, -1)]  # lowest first
    header = [
        next((r[c] for r in header_rows if c < len(r) and r[c] not in (None, "")), None)
        for c in range(len(columns))
    ]
    names = [c[0] if c else None for c in columns]  # the field of each column
    merged = _unmerge(kind, rows, merges, first_data, names, header)
    # every row between the header and the footer is data, a total or a subtotal; the last
    # total after the last data row is the sheet's 合计, any other one is set aside
    data, totals = [], []
    for i in range(first_data, len(rows)):
        row = rows[i]
        first = next((str(v).strip() for v in row if v not in (None, "")), "")
        if first.startswith(FOOTER):
            break
        if _is_total(row, names):
            totals.append(i)
        elif first:
            data.append(i)
    totals_at = totals[-1] if totals and (not data or totals[-1] > data[-1]) else None
    sums: dict[str, Decimal] = {f: Decimal(0) for f in reader.numbers if f in fields}
    allowed = reference.report_values()
    for i in sorted(data + [t for t in totals if t != totals_at]):
        raw = {
            str(header[c] or c + 1): _plain(rows[i][c])
            for c in range(len(rows[i]))
            if c < len(header) and rows[i][c] not in (None, "")
        }
        if i in totals:
            text = next(
                str(v).strip()
                for v in rows[i]
                if isinstance(v, str) and TOTAL.fullmatch(re.sub(r"\s+", "", v))
            )
            out.quarantined.append((i + 1, Reason.SUBTOTAL_ROW, f"row {i + 1} ({text})", raw))
            continue
        if i in merged:
            out.quarantined.append((i + 1, Reason.MERGED_CELLS, merged[i], raw))
            continue
        try:
            values = _values(kind, rows[i], fields, month)
        except (NumberError, DateError) as e:
            out.quarantined.append((i + 1, Reason.UNREADABLE_VALUE, str(e), raw))
            continue
        outside = [
            (f, values[f])
            for (k, f), valid in allowed.items()
            if k == kind and values.get(f) is not None and values[f] not in valid
        ]
        if outside:
            f, v = outside[0]
            out.quarantined.append(
                (
                    i + 1,
                    Reason.UNKNOWN_VALUE,
                    f"{_label(header, fields, f)} {v!r} is not one of "
                    f"{'、'.join(sorted(allowed[(kind, f)]))}",
                    raw,
                )
            )
            continue
        for f in sums:
            sums[f] += values.get(f"_{f}_raw") or 0
        county = values.pop("_county")
        if county:
            region = resolve(county)
            if region is None:
                out.quarantined.append((i + 1, Reason.UNKNOWN_REGION, county, raw))
                continue
            if region.city_code != city_code:
                out.quarantined.append((i + 1, Reason.COUNTY_OF_OTHER_CITY, county, raw))
                continue
            values["county_code"] = region.code if region.level == "county" else None
        values["row_number"] = i + 1
        out.rows.append({k: v for k, v in values.items() if not k.startswith("_")})
    if totals_at is not None:
        for f, s in sums.items():
            t = rows[totals_at][fields[f][0]] if fields[f][0] < len(rows[totals_at]) else None
            try:
                total = parse_number(t).value
            except NumberError:
                total = None
            if total is not None and abs(total - s) > Decimal("0.005"):
                out.mismatches.append(
                    f"{name} {f}: 合计 {total.normalize():f} vs rows {s.normalize():f}"
                )
    return out


def _plain(v):
    """A cell as a person reads it: 240, not the 240.0 some formats store."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _is_total(row: list, columns: list[str | None]) -> bool:
    """A 合计/小计/累计… cell outside the free-text columns (an activity may be named 累计…)."""
    return any(
        isinstance(v, str)
        and (c >= len(columns) or columns[c] not in FREE_TEXT)
        and TOTAL.fullmatch(re.sub(r"\s+", "", v))
        for c, v in enumerate(row)
    )


def _label(header: list, fields: dict, f: str) -> str:
    v = header[fields[f][0]] if fields[f][0] < len(header) else None
    return str(v).strip() if v not in (None, "") else f


def _unmerge(
    kind: str,
    rows: list[list],
    merges: list,
    first_data: int,
    columns: list[str | None],
    header: list,
) -> dict[int, str]:
    """Merged cells among the data rows, by the rule of docs/architecture.md: a text cell (县区,
    乡镇, 日期, 活动类型…) merged over several rows holds for each of them, as the sheet shows it
    to its reader, so its value is written into every row of the range; a number merged over
    several rows (参与人数, 经费…) cannot be split between them, and a merge across two fields
    leaves it unknown which field the value is: those rows are returned, row → why, to be
    quarantined."""
    bad: dict[int, str] = {}
    for r1, c1, r2, c2 in merges:
        if r1 < first_data or r1 >= len(rows):
            continue  # the title and the header's own merges
        covered = {columns[c] for c in range(c1, min(c2, len(columns) - 1) + 1)} - {None}
        last = min(r2, len(rows) - 1)
        where = f"{_cell_name(r1, c1)}:{_cell_name(r2, c2)}"
        if len(covered) > 1:
            names = "、".join(str(header[c]) for c in range(c1, c2 + 1) if columns[c] in covered)
            for r in range(r1, last + 1):
                bad[r] = f"cells {where} merged across {names}"
            continue
        if not covered or r2 == r1:
            continue
        f = covered.pop()
        col = columns.index(f)
        if f in kinds()[kind].reader.numbers:
            for r in range(r1, last + 1):
                bad[r] = f"{_label(header, {f: (col, 1)}, f)} merged over rows {r1 + 1}–{r2 + 1}"
            continue
        value = rows[r1][c1]
        for r in range(r1, last + 1):
            if col < len(rows[r]) and rows[r][col] in (None, ""):
                rows[r][col] = value
    return bad


def _cell_name(r: int, c: int) -> str:
    letters = ""
    c += 1
    while c:
        c, x = divmod(c - 1, 26)
        letters = chr(65 + x) + letters
    return f"{letters}{r + 1}"


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _cell(row: list, fields: dict, f: str):
    at = fields.get(f)
    return row[at[0]] if at and at[0] < len(row) else None


def _text(row, fields, f) -> str | None:
    v = _cell(row, fields, f)
    return None if v in (None, "") else str(v).strip()


def _values(kind: str, row: list, fields: dict, month: date) -> dict:
    reader = kinds()[kind].reader
    out: dict = {"_county": _text(row, fields, "county")}
    for f in reader.numbers:
        p = parse_number(_cell(row, fields, f))
        mult = fields[f][1] if f in fields else Decimal(1)
        out[f"_{f}_raw"] = p.value
        value = None if p.value is None else p.value * mult
        if f in ("participants", "trainees"):
            out[f"{f}_approx"] = p.approximate
        if f == "funds":
            out[f] = None if value is None else value.quantize(Decimal("0.01"))
        elif f == "hours":
            out[f] = value
        else:
            out[f] = None if value is None else int(value)
    out.update(reader.dates(row, fields, month))
    for f in reader.texts:
        out[f] = _text(row, fields, f)
    return out


def _activity_dates(row: list, fields: dict, month: date) -> dict:
    """活动日期: one cell, a day or a range (5月28日—29日)."""
    span = parse_date_range(_cell(row, fields, "date"), month.year)
    starts_on, ends_on = span or (None, None)
    return {"starts_on": starts_on, "ends_on": ends_on}


def _training_dates(row: list, fields: dict, month: date) -> dict:
    """开始日期 (required) and 结束日期 (the start's day when empty)."""
    start = parse_date_range(_cell(row, fields, "start_date"), month.year)
    end = parse_date_range(_cell(row, fields, "end_date"), month.year)
    if start is None:
        raise DateError("no 开始日期")
    return {"starts_on": start[0], "ends_on": end[1] if end else start[1]}


@dataclass(frozen=True)
class KindReader:
    """What this parser reads of a sheet kind: the fields a sheet must have, the number fields,
    the text fields, how a row's dates are read, and the raw table's columns after
    (file_sha256, sheet, row_number, city_code, month), in its order."""

    required: tuple[str, ...]
    numbers: tuple[str, ...]
    texts: tuple[str, ...]
    dates: Callable[[list, dict, date], dict]
    columns: tuple[str, ...]


READERS = {
    "activities": KindReader(
        required=("activity_type", "project", "participants"),
        numbers=("participants", "service_visits", "materials", "funds"),
        texts=("township", "name", "activity_type", "project", "organiser", "remarks"),
        dates=_activity_dates,
        columns=(
            "county_code",
            "township",
            "starts_on",
            "ends_on",
            "name",
            "activity_type",
            "project",
            "organiser",
            "participants",
            "participants_approx",
            "service_visits",
            "materials",
            "funds",
            "remarks",
        ),
    ),
    "trainings": KindReader(
        required=("start_date", "trainees"),
        numbers=("trainees", "hours"),
        texts=("name", "organiser", "audience", "mode", "remarks"),
        dates=_training_dates,
        columns=(
            "county_code",
            "name",
            "organiser",
            "starts_on",
            "ends_on",
            "audience",
            "trainees",
            "trainees_approx",
            "mode",
            "hours",
            "remarks",
        ),
    ),
}


@dataclass(frozen=True)
class Kind:
    name: str
    raw_table: str  # report_kinds.csv
    sheet_names: tuple[str, ...]  # report_sheets.csv, the contract's name first
    reader: KindReader


@cache
def kinds() -> dict[str, Kind]:
    """The sheet kinds of a report: the seeds' (report_kinds.csv, report_sheets.csv), each with
    its reader here. A kind the seeds name and this parser does not read (or the other way
    round) is an error, raised before any workbook is read: its rows must never land in another
    kind's table."""
    tables = reference.report_kinds()
    names: dict[str, list[str]] = {}
    for sheet_name, kind in reference.report_sheets().items():
        names.setdefault(kind, []).append(sheet_name)
    unread = [k for k in {**tables, **names} if k not in READERS]
    if unread:
        raise ValueError(
            f"sheet kind(s) {', '.join(unread)} of dbt/seeds/report_kinds.csv or "
            "report_sheets.csv have no reader in fpa.sources.reports (READERS)"
        )
    for kind in READERS:
        if kind not in tables or kind not in names:
            seed = "report_kinds.csv (its raw table)" if kind not in tables else "report_sheets.csv"
            raise ValueError(f"the sheet kind {kind} has no row in dbt/seeds/{seed}")
    return {k: Kind(k, tables[k], tuple(names[k]), READERS[k]) for k in tables}


def settle_revisions(con, shas: list[str]) -> None:
    """For every city and month of the reports `shas`: of its accepted reports the newest
    counts (the marked one, else the later 填报日期, else the later arrival); the others become
    `superseded`. Set-based, once for a group of workbooks: the outcome depends only on the
    reports accepted so far, not on the order they were settled in."""
    if not shas:
        return
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE settled AS
        WITH touched AS (
            SELECT DISTINCT city_code, month FROM raw.reports
            WHERE file_sha256 IN (SELECT unnest(?))),
        reports AS (
            SELECT r.file_sha256, r.file_name, r.city_code, r.month, r.marked_revision,
                   r.filled_on, r.received_at,
                   r.file_sha256 IN (SELECT file_sha256 FROM audit.load_audit
                                     WHERE status IN ('loaded', 'superseded')) AS accepted
            FROM raw.reports r JOIN touched USING (city_code, month))
        SELECT file_sha256, accepted,
               accepted AND row_number() OVER w = 1 AS is_current,
               first_value(file_name) OVER w AS current_name
        FROM reports
        WINDOW w AS (PARTITION BY city_code, month ORDER BY accepted DESC,
                     marked_revision DESC, filled_on DESC NULLS LAST, received_at DESC,
                     file_name)
        """,
        [shas],
    )
    con.execute(
        "UPDATE raw.reports r SET is_current = s.is_current FROM settled s "
        "WHERE r.file_sha256 = s.file_sha256"
    )
    con.execute(
        "UPDATE audit.load_audit a SET status = 'loaded', reason_code = NULL, reason = NULL "
        "FROM settled s WHERE a.file_sha256 = s.file_sha256 AND s.is_current "
        "AND a.status = 'superseded'"
    )
    con.execute(
        "UPDATE audit.load_audit a SET status = 'superseded', reason_code = ?, "
        "reason = ? || ': ' || s.current_name FROM settled s "
        "WHERE a.file_sha256 = s.file_sha256 AND s.accepted AND NOT s.is_current "
        "AND a.status IN ('loaded', 'superseded')",
        [str(Reason.SUPERSEDED), DESCRIPTIONS[Reason.SUPERSEDED]],
    )
    con.execute("DROP TABLE settled")
