"""The statistics bureau's yearly resident population (contract §4): 市 · 县（市、区） ·
常住人口（人） or 常住人口（万人）, one row per county, optional 合计 rows per city and for the
province.

The year comes from the file name `常住人口_<YYYY>` and any title above the header; the two
disagreeing reject the file. The header is found wherever it sits and mapped through the header
seed (kind `population`: the reports' county synonyms, and the population column's unit, whose
multiplier turns 万人 into persons, rounded to whole persons). A 市 cell merged over its counties
holds for each of them.

What is wrong with one county's row is that row's problem, as in the reports: a region no seed
knows, a county of another city than its 市, a figure that is missing, unreadable or no number
of persons — the row is quarantined and the rest loads (the county then has no population that
year, as if the yearbook had left it out). What makes the whole table doubtful rejects the file:
no header, a population column without a unit, the year, a county given twice (which figure is
the yearbook's?), and a 合计 that differs from the sum of its counties — the table does not add
up, so no figure of it is taken on trust. 合计 rows are checked, never loaded; a city's own row
above its counties (南宁市 with no 县) is its 合计, and 全区 the province's.
"""

import json
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from fpa import reference
from fpa.clock import CST
from fpa.normalise.numbers import NumberError, parse_number
from fpa.normalise.regions import clean, resolve
from fpa.personal import scrub
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.sources.common import Outcome, Rejected
from fpa.sources.reports import _norm_header, _plain
from fpa.sources.spreadsheet import Limits, merged_ranges, open_workbook, sheet_rows
from fpa.state import RowBuffer

YEAR_IN_NAME = re.compile(r"常住人口_(?P<y>\d{4})")
# a yearbook's title may name its own edition too (2023年统计年鉴): the year-end is the figures'
YEAR_END_IN_TITLE = re.compile(r"(?P<y>\d{4})\s*年末")
YEAR_IN_TITLE = re.compile(r"(?P<y>\d{4})\s*年(?!鉴)")
FIRST_YEAR = 2010  # the warehouse's insurance starts in 2017; older yearbooks are harmless
TOTAL_WORD = re.compile(r"小计|合计|总计|累计|共计|汇总")
PROVINCE = {"全区", "全省", "全自治区", "自治区", "广西", "广西壮族自治区", "全广西"}
FOOTER = ("注", "资料来源", "数据来源", "说明", "填报人", "制表", "审核")
POPULATION_HEADER = re.compile(r"^(年末)?常住人口")
# a bare 常住人口 header takes its unit from a line above the table (单位：万人), as yearbooks write
UNIT_LINE = re.compile(r"单位[:：]\s*(?P<unit>万人|人)")
UNITS = {"人": Decimal(1), "万人": Decimal(10000)}
HEADER_ROWS = 15  # the header is looked for in the first rows only


