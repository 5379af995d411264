"""Dates as the cities write them (contract: "Dates").

Excel serial numbers and date cells, `2023-05-21`, `2023/5/21`, `2023.5.21`, `2023年5月21日`,
`5月21日` (the year is the report's), and ranges `11月10日—11日`, `11月10日-12日`,
`2023年5月28日—29日`, `5月30日—6月1日`, `2023-05-28至2023-05-29`: a start and an end.
"""

import re
from datetime import date, datetime, timedelta

EXCEL_EPOCH = date(1899, 12, 30)
_SEP = r"\s*(?:—|-|–|~|～|至|到)+\s*"
_FULL = re.compile(r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?")
_SHORT = re.compile(r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日?")
_DAY = re.compile(r"(?P<d>\d{1,2})\s*日?")


class DateError(ValueError):
    pass


def _one(text: str, year: int, after: date | None = None) -> date:
    for pattern in (_FULL, _SHORT, _DAY):
        m = pattern.fullmatch(text)
        if not m:
            continue
        g = m.groupdict()
        if "y" in g:
            y, mo = int(g["y"]), int(g["m"])
        elif "m" in g:
            y, mo = (after.year if after else year), int(g["m"])
        elif after is not None:  # "…—11日": the month of the start
            y, mo = after.year, after.month
        else:
            break
        try:
            return date(y, mo, int(g["d"]))
        except ValueError as e:
            raise DateError(f"not a date: {text!r}") from e
    raise DateError(f"not a date: {text!r}")


def parse_date_range(v, year: int) -> tuple[date, date] | None:
    """(start, end) of a cell; None for an empty cell. `year` is the report's year."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, datetime):
        return v.date(), v.date()
    if isinstance(v, date):
        return v, v
    if isinstance(v, int | float) and not isinstance(v, bool):
        if not 20000 < v < 80000:  # 1954 … 2119: anything else is no date serial
            raise DateError(f"not a date serial: {v!r}")
        d = EXCEL_EPOCH + timedelta(days=int(v))
        return d, d
    text = str(v).strip()
    try:
        d = _one(text, year)
        return d, d
    except DateError:
        pass
    # a range: the first separator at which both sides are dates (`-` also sits inside ISO dates)
    for sep in re.finditer(_SEP, text):
        try:
            start = _one(text[: sep.start()], year)
            end = _one(text[sep.end() :], year, after=start)
        except DateError:
            continue
        if end < start:
            raise DateError(f"a range that ends before it starts: {text!r}")
        return start, end
    raise DateError(f"not a date: {text!r}")
