"""The bulletin's PDF: its Word file converted by LibreOffice headless, so the PDF is the document
the editor gets, laid out by an office suite, with its text (Chinese included) selectable.

On Debian the fonts the Word file names (宋体, 黑体) are not installed; fontconfig would match
them to a Latin font and LibreOffice would then pick a CJK fallback per character, often a
Japanese face, whose forms of some characters are not the ones a Chinese reader expects. The
conversion is given a fontconfig file of its own that maps each name to a Simplified Chinese face
that Debian packages (fonts-noto-cjk first), and nothing is changed on the machine.
"""

import os
import shutil
import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

from fpa import scratch
from fpa.bulletin.render import BODY_FONT, HEADING_FONT

# name in the Word file (and its English name) -> faces to use, the first installed wins;
# the packages: fonts-noto-cjk, fonts-arphic-uming, fonts-wqy-zenhei, fonts-wqy-microhei
SUBSTITUTES = {
    (BODY_FONT, "SimSun", "NSimSun"): (
        "Noto Serif CJK SC",
        "Source Han Serif SC",
        "AR PL UMing CN",
        "Noto Sans CJK SC",
        "WenQuanYi Zen Hei",
    ),
    (HEADING_FONT, "SimHei"): (
        "Noto Sans CJK SC",
        "Source Han Sans SC",
        "WenQuanYi Zen Hei",
        "WenQuanYi Micro Hei",
    ),
}
FONT_PACKAGE = "fonts-noto-cjk"
OFFICE_PACKAGE = "libreoffice-writer-nogui"
TIMEOUT = 300  # seconds; a first start of LibreOffice with a new profile takes a few


class PdfUnavailable(RuntimeError):
    """The PDF could not be made here; what is missing is in the message."""


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def chinese_faces() -> set[str]:
    """The families of the installed fonts that cover Chinese (fontconfig's view)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return set()
    listed = subprocess.run(
        [fc_list, ":lang=zh", "family"], capture_output=True, text=True, timeout=60
    ).stdout
    return {f.strip() for line in listed.splitlines() for f in line.split(",") if f.strip()}


def fontconfig(faces: set[str]) -> str:
    """A fontconfig file: the system's configuration, then each Word name mapped to the faces
    above that are installed."""
    rules = []
    for names, wanted in SUBSTITUTES.items():
        prefer = "".join(f"<family>{escape(f)}</family>" for f in wanted if f in faces)
        if not prefer:
            continue
        for name in names:
            rules.append(
                f'<alias binding="strong"><family>{escape(name)}</family>'
                f"<prefer>{prefer}</prefer></alias>"
            )
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        + "\n".join(rules)
        + "\n</fontconfig>\n"
    )


def convert(docx: Path, out_dir: Path) -> Path:
    """docx as a PDF of the same name in out_dir; PdfUnavailable when it cannot be made."""
    exe = soffice()
    if exe is None:
        raise PdfUnavailable(
            f"LibreOffice is not installed (soffice not found; Debian: {OFFICE_PACKAGE})"
        )
    faces = chinese_faces()
    if not faces:
        raise PdfUnavailable(
            f"no font with Chinese characters is installed (Debian: {FONT_PACKAGE})"
        )
    with scratch.temporary("pdf") as work:
        conf = Path(work) / "fonts.conf"
        conf.write_text(fontconfig(faces), encoding="utf-8")
        env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
        # a LibreOffice profile of its own: another conversion (or the user's office) running
        # at the same time would otherwise hold the default one and this one would do nothing
        done = subprocess.run(
            [
                exe,
                f"-env:UserInstallation={Path(work, 'profile').as_uri()}",
                "--headless",
                "--norestore",
                "--convert-to",
                "pdf:writer_pdf_Export",
                "--outdir",
                str(out_dir),
                str(docx),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT,
        )
    pdf = out_dir / (docx.stem + ".pdf")
    # soffice exits 0 when it could not load the file (no Writer installed, say): the PDF's
    # absence is the test
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise PdfUnavailable(
            f"LibreOffice did not convert the Word file (exit {done.returncode}"
            + (f": {said[-1]}" if said else "")
            + f"; is {OFFICE_PACKAGE} installed?)"
        )
    return pdf
