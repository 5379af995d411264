"""How the bulletin writes a figure (BULLETIN.md "How figures are written"): the forms the
newsletters print, rounded half up on the exact value.

Every function takes exact numbers only (int, Decimal, Fraction): a float has been rounded once
already (to binary), and rounding it again to two decimals is how 0.15765 comes out as 15.76 %.
Callers build a rate from its parts (`ratio`) rather than read the mart's DOUBLE. A missing
figure (None) is refused here: the sentence that would print it has to say why it is missing.
"""

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

Exact = int | Decimal | Fraction

WAN = 10_000
YI = 100_000_000


def _exact(value: Exact) -> Fraction:
    # bool is an int, and a float is not exact: both are a caller's mistake
    if isinstance(value, bool) or not isinstance(value, int | Decimal | Fraction):
        raise TypeError(f"a figure must be exact (int, Decimal, Fraction), not {value!r}")
    return Fraction(value)


def half_up(value: Exact, places: int = 2) -> Decimal:
    """`value` to `places` decimals, a half rounded away from zero, computed on the exact value
    in integers (no intermediate rounding)."""
    scaled = _exact(value) * 10**places
    whole = (abs(scaled.numerator) * 2 + scaled.denominator) // (2 * scaled.denominator)
    signed = -whole if scaled < 0 else whole
    return Decimal(signed).scaleb(-places)


def _two(value: Exact) -> str:
    return f"{half_up(value, 2):.2f}"


def ratio(numerator: Exact | None, denominator: Exact | None) -> Fraction | None:
    """numerator / denominator exactly; None where it has no value (a part missing, or a
    denominator of 0: KPIS.md's null rate)."""
    if numerator is None or denominator is None or _exact(denominator) == 0:
        return None
    return _exact(numerator) / _exact(denominator)


def wan_units(units: Exact) -> str:
    """Units of the province or a city: `28.38万份`."""
    return f"{_two(_exact(units) / WAN)}万份"


def units(n: int) -> str:
    """Units of a county: `205029份`."""
    return f"{count(n)}份"


def money(yuan: Exact) -> str:
    """`1418.77万元` below 1 亿元, `1.32亿元` from it (on the exact amount)."""
    exact = _exact(yuan)
    if abs(exact) >= YI:
        return f"{_two(exact / YI)}亿元"
    return f"{_two(exact / WAN)}万元"


def percent(rate: Exact) -> str:
    """A rate held as a fraction (1.5764) as `157.64%`."""
    return f"{_two(_exact(rate) * 100)}%"


def points(difference: Exact) -> str:
    """A difference of rates, unsigned (the sentence says 超/慢, 上升/下降): `24.31个百分点`."""
    return f"{_two(abs(_exact(difference)) * 100)}个百分点"


def count(n: int) -> str:
    """Claims, persons, activities, courses: whole, no separators."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"a count must be an int, not {n!r}")
    return str(n)


def day(d: date) -> str:
    """`2020年8月31日`."""
    return f"{d.year}年{d.month}月{d.day}日"


def month(d: date) -> str:
    """`2022年12月`."""
    return f"{d.year}年{d.month}月"


def moment(t: datetime) -> str:
    """`2022年12月31日 08:05`, in the zone t carries (the caller gives China Standard Time)."""
    return f"{day(t.date())} {t:%H:%M}"


def signed_wan_units(units_: int) -> str:
    """A change of units in a city table: `+6.80万份`, `-0.52万份`; no sign on what rounds to
    `0.00万份`."""
    written = wan_units(abs(units_))
    if half_up(Fraction(units_, WAN)) == 0:
        return written
    return f"{'-' if units_ < 0 else '+'}{written}"


def signed_units(units_: int) -> str:
    """A change of units in a county table: `+1520份`, `-37份`, `0份`."""
    return f"{'-' if units_ < 0 else '+' if units_ > 0 else ''}{units(abs(units_))}"
