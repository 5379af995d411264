"""Spreadsheets written byte-for-byte reproducibly, as a city's office would save them.

The .xlsx writer is a small SpreadsheetML writer of its own: openpyxl stamps the current time
into every file, writes formulas without the value Excel caches beside them, and is slow for
the thousands of workbooks a backfill writes. Here a workbook is written many times faster, one
seed gives identical bytes, and a reader sees the 合计 a city's Excel showed.
"""

import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from xml.sax.saxutils import escape

import xlwt
from openpyxl.utils import get_column_letter

EXCEL_EPOCH = date(1899, 12, 30)


@dataclass
class Sheet:
    name: str
    rows: list[list]  # cell values; None is an empty cell; a date is written as a date cell
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2
    hidden: set[int] = field(default_factory=set)  # 1-based rows
    formulas: dict[tuple[int, int], tuple[str, float]] = field(default_factory=dict)


def _cell(ref: str, v, formula: tuple[str, float] | None) -> str:
    if formula is not None:
        f, cached = formula
        return f'<c r="{ref}"><f>{escape(f)}</f><v>{cached:g}</v></c>'
    if v is None:
        return ""
    if isinstance(v, date):  # a real date cell: a serial number with a date format
        return f'<c r="{ref}" s="1"><v>{(v - EXCEL_EPOCH).days}</v></c>'
    if isinstance(v, bool) or not isinstance(v, int | float):
        return (
            f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(v))}</t></is></c>'
        )
    return (
        f'<c r="{ref}"><v>{v:g}</v></c>' if isinstance(v, float) else f'<c r="{ref}"><v>{v}</v></c>'
    )


def _sheet_xml(sh: Sheet) -> str:
    width = max((len(r) for r in sh.rows), default=1)
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
        f'<cols><col min="1" max="{width}" width="14" customWidth="1"/></cols><sheetData>',
    ]
    letters = [get_column_letter(c) for c in range(1, width + 1)]
    for r, row in enumerate(sh.rows, start=1):
        cells = "".join(
            _cell(f"{letters[c - 1]}{r}", v, sh.formulas.get((r, c)))
            for c, v in enumerate(row, start=1)
        )
        hidden = ' hidden="1"' if r in sh.hidden else ""
        out.append(f'<row r="{r}"{hidden}>{cells}</row>')
    out.append("</sheetData>")
    if sh.merges:
        out.append(
            f'<mergeCells count="{len(sh.merges)}">'
            + "".join(
                f'<mergeCell ref="{get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2}"/>'
                for r1, c1, r2, c2 in sh.merges
            )
            + "</mergeCells>"
        )
    out.append("</worksheet>")
    return "".join(out)


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    "{sheets}</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    "</Relationships>"
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="宋体"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    "</cellStyles></styleSheet>"
)


def xlsx_bytes(sheets: list[Sheet], saved: datetime) -> bytes:
    stamp = saved.strftime("%Y-%m-%dT%H:%M:%SZ")
    n = len(sheets)
    parts = {
        "[Content_Types].xml": _CONTENT_TYPES.format(
            sheets="".join(
                f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for i in range(1, n + 1)
            )
        ),
        "_rels/.rels": _ROOT_RELS,
        "docProps/core.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
            'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>计生协</dc:creator>'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
            "</cp:coreProperties>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            "<sheets>"
            + "".join(
                f'<sheet name="{escape(sh.name)}" sheetId="{i}" r:id="rId{i}"/>'
                for i, sh in enumerate(sheets, start=1)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/'
                f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, n + 1)
            )
            + f'<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": _STYLES,
    }
    for i, sh in enumerate(sheets, start=1):
        parts[f"xl/worksheets/sheet{i}.xml"] = _sheet_xml(sh)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            entry = zipfile.ZipInfo(name, date_time=saved.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(entry, body.encode("utf-8"))
    return out.getvalue()


def xls_bytes(sheets: list[Sheet]) -> bytes:
    """Old Excel (.xls). Totals are written as values: xlwt caches no formula result."""
    wb = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for sh in sheets:
        ws = wb.add_sheet(sh.name)
        merged_away = {
            (r, c)
            for r1, c1, r2, c2 in sh.merges
            for r in range(r1, r2 + 1)
            for c in range(c1, c2 + 1)
        } - {(r1, c1) for r1, c1, _, _ in sh.merges}
        for r1, c1, r2, c2 in sh.merges:
            ws.write_merge(r1 - 1, r2 - 1, c1 - 1, c2 - 1, sh.rows[r1 - 1][c1 - 1])
        starts = {(r1, c1) for r1, c1, _, _ in sh.merges}
        for r, row in enumerate(sh.rows, start=1):
            for c, v in enumerate(row, start=1):
                if (r, c) in merged_away or (r, c) in starts:
                    continue
                v = sh.formulas.get((r, c), (None, v))[1]
                if v is None:
                    continue
                if isinstance(v, date):
                    ws.write(r - 1, c - 1, v, date_style)
                else:
                    ws.write(r - 1, c - 1, v)
        for r in sh.hidden:
            ws.row(r - 1).hidden = True
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