def parse(
    out: RowBuffer, landed: Path, file_name: str, sha256: str, received_at, limits: Limits
) -> Outcome:
    """A population workbook's rows, added to `out`; raise Rejected before adding any."""
    wb = open_workbook(landed)
    base = file_name.rsplit("/", 1)[-1]
    known = _headers()
    found = []
    for name in wb.sheet_names:
        rows = sheet_rows(wb, name, limits)
        at = _header_row(rows, known)
        if at is not None:
            found.append((name, rows, at))
    if not found:
        raise Rejected(
            Reason.UNKNOWN_LAYOUT,
            f"{base}: no header row 市 · 县（市、区） · 常住人口（人） or 常住人口（万人） "
            f"(sheets: {', '.join(wb.sheet_names)})",
        )
    if len(found) > 1:
        raise Rejected(
            Reason.UNKNOWN_LAYOUT,
            f"{base}: sheets {', '.join(f[0] for f in found)} each hold a population table; "
            "one is expected",
        )
    sheet, rows, header_at = found[0]
    above = " ".join(
        str(v).strip() for r in rows[:header_at] for v in r if isinstance(v, str) and v.strip()
    )
    year = _year(base, above)
    fields = _fields(base, rows[header_at], known, above)
    header = {c: str(rows[header_at][c]).strip() for _, (c, _) in fields.items()}
    city_col = fields["city"][0] if "city" in fields else None
    county_col = fields["county"][0]
    value_col, multiplier = fields["residents"]
    merges = merged_ranges(wb, sheet, landed)
    _fill_merged_cities(rows, merges, header_at + 1, city_col)
    merged_values = _merged_value_rows(merges, header_at + 1, value_col, len(rows))

    loaded: list[tuple] = []
    quarantined: list[tuple[int, Reason, str, dict]] = []
    totals: list[tuple[int, str | None, Decimal, str]] = []  # row, city (None: province), …
    # the rows as delivered under each city (None: the province), in the file's unit
    sums: dict[str | None, Decimal] = {}
    summed: dict[str | None, int] = {}
    unreadable: set[str | None] = set()  # a figure under its 合计 is missing or unreadable
    places = 0  # decimals of the figures, for the rounding a 合计 may carry
    rows_seen = 0
    counties: dict[str, int] = {}  # county code → row number: each county once
    group: str | None = None  # the city of the county rows just read
    label = header[value_col]
    for i in range(header_at + 1, len(rows)):
        row = rows[i]
        first = next((str(v).strip() for v in row if v not in (None, "")), "")
        if not first:
            continue
        if first.startswith(FOOTER):
            break
        city_text, county_text = _text(row, city_col), _text(row, county_col)
        cell = row[value_col] if value_col < len(row) else None
        if not city_text and not county_text and cell in (None, ""):
            continue  # a 序号 alone: nothing to load or to lose
        if [_norm_header(v) for v in row] == [_norm_header(v) for v in rows[header_at]]:
            continue  # the header again, as a yearbook repeats it on each page
        raw = {
            header.get(c, str(c + 1)): _plain(v) for c, v in enumerate(row) if v not in (None, "")
        }
        try:
            figure, garbled = parse_number(cell).value, False
            problem = "" if figure is not None else f"no {label} figure"
        except NumberError:
            figure, garbled, problem = None, True, f"{label} {cell!r} is not a number"
        if figure is not None:
            places = max(places, -min(figure.normalize().as_tuple().exponent, 0))
        scope = _total_scope(city_text, county_text)
        if scope == ("province", None) and group and not city_text and "小计" in county_text:
            scope = ("city", group)  # a 小计 under a 市 written once closes that city's rows
        if scope is not None:
            if figure is not None:
                names = " ".join(t for t in (city_text, county_text) if t)
                totals.append((i + 1, scope[1], figure, names))
            elif garbled:
                quarantined.append((i + 1, Reason.UNREADABLE_VALUE, problem, raw))
            continue  # a heading row (南宁市 with no figure) holds nothing to load
        rows_seen += 1
        listed = resolve(city_text) if city_text else None
        region = resolve(county_text) if county_text else None
        # the 合计 this row is summed in: its 市 cell's city, else its county's
        under = (
            listed.code
            if listed and listed.level == "city"
            else (region.city_code if region and not city_text else None)
        )
        group = under or group
        if i in merged_values or figure is None:
            reason = Reason.MERGED_CELLS if i in merged_values else Reason.UNREADABLE_VALUE
            quarantined.append((i + 1, reason, merged_values.get(i, problem), raw))
            unreadable.update({under, None})
            continue
        for key in {under, None}:
            sums[key] = sums.get(key, Decimal(0)) + figure
            summed[key] = summed.get(key, 0) + 1
        persons = (figure * multiplier).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        why = _county_problem(city_text, county_text, listed, region)
        if why is None and (persons <= 0 or (multiplier == 1 and persons != figure)):
            why = (
                Reason.UNREADABLE_VALUE,
                f"{label} {_plain(cell)!r} is no number of persons"
                + (" (万人 under a 人 header?)" if persons > 0 else ""),
            )
        if why is not None:
            quarantined.append((i + 1, *why, raw))
            continue
        if region.code in counties:
            raise Rejected(
                Reason.UNKNOWN_LAYOUT,
                f"{base}: {county_text} is given twice (rows {counties[region.code]} and "
                f"{i + 1}); which figure is the yearbook's is not known",
            )
        counties[region.code] = i + 1
        loaded.append((sha256, year, region.city_code, region.code, int(persons), received_at))
    if rows_seen == 0:
        raise Rejected(Reason.UNKNOWN_LAYOUT, f"{base}: no county rows under the header")
    mismatches = _check_totals(totals, sums, summed, unreadable, places)
    if mismatches:
        raise Rejected(
            Reason.TOTAL_MISMATCH,
            f"{base}: " + "; ".join(mismatches) + f" ({label})",
        )
    out.add("raw.population", loaded)
    out.add(
        "audit.quarantine",
        [
            (
                "population",
                file_name,
                sha256,
                sheet,
                row_number,
                str(reason),
                scrub(f"{DESCRIPTIONS[reason]}: {detail}"),
                json.dumps(
                    {k: scrub(v) if isinstance(v, str) else v for k, v in raw.items()},
                    ensure_ascii=False,
                    default=str,
                ),
            )
            for row_number, reason, detail, raw in quarantined
        ],
    )
    unchecked = [_where(c) for c in sorted(unreadable, key=str) if _has_total(totals, c)]
    note = f"合计 of {', '.join(unchecked)} not checked: a figure under it is unreadable"
    return Outcome(
        "loaded", "", note if unchecked else "", len(loaded) + len(quarantined), len(quarantined)
    )


