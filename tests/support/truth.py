"""The generator's truth beside an inbox, and how a published value is compared with it: the
session inboxes' seed, the truth's tables, the grain of each mart the truth covers, money to
0.01 yuan and rates to 1e-4."""

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path

SEED = 7  # of the session inboxes (tests/conftest.py)

# the grain of each mart the truth has a table for
KEYS = {
    "insurance_county_year": ["year", "product_code", "county_code"],
    "insurance_city_year": ["year", "product_code", "city_code"],
    "activities_monthly": ["month", "city_code", "county_code", "activity_type", "project"],
    "training_monthly": ["month", "city_code", "county_code", "audience", "mode"],
    "report_completeness": ["month", "city_code"],
    "reporting_rates": ["month", "city_code"],
}
MONEY = {
    "premium_yuan",
    "claims_paid_yuan",
    "funds_yuan",
    "hours",
    "premium_to_date_yuan",
    "claims_paid_to_date_yuan",
}
RATES = {
    "loss_ratio",
    "completion_rate",
    "reporting_rate",
    "reporting_rate_on_time",
    "coverage_rate",
    "loss_ratio_to_date",
    "completion_rate_to_date",
    "time_share",
    "ahead_of_schedule",
    "coverage_rate_to_date",
}
# the grain of marts.insurance_progress (compared on the days the truth holds)
PROGRESS_KEYS = ["as_of_date", "product_code", "area_level", "city_code", "county_code"]
ON_DAYS = "WHERE as_of_date IN (SELECT unnest(?::DATE[]))"  # with the days as its parameter
# months the expected reports depend on the build's time for (tests/test_data_issues.py checks
# the months after the generator's range): here, the generator's months
BY_MONTH = {"report_completeness", "reporting_rates"}


def truth_of(inbox: Path) -> Path:
    return inbox.with_name(inbox.name + ".truth")


def read_truth(inbox: Path, table: str) -> list[dict[str, str]]:
    with open(truth_of(inbox) / f"{table}.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def text(v) -> str:
    return "" if v is None else str(v)


def same(column: str, got, want: str) -> bool:
    if want == "":
        return got is None
    if got is None:
        return False
    if column in RATES:
        return abs(got - float(want)) < 1e-4
    if column in MONEY:
        return abs(Decimal(str(got)) - Decimal(want)) < Decimal("0.01")
    if column in ("received_at", "due_at"):
        return got == datetime.fromisoformat(want)
    if isinstance(got, bool):
        return str(got) == want
    return str(got) == want


def mismatches(con, truth: list[dict[str, str]], table: str, keys: list[str], where="", params=()):
    """Every value of marts.`table` (the rows `where` chooses) that differs from the truth's
    rows, as (key, column, published, truth); first asserts that the two hold the same keys, each
    once."""
    columns = list(truth[0])
    rows = con.execute(f"SELECT {', '.join(columns)} FROM marts.{table} {where}", params).fetchall()
    got = {tuple(text(r[columns.index(k)]) for k in keys): r for r in rows}
    want = {tuple(t[k] for k in keys): t for t in truth}
    assert len(got) == len(rows), "grain not unique"
    assert set(got) == set(want)
    return [
        (key, c, got[key][i], want[key][c])
        for key in want
        for i, c in enumerate(columns)
        if not same(c, got[key][i], want[key][c])
    ]
