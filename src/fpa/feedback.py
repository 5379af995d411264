"""数据问题清单: what each data provider (a city's association, the insurer) must fix, as a
workbook its staff can open — read from the published warehouse (marts.data_issues and
marts.reporting_rates), never from the state, so a workbook says what the dashboards say.

One workbook per provider with open issues (WAREHOUSE.md `fpa feedback`): a 概况 sheet (this
year's reporting and on-time rates for a city, the open issues by kind) and a 问题清单 sheet,
one row per open issue of marts.data_issues, in its order, with the row as delivered (masked
by the parser; every text passed through personal.scrub once more, the last defence), the
reason and what to do. A provider without open issues gets no workbook.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from fpa import reference
from fpa.clock import CST
from fpa.paths import private_dir, private_file
from fpa.personal import scrub

INSURER = "insurer"
# the insurer's workbook: 中国人寿_数据问题清单_<YYYYMMDD>.xlsx (WAREHOUSE.md); its name on the
# dashboards too
INSURER_NAME = reference.labels("provider")[INSURER]
KINDS = reference.labels("issue_kind")  # in the order a provider acts on them
COLUMNS = (  # (header, width): the 问题清单 sheet
    ("问题编号", 34),
    ("问题类型", 12),
    ("月份/日期", 12),  # a city's report month; the day of an insurer's extract
    ("文件", 34),
    ("工作表", 14),
    ("行号", 6),
    ("列", 10),
    ("原始数据（个人信息已遮盖）", 48),
    ("问题说明", 60),
    ("处理办法", 48),
    ("发现时间", 17),
)


class UnknownProvider(ValueError):
    pass


@dataclass
class Issue:
    issue_id: str
    kind: str
    month: date | None
    file_name: str | None
    sheet: str | None
    row_number: int | None
    field: str | None
    raw_row: str | None
    reason: str
    action: str
    detected_at: datetime


@dataclass
class Feedback:
    provider: str
    name: str  # 河池市, or the insurer's name
    issues: list[Issue] = field(default_factory=list)
    rates: dict | None = None  # a city's reporting this year
    path: Path | None = None

    @property
    def issue_ids(self) -> list[str]:
        return sorted(i.issue_id for i in self.issues)

    def by_kind(self) -> Counter[str]:
        return Counter(i.kind for i in self.issues)


def providers() -> dict[str, str]:
    """provider code -> its name, the insurer first."""
    return {INSURER: INSURER_NAME, **{c.code: c.name for c in reference.cities()}}


def file_name(f: Feedback, on: date) -> str:
    sep = "_" if f.provider == INSURER else ""
    return f"{f.name}{sep}数据问题清单_{on:%Y%m%d}.xlsx"


def collect(con: duckdb.DuckDBPyConnection, on: date, only: str | None = None) -> list[Feedback]:
    """Every provider's open issues (or only one's), with a city's reporting in on's year."""
    names = providers()
    if only is not None and only not in names:
        raise UnknownProvider(
            f"{only!r} is neither a city code of Guangxi (450100 … 451400) nor {INSURER!r}"
        )
    rows = con.execute(
        "SELECT provider, issue_id, kind, month, file_name, sheet, row_number, field, "
        "CAST(raw_row AS VARCHAR), reason, action, detected_at FROM marts.data_issues "
        "WHERE status = 'open' AND (? IS NULL OR provider = ?) "
        # what to act on first (KINDS' order: files, rows, reports); the newest month first
        "ORDER BY provider, list_position(?, kind), month DESC NULLS LAST, file_name, sheet, "
        "row_number, issue_id",
        [only, only, list(KINDS)],
    ).fetchall()
    out: dict[str, Feedback] = {}
    for provider, *values in rows:
        f = out.setdefault(provider, Feedback(provider, names.get(provider, provider)))
        f.issues.append(Issue(*values))
    for f in out.values():
        if f.provider != INSURER:
            f.rates = reporting(con, f.provider, on.year)
    return list(out.values())


def reporting(con: duckdb.DuckDBPyConnection, city_code: str, year: int) -> dict:
    """A city's reports expected, received and on time among the months of `year` that are due
    (KPIS.md "Reporting": the rates of the sums, not a mean of monthly rates)."""
    expected, received, on_time = con.execute(
        "SELECT coalesce(sum(expected_reports), 0), coalesce(sum(reports_received), 0), "
        "coalesce(sum(reports_on_time), 0) FROM marts.reporting_rates "
        "WHERE city_code = ? AND year(month) = ?",
        [city_code, year],
    ).fetchone()
    return {
        "year": year,
        "expected": int(expected),
        "received": int(received),
        "on_time": int(on_time),
        "rate": received / expected if expected else None,
        "rate_on_time": on_time / expected if expected else None,
    }


def write(warehouse: Path, out: Path, only: str | None = None, on: date | None = None):
    """The workbooks of every provider with open issues (or of `only`), into `out`."""
    on = on or datetime.now(CST).date()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = collect(con, on, only)
    private_dir(out)
    for f in found:
        f.path = out / file_name(f, on)
        _workbook(f, on).save(f.path)
        private_file(f.path)
    return found


def _text(v) -> str | None:
    return None if v is None else scrub(str(v))


def _when(month: date | None, provider: str) -> str | None:
    if month is None:
        return None
    day = f"{month.day}日" if provider == INSURER else ""
    return f"{month.year}年{month.month}月{day}"


def _delivered(raw_row: str | None) -> str | None:
    """The row as delivered, one `header：value` a line, in the sheet's order."""
    if not raw_row:
        return None
    cells = json.loads(raw_row)
    return "\n".join(f"{k}：{'' if v is None else v}" for k, v in cells.items())