def _county_problem(city_text: str, county_text: str, listed, region) -> tuple | None:
    """Why a county's row cannot be loaded (reason, detail), or None."""
    if TOTAL_WORD.search(county_text):  # 金城江区小计: a county's subtotal, not its figure
        return Reason.SUBTOTAL_ROW, county_text
    if region is None or region.level != "county":
        return Reason.UNKNOWN_REGION, county_text or "no 县（市、区）"
    if city_text and (listed is None or listed.level != "city"):
        return Reason.UNKNOWN_REGION, city_text
    if city_text and listed.code != region.city_code:
        return Reason.COUNTY_OF_OTHER_CITY, f"{county_text} is not of {city_text}"
    return None


def _headers() -> dict[str, tuple[str, Decimal]]:
    return {
        _norm_header(h["header"]): (h["field"], Decimal(h["multiplier"]))
        for h in reference.report_headers()
        if h["kind"] == "population"
    }


def _header_row(rows: list[list], known: dict) -> int | None:
    """The first row naming a county column and a 常住人口 column (of a known unit or not)."""
    for i, row in enumerate(rows[:HEADER_ROWS]):
        names = [_norm_header(v) for v in row]
        if any(known.get(n, ("",))[0] == "county" for n in names) and any(
            POPULATION_HEADER.match(n) for n in names
        ):
            return i
    return None


def _fields(base: str, header: list, known: dict, above: str) -> dict[str, tuple[int, Decimal]]:
    fields: dict[str, tuple[int, Decimal]] = {}
    unit = UNIT_LINE.search(above)
    for c, v in enumerate(header):
        name = _norm_header(v)
        if name in known:
            fields.setdefault(known[name][0], (c, known[name][1]))
        elif name in ("常住人口", "年末常住人口") and unit:
            fields.setdefault("residents", (c, UNITS[unit["unit"]]))
        elif POPULATION_HEADER.match(name):
            raise Rejected(
                Reason.UNKNOWN_LAYOUT,
                f"{base}: the column {str(v).strip()!r} names no unit this warehouse knows "
                "(常住人口（人） or 常住人口（万人）, or 单位：人/万人 above the table)",
            )
    return fields


