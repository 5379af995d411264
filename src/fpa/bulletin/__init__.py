"""统计通报: the statistical bulletin of the province or one city as of a day (BULLETIN.md,
`fpa bulletin`), written from the published warehouse alone, opened read-only.

One document (content.py builds it, model.py holds it) rendered three ways: Markdown, Word
(render.py) and PDF (the Word file through LibreOffice, pdf.py). All three are made in a hidden
folder inside the output folder and moved into place at the end, so a refused or failed run
leaves nothing half-written behind.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from fpa.bulletin.content import BulletinRefused, area_of, build, check
from fpa.bulletin.pdf import PdfUnavailable, convert
from fpa.bulletin.render import markdown, word
from fpa.paths import private_dir, private_file

__all__ = ["BulletinRefused", "Written", "file_stem", "write"]


@dataclass
class Written:
    paths: list[Path]  # .docx, .pdf (when made), .md
    pdf_error: str | None = None  # why there is no PDF


def file_stem(label: str, as_of: date) -> str:
    """`河池市计生协统计通报_2022年12月31日` (WAREHOUSE.md)."""
    return f"{label}计生协统计通报_{as_of.year}年{as_of.month}月{as_of.day}日"


def write(warehouse: Path, as_of: date, area_code: str | None, out: Path) -> Written:
    """The bulletin's three files in `out`. BulletinRefused (nothing written) for an unknown
    area, a missing or foreign warehouse, a day the warehouse holds no figures for. A PDF that
    cannot be made (no LibreOffice, no Chinese font) leaves the other two written and says why
    in `pdf_error`."""
    area = area_of(area_code)
    if not warehouse.is_file():
        raise BulletinRefused(f"{warehouse}: no published warehouse there")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as e:
        raise BulletinRefused(f"{warehouse}: not a warehouse DuckDB can open ({e})") from e
    with con:
        check(con, as_of)
        doc = build(con, as_of, area, warehouse)

    stem = file_stem(area.label, as_of)
    private_dir(out)
    stage = Path(tempfile.mkdtemp(prefix=".bulletin-", dir=out))
    try:
        (stage / f"{stem}.md").write_text(markdown(doc), encoding="utf-8")
        word(doc, stage / f"{stem}.docx")
        pdf_error = None
        try:
            convert(stage / f"{stem}.docx", stage)
        except PdfUnavailable as e:
            pdf_error = str(e)
        names = [f"{stem}.docx", f"{stem}.pdf", f"{stem}.md"]
        written = []
        for name in names:
            if (stage / name).is_file():
                os.replace(stage / name, out / name)
                private_file(out / name)
                written.append(out / name)
            else:
                # an earlier run's PDF would not be this document's
                (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Written(written, pdf_error)