def _workbook(f: Feedback, on: date):
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    bold, title = Font(bold=True), Font(bold=True, size=14)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    wb = Workbook()
    summary = wb.active
    summary.title = "概况"
    who = f"{f.name}计生协" if f.provider != INSURER else f.name
    summary.append([f"{who}数据问题清单（截至{on.year}年{on.month}月{on.day}日）"])
    summary["A1"].font = title
    summary.append([])
    if f.rates is not None:
        r = f.rates
        summary.append([f"{r['year']}年月报报送情况"])
        summary.cell(summary.max_row, 1).font = bold
        for label, value in (
            ("应报数", r["expected"]),
            ("实报数", r["received"]),
            ("按时报送数", r["on_time"]),
            ("报送率", r["rate"]),
            ("及时率", r["rate_on_time"]),
        ):
            summary.append([label, "—" if value is None else value])
            if isinstance(value, float):
                summary.cell(summary.max_row, 2).number_format = "0.0%"
        summary.append([])
    summary.append(["未解决的问题", "个数"])
    for c in (1, 2):
        summary.cell(summary.max_row, c).font = bold
    counts = f.by_kind()
    for kind, label in KINDS.items():
        if counts.get(kind):
            summary.append([label, counts[kind]])
    summary.append(["合计", len(f.issues)])
    summary.append([])
    summary.append(["请按“问题清单”表中的处理办法更正后重新报送"])
    summary.append(["（更正的月报文件名注明“更正”），问题解决后将自动从清单中移除。"])
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 12

    sheet = wb.create_sheet("问题清单")
    sheet.append([h for h, _ in COLUMNS])
    for i, (_, width) in enumerate(COLUMNS, start=1):
        cell = sheet.cell(1, i)
        cell.font, cell.fill = bold, head_fill
        sheet.column_dimensions[cell.column_letter].width = width
    for i in f.issues:
        sheet.append(
            [
                i.issue_id,
                KINDS.get(i.kind, i.kind),
                _when(i.month, f.provider),
                _text(i.file_name),
                _text(i.sheet),
                i.row_number,
                _text(i.field),
                _text(_delivered(i.raw_row)),
                _text(i.reason),
                _text(i.action),
                i.detected_at.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
            ]
        )
        lines = 1
        for cell, (_, width) in zip(sheet[sheet.max_row], COLUMNS, strict=True):
            cell.alignment = wrap
            text = "" if cell.value is None else str(cell.value)
            # an office suite does not grow a row for wrapped text it did not lay out itself;
            # a CJK character is about two widths of a Latin one
            lines = max(
                lines,
                sum(1 + len(p.encode("gbk", "replace")) // width for p in text.split("\n")),
            )
        sheet.row_dimensions[sheet.max_row].height = 15 * lines
    for cell in sheet["A"]:
        cell.alignment = Alignment(vertical="top")
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    # printed: landscape, every column on one page's width
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"
    return wb