def _year(base: str, title: str) -> int:
    name = YEAR_IN_NAME.search(base)
    in_title = YEAR_END_IN_TITLE.search(title) or YEAR_IN_TITLE.search(title)
    years = {int(m["y"]) for m in (name, in_title) if m}
    if len(years) != 1:
        reason = Reason.TITLE_FILENAME_MISMATCH if len(years) > 1 else Reason.UNKNOWN_LAYOUT
        raise Rejected(
            reason,
            f"{base}: title {title!r} and file name give years "
            f"{', '.join(map(str, sorted(years))) or 'none'} (expected 常住人口_<YYYY>)",
        )
    year = years.pop()
    this_year = datetime.now(CST).year
    if not FIRST_YEAR <= year <= this_year:
        raise Rejected(
            Reason.PERIOD_OUT_OF_RANGE,
            f"{base}: population of {year}; it is taken for {FIRST_YEAR} to {this_year}",
        )
    return year


def _text(row: list, col: int | None) -> str:
    if col is None or col >= len(row) or row[col] in (None, ""):
        return ""
    return clean(str(row[col]))


def _total_scope(city_text: str, county_text: str) -> tuple[str, str | None] | None:
    """("province", None) or ("city", code) for a 合计 row (南宁市 · 合计, 全区合计, a city's own
    row without a county), None for a county's row."""
    city = TOTAL_WORD.sub("", city_text)
    county = TOTAL_WORD.sub("", county_text)
    worded = bool(TOTAL_WORD.search(city_text + county_text))
    if county:
        named = resolve(county)
        if named is not None and named.level == "county":
            return None  # a county (a 小计 of one county is no 合计: it is not loaded)
        if county in PROVINCE:
            return ("province", None)
        if named is not None and (not city or resolve(city) == named):
            return ("city", named.code)
        return None
    if city in PROVINCE or (not city and worded):
        return ("province", None)
    named = resolve(city)
    if named is not None and named.level == "city":
        return ("city", named.code)
    return None


def _fill_merged_cities(rows: list[list], merges: list, first_data: int, col: int | None) -> None:
    """A 市 cell merged over its counties holds for each of them, as the sheet shows it."""
    if col is None:
        return
    for r1, c1, r2, c2 in merges:
        if r1 < first_data or not c1 <= col <= c2 or r1 >= len(rows):
            continue
        value = rows[r1][col] if col < len(rows[r1]) else None
        for r in range(r1 + 1, min(r2, len(rows) - 1) + 1):
            if col < len(rows[r]) and rows[r][col] in (None, ""):
                rows[r][col] = value


def _merged_value_rows(merges: list, first_data: int, col: int, n: int) -> dict[int, str]:
    """Rows whose population cell is merged with another row's: a figure cannot be split."""
    out = {}
    for r1, c1, r2, c2 in merges:
        if r1 >= first_data and c1 <= col <= c2 and r2 > r1:
            for r in range(r1, min(r2, n - 1) + 1):
                out[r] = f"the population cell is merged over rows {r1 + 1}–{r2 + 1}"
    return out


def _where(city: str | None) -> str:
    if city is None:
        return "全区"
    return next(c.name for c in reference.cities() if c.code == city)


def _has_total(totals: list, city: str | None) -> bool:
    return any(t[1] == city for t in totals)


def _check_totals(
    totals: list, sums: dict, summed: dict, unreadable: set, places: int
) -> list[str]:
    """Each 合计 against the sum of the rows listed under it, in the file's unit. A yearbook
    rounds each figure and each total on its own, so they may part by half a unit of the last
    decimal for each figure summed (and the total's own): no more."""
    out = []
    step = Decimal(1).scaleb(-places)
    for row_number, city, total, label in totals:
        if city in unreadable:
            continue
        s = sums.get(city, Decimal(0))
        if abs(total - s) > step * (summed.get(city, 0) + 1) / 2:
            out.append(
                f"row {row_number} {label} ({_where(city)}) is {_show(total)}, "
                f"its counties sum to {_show(s)}"
            )
    return out


def _show(d: Decimal) -> str:
    return f"{d.normalize():,f}"
