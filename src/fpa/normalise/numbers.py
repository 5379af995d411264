"""Numbers as the cities write them in their workbooks (contract: "Numbers as text").

`1,200`, `１２００` (full width), `1.5万`, `12.5万元`, `3千`: exact. `30余`, `200多`, `约500`,
`3千多`: the number, flagged approximate. `—`, `/`, `-`, `无`: none. Anything else is an
error the caller reports with its file, sheet and row.
"""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# The forms a number takes in the cities' workbooks: what this parser reads, and what the
# generator (fpa.generate.reports) writes from the same lists.
FULL_WIDTH_DIGITS = "０１２３４５６７８９"
NONE = ("—", "/", "-", "／", "无", "——", "－")  # a cell saying "no number" (as an empty one does)
ABOUT = ("约", "大约")  # before the number: approximate
MORE = ("余", "多", "左右", "以上")  # after it (and its unit): approximate
UNITS = {"千": 1000, "万": 10000, "亿": 100_000_000}
COUNTED = ("元", "人", "份", "人次")  # what it counts, after all that

_FULL_WIDTH = str.maketrans(FULL_WIDTH_DIGITS + "．，－", "0123456789.,-")
_NONE = {"", *NONE}
_UNIT = {"": 1, **UNITS}
_PATTERN = re.compile(
    rf"(?P<about>{'|'.join(ABOUT)})?(?P<num>\d+(?:\.\d+)?)(?P<unit>[{''.join(UNITS)}]?)"
    rf"(?P<more>{'|'.join(MORE)})?(?P<yuan>{'|'.join(COUNTED)})?"
)


@dataclass(frozen=True)
class Parsed:
    value: Decimal | None
    approximate: bool = False


class NumberError(ValueError):
    pass


def parse_number(v) -> Parsed:
    """A cell's value as a Decimal (None for none), and whether it was approximate."""
    if v is None:
        return Parsed(None)
    if isinstance(v, bool):
        raise NumberError(f"not a number: {v!r}")
    if isinstance(v, int | float):
        return Parsed(Decimal(str(v)) if isinstance(v, float) else Decimal(v))
    s = str(v).translate(_FULL_WIDTH).strip().replace(",", "").replace(" ", "")
    if s in _NONE:
        return Parsed(None)
    m = _PATTERN.fullmatch(s)
    if not m:
        raise NumberError(f"not a number: {v!r}")
    try:
        value = Decimal(m["num"]) * _UNIT[m["unit"]]
    except InvalidOperation as e:  # pragma: no cover - the pattern only admits digits
        raise NumberError(f"not a number: {v!r}") from e
    return Parsed(value, bool(m["about"] or m["more"]))
