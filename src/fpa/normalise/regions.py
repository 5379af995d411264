"""Region names to codes through the seeds: canonical names and every alias (short forms,
names with the city prefixed, old names after a renaming), ignoring stray spaces."""

import re
from dataclasses import dataclass
from functools import cache

from fpa import reference

_SPACES = re.compile(r"[\s\u3000]+")


def clean(name: str) -> str:
    return _SPACES.sub("", name)


@dataclass(frozen=True)
class Resolved:
    code: str
    level: str  # city | county
    city_code: str


@cache
def _table() -> dict[str, Resolved]:
    out = {c.name: Resolved(c.code, "city", c.code) for c in reference.cities()}
    counties = {c.code: c for c in reference.counties()}
    for c in counties.values():
        out[c.name] = Resolved(c.code, "county", c.city_code)
    for a in reference.aliases():
        city = a.region_code if a.level == "city" else counties[a.region_code].city_code
        out.setdefault(a.alias, Resolved(a.region_code, a.level, city))
    return out


def resolve(name: str | None) -> Resolved | None:
    """The region a name stands for, or None when no seed knows it."""
    if name is None:
        return None
    return _table().get(clean(str(name)))


def alias_rows() -> list[tuple[str, str, str, str]]:
    """(name, code, level, city_code) for every known name: the same table for SQL joins."""
    return [(k, v.code, v.level, v.city_code) for k, v in _table().items()]
