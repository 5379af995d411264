"""Numbers as the cities write them in their workbooks (contract: "Numbers as text").

`1,200`, `１２００` (full width), `1.5万`, `12.5万元`, `3千`: exact. `30余`, `200多`, `约500`,
`3千多`: the number, flagged approximate. `—`, `/`, `-`, `无`: none. Anything else is an
error the caller reports with its file, sheet and row.
"""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_FULL_WIDTH = str.maketrans("０１２３４５６７８９．，－", "0123456789.,-")
_NONE = {"", "—", "-", "/", "／", "无", "——", "－"}
_UNIT = {"": 1, "千": 1000, "万": 10000, "亿": 100_000_000}
_PATTERN = re.compile(
    r"(?P<about>约|大约)?(?P<num>\d+(?:\.\d+)?)(?P<unit>[千万亿]?)"
    r"(?P<more>余|多|左右|以上)?(?P<yuan>元|人|份|人次)?"
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
