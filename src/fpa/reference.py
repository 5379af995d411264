"""Reference data shared by the generator, the parsers and dbt: the seeds in dbt/seeds/."""

import csv
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from fpa.paths import SEEDS_DIR


@dataclass(frozen=True)
class City:
    code: str
    name: str

    @property
    def short(self) -> str:
        return self.name.removesuffix("市")


@dataclass(frozen=True)
class County:
    code: str
    name: str
    city_code: str
    city_name: str


@dataclass(frozen=True)
class Alias:
    alias: str
    region_code: str
    level: str  # city | county
    kind: str  # short | prefixed | old
    renamed_in: str  # YYYY-MM for an old name, else ""


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    policy_prefix: str
    unit_price_min_yuan: Decimal
    unit_price_max_yuan: Decimal
    claim_ceiling_yuan: Decimal


def _rows(name: str) -> list[dict[str, str]]:
    with open(SEEDS_DIR / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@cache
def cities() -> tuple[City, ...]:
    return tuple(City(r["city_code"], r["city_name"]) for r in _rows("regions_cities.csv"))


@cache
def counties() -> tuple[County, ...]:
    return tuple(
        County(r["county_code"], r["county_name"], r["city_code"], r["city_name"])
        for r in _rows("regions_counties.csv")
    )


@cache
def aliases() -> tuple[Alias, ...]:
    return tuple(
        Alias(r["alias"], r["region_code"], r["region_level"], r["kind"], r["renamed_in"])
        for r in _rows("region_aliases.csv")
    )


@cache
def products() -> tuple[Product, ...]:
    return tuple(
        Product(
            r["product_code"],
            r["product_name"],
            r["policy_prefix"],
            Decimal(r["unit_price_min_yuan"]),
            Decimal(r["unit_price_max_yuan"]),
            Decimal(r["claim_ceiling_yuan"]),
        )
        for r in _rows("products.csv")
    )


@cache
def reason_codes() -> tuple[dict[str, str], ...]:
    """Every reason a row or file is set aside for (fpa.quarantine.Reason is made of them): its
    code, level (row or file), English description and the Chinese a provider reads."""
    return tuple(_rows("reason_codes.csv"))


@cache
def report_headers() -> tuple[dict[str, str], ...]:
    """Header texts of the workbooks and the field each one means (with its unit factor), by
    kind: a report's sheet kind, or `population`."""
    return tuple(_rows("report_headers.csv"))


@cache
def report_kinds() -> dict[str, str]:
    """The kinds of sheet a city's report holds, in the seed's order, and each one's raw
    table."""
    return {r["kind"]: r["raw_table"] for r in _rows("report_kinds.csv")}


@cache
def report_sheets() -> dict[str, str]:
    """A sheet's name (spaces dropped) -> its kind."""
    return {r["sheet_name"]: r["kind"] for r in _rows("report_sheets.csv")}


@cache
def report_values() -> dict[tuple[str, str], frozenset[str]]:
    """The contract's lists (活动类型, 所属项目, 培训对象, 培训方式) by (sheet kind, field)."""
    out: dict[tuple[str, str], set[str]] = {}
    for r in _rows("report_values.csv"):
        out.setdefault((r["kind"], r["field"]), set()).add(r["value"])
    return {k: frozenset(v) for k, v in out.items()}


@cache
def labels(field: str) -> dict[str, str]:
    """The Chinese label of each code of a field (dbt/seeds/labels.csv): provider, source,
    file_status, issue_kind, issue_status, report_status."""
    return {r["code"]: r["label_zh"] for r in _rows("labels.csv") if r["field"] == field}
