"""Reading a generated inbox back with code independent of the generator.

Nothing here imports fpa.generate: the files are read as a stranger would (csv, calamine), the
check digit is recomputed with the ISO 7064 formula, numbers in workbooks are parsed from their
written forms. Tests compare what this finds with the truth the generator wrote.
"""

import csv
import io
import re
from pathlib import Path

import python_calamine


def iso7064_ok(id_number: str) -> bool:
    """GB 11643 via ISO 7064 MOD 11-2: sum(d_i · 2^(17-i)) + check ≡ 1 (mod 11), X = 10."""
    s = id_number.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", s):
        return False
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(s[:17]))
    check = 10 if s[17] == "X" else int(s[17])
    return (total + check) % 11 == 1


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 when the bytes are valid UTF-8, else GB18030."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("gb18030"), "gb18030"


def read_csv(path: Path) -> dict:
    """Header, data rows, trailer (or None) and whether the bytes end with CRLF lines only."""
    data = path.read_bytes()
    text, encoding = decode(data)
    lines = text.split("\r\n")
    crlf = "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    trailer = rows[-1] if rows and rows[-1] and rows[-1][0] == "TRAILER" else None
    body = rows[1:-1] if trailer else rows[1:]
    return {
        "header": rows[0],
        "rows": body,
        "trailer": trailer,
        "encoding": encoding,
        "crlf": crlf,
        "ends_with_crlf": text.endswith("\r\n"),
        "lines": lines,
    }


def cents(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((frac + "00")[:2]))


FULL = str.maketrans("０１２３４５６７８９", "0123456789")


def number(v) -> float | None:
    """A workbook number in any of its written forms (the contract's list)."""
    if v is None or v == "":
        return None
    if isinstance(v, int | float):
        return float(v)
    s = str(v).strip().translate(FULL).replace(",", "")
    if s in ("—", "/", "-"):
        return None
    s = s.removeprefix("约").removesuffix("元")
    s = re.sub(r"(余|多)$", "", s)
    m = re.fullmatch(r"([\d.]+)(千|万)?", s)
    if not m:
        raise ValueError(f"not a number: {v!r}")
    return float(m.group(1)) * {None: 1, "千": 1000, "万": 10000}[m.group(2)]


def read_workbook(path: Path) -> dict[str, list[list]]:
    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    return {
        name: wb.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in wb.sheet_names
    }


def sheet_blocks(rows: list[list]) -> tuple[list[int], int, list[int]]:
    """(header row indexes, 合计 row index, data row indexes) of a report or target sheet."""
    total = next(i for i, r in enumerate(rows) if r and r[0] == "合计")
    first = next(i for i, r in enumerate(rows) if r and r[0] in ("序号", "市"))
    data = [
        i
        for i in range(first + 1, total)
        if isinstance(rows[i][0], int | float)
        or (
            rows[i][0] not in ("", None)
            and rows[i][0] != "序号"
            and not isinstance(rows[i][0], str)
        )
        or _is_target_row(rows[i])
    ]
    headers = list(range(first, (data[0] if data else total)))
    return headers, total, data


def _is_target_row(row: list) -> bool:
    return isinstance(row[0], str) and row[0] not in ("", "合计", "市") and len(row) == 2
