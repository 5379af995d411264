"""LibreOffice headless, as an office opens and re-saves the files the warehouse reads and
writes (Debian's libreoffice-calc-nogui, installed by tests/run.sh)."""

import shutil
import subprocess
from pathlib import Path

# every sheet of a workbook to a CSV of its own, UTF-8 (LibreOffice ≥ 7.2: the 12th token, -1)
EVERY_SHEET_AS_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


def convert(src: Path, to: str, out: Path) -> None:
    """`soffice --convert-to TO` of src into the folder out, with a profile of its own there
    (two conversions at once would fight over the user's)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            shutil.which("soffice") or "soffice",
            f"-env:UserInstallation=file://{out / 'profile'}",
            "--headless",
            "--calc",
            "--convert-to",
            to,
            "--outdir",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
