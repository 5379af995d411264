"""The bulletin's document (model.py) as Markdown and as a Word file.

The Word file is what the newsletter's editor opens in WPS or Word and pastes from: real
headings (the navigation pane lists them), paragraphs and tables, Chinese fonts named the way a
Chinese Word names them (宋体 for the text, 黑体 for the title and headings, as w:eastAsia, with
Times New Roman for Latin letters and digits). The PDF is this file through LibreOffice (pdf.py),
which finds a Debian font for each of those names.
"""

from pathlib import Path

from fpa.bulletin.model import Document, Heading, Paragraph, Table

BODY_FONT = "宋体"  # SimSun on an English Windows; the same font
HEADING_FONT = "黑体"  # SimHei
LATIN_FONT = "Times New Roman"
# fontTable.xml's altName: the English names a Word or WPS without the Chinese ones matches
ALT_NAMES = {BODY_FONT: "SimSun", HEADING_FONT: "SimHei"}


# -- Markdown --------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(doc: Document) -> str:
    out = [f"# {doc.title}", "", doc.subtitle, ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += [f"{'#' * (b.level + 1)} {b.text}", ""]
        elif isinstance(b, Paragraph):
            out += [b.text, ""]
        elif isinstance(b, Table):
            if b.caption:
                out += [f"**{b.caption}**", ""]
            numeric = b.numeric or (False,) * len(b.header)
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
            out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
            out.append("")
    return "\n".join(out)


# -- Word ------------------------------------------------------------------------------------


def _set_fonts(rpr, east_asia: str, latin: str = LATIN_FONT) -> None:
    """w:rFonts of a style or a run: the east-asian font explicitly, and no theme font (a theme
    attribute wins over an explicit name in Word)."""
    from docx.oxml.ns import qn

    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    fonts.set(qn("w:ascii"), latin)
    fonts.set(qn("w:hAnsi"), latin)
    fonts.set(qn("w:cs"), latin)
    fonts.set(qn("w:eastAsia"), east_asia)


def _style(document, name: str, east_asia: str, size: float, bold: bool, align=None, indent=None):
    from docx.shared import Pt, RGBColor

    s = document.styles[name]
    s.font.size = Pt(size)
    s.font.bold = bold
    s.font.italic = False
    s.font.color.rgb = RGBColor(0, 0, 0)
    _set_fonts(s.element.get_or_add_rPr(), east_asia)
    pf = s.paragraph_format
    if align is not None:
        pf.alignment = align
    pf.first_line_indent = indent
    return s


def _chinese_defaults(document) -> None:
    """The document's defaults: Chinese (zh-CN) text in 宋体, so a run without a style of its
    own (a table cell) is still set in a Chinese font."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    styles = document.styles.element
    rpr = styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(rpr, BODY_FONT)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")


def _font_table(document) -> None:
    """Declare 宋体 and 黑体 in fontTable.xml with their English names, charset GB2312 and
    family, as Word itself does: an application without the font by the Chinese name picks a
    Chinese face of the same kind instead of a Latin default."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls, qn

    part = document.part.part_related_by(RT.FONT_TABLE)
    root = parse_xml(part.blob)
    have = {f.get(qn("w:name")) for f in root.findall(qn("w:font"))}
    for name, family in ((BODY_FONT, "roman"), (HEADING_FONT, "modern")):
        if name in have:
            continue
        root.append(
            parse_xml(
                f'<w:font {nsdecls("w")} w:name="{name}">'
                f'<w:altName w:val="{ALT_NAMES[name]}"/><w:charset w:val="86"/>'
                f'<w:family w:val="{family}"/><w:pitch w:val="variable"/></w:font>'
            )
        )
    from lxml import etree

    # python-docx has no API for fontTable.xml: it keeps the part as bytes, in _blob
    part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _width(text: str) -> int:
    # a CJK character is two columns of a Latin one
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


def _table(document, t: Table, text_width) -> None:
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement

    if t.caption:
        cap = document.add_paragraph(t.caption, style="Caption")
        cap.paragraph_format.keep_with_next = True
    table = document.add_table(rows=1 + len(t.rows), cols=len(t.header))
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    numeric = t.numeric or (False,) * len(t.header)

    # each column as wide as its longest cell, in proportion; a header of up to four
    # characters on one line, a longer one on two
    def header_need(text: str) -> int:
        w = _width(text)
        return w + 2 if w <= 8 else (w + 1) // 2 + 4

    need = [
        max([header_need(t.header[i])] + [_width(r[i]) + 2 for r in t.rows])
        for i in range(len(t.header))
    ]
    widths = [int(text_width * n / sum(need)) for n in need]
    for i, column in enumerate(table.columns):
        column.width = widths[i]
    for r, values in enumerate([t.header, *t.rows]):
        row = table.rows[r]
        for i, value in enumerate(values):
            cell = row.cells[i]
            cell.width = widths[i]
            p = cell.paragraphs[0]
            p.style = document.styles["Table Text"]
            run = p.add_run(value)
            if r == 0:
                run.bold = True
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            elif numeric[i]:
                p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            elif value == "合计":
                run.bold = True
    # the header row repeats on every page the table runs onto, and no row breaks across pages
    for r, row in enumerate(table.rows):
        trpr = row._tr.get_or_add_trPr()
        if r == 0:
            trpr.append(OxmlElement("w:tblHeader"))
        trpr.append(OxmlElement("w:cantSplit"))
        for cell in row.cells:
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER


def word(doc: Document, path: Path) -> None:
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    document = docx.Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21), Cm(29.7)  # A4
    section.left_margin = section.right_margin = Cm(2.2)
    section.top_margin, section.bottom_margin = Cm(2.5), Cm(2.2)
    text_width = section.page_width - section.left_margin - section.right_margin

    _chinese_defaults(document)
    _font_table(document)
    # 小四 text with a first-line indent of two characters, as a Chinese report sets it
    normal = _style(document, "Normal", BODY_FONT, 12, False, indent=Pt(24))
    normal.paragraph_format.line_spacing = 1.35
    normal.paragraph_format.space_after = Pt(4)
    title = _style(document, "Title", HEADING_FONT, 22, False, WD_ALIGN_PARAGRAPH.CENTER)
    # the template's Title has a rule under it and a theme colour
    ppr = title.element.get_or_add_pPr()
    for border in ppr.findall("{*}pBdr"):
        ppr.remove(border)
    title.paragraph_format.space_after = Pt(6)
    _style(document, "Subtitle", BODY_FONT, 12, False, WD_ALIGN_PARAGRAPH.CENTER)
    h1 = _style(document, "Heading 1", HEADING_FONT, 14, False)
    h1.paragraph_format.space_before, h1.paragraph_format.space_after = Pt(12), Pt(6)
    h1.paragraph_format.keep_with_next = True
    _style(document, "Heading 2", HEADING_FONT, 12, False)
    caption = _style(document, "Caption", HEADING_FONT, 10.5, False, WD_ALIGN_PARAGRAPH.CENTER)
    caption.paragraph_format.space_before = Pt(6)
    caption.paragraph_format.space_after = Pt(3)
    note = document.styles.add_style("Note", WD_STYLE_TYPE.PARAGRAPH)
    note.base_style = normal
    note.font.size = Pt(9)
    note.paragraph_format.first_line_indent = Pt(0)
    note.paragraph_format.line_spacing = 1.15
    note.paragraph_format.space_before = Pt(6)
    table_text = document.styles.add_style("Table Text", WD_STYLE_TYPE.PARAGRAPH)
    table_text.base_style = normal
    table_text.font.size = Pt(9)
    pf = table_text.paragraph_format
    pf.first_line_indent, pf.line_spacing = Pt(0), 1.0
    pf.space_before = pf.space_after = Pt(1)

    document.core_properties.title = doc.title
    document.core_properties.subject = doc.subtitle
    document.core_properties.language = "zh-CN"
    document.add_paragraph(doc.title, style="Title")
    document.add_paragraph(doc.subtitle, style="Subtitle")
    for b in doc.blocks:
        if isinstance(b, Heading):
            document.add_heading(b.text, level=b.level)
        elif isinstance(b, Paragraph):
            document.add_paragraph(b.text, style="Note" if b.note else None)
        elif isinstance(b, Table):
            _table(document, b, text_width)
    document.save(str(path))
