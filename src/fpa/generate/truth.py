"""What the warehouse must publish for a generated inbox, computed from the generator's model.

One CSV per published table of WAREHOUSE.md (same columns), plus files.csv (every delivered
file and its fate) and quarantine.csv (every row to be set aside). Money is written with two
decimals, rates as fractions with full precision, an absent value (NULL) as an empty field.
"""

import csv
import json
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from fpa import reference
from fpa.generate.delivery import Deliveries, Fate
from fpa.generate.insurer import CANCEL, CANCELLED, COUNTED, QUARANTINE_REASON, InsurerModel
from fpa.generate.plan import PRODUCTS, Plan, month_end, report_months
from fpa.generate.reports import Report
from fpa.generate.text import fmt_cents
from fpa.settings import report_due_at

INSURANCE_KEYS = ["year", "product", "county"]


def _money(cents) -> list[str]:
    return fmt_cents(np.asarray(cents, dtype=np.int64)).tolist()


def _ratio(num, den) -> list[str]:
    return ["" if d == 0 else repr(float(n) / float(d)) for n, d in zip(num, den, strict=True)]


def _cells(plan: Plan, frame: pd.DataFrame) -> np.ndarray:
    """Each row's (year, product, county) cell, the index of the truth's sums."""
    y = frame["year"].to_numpy().astype(np.int64) - plan.years[0]
    product, county = frame["product"].to_numpy(), frame["county"].to_numpy()
    return (y * len(PRODUCTS) + product) * len(plan.counties) + county


def _sums(index: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Counts (or sums of `weights`) by index, as integers; money in cents as float64 weights
    is exact, the sums stay far below 2^53."""
    return np.rint(np.bincount(index, weights=weights, minlength=size)).astype(np.int64)


def insurance(
    plan: Plan, m: InsurerModel, pops: dict[int, np.ndarray]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    pol, rows, cl = m.policies, m.policy_rows, m.claims
    # sums by cell (year, product, county) with bincount: pandas' grouped nunique over a demo's
    # ten years of policies took more memory than the policies themselves
    npr, nk = len(PRODUCTS), len(plan.counties)
    n_cells = len(plan.years) * npr * nk

    def total(cell: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return _sums(cell, n_cells, weights)

    pol_cell = _cells(plan, pol)
    counted = ((pol["kind"] == COUNTED) & (pol["change"] != CANCEL)).to_numpy()
    person = pol["person"].to_numpy().astype(np.int64)[counted]
    cell = pol_cell[counted]
    # a person is an ID: county and person key (< 2^25), the county is part of the cell
    persons = total(np.unique(cell << 25 | person) >> 25)
    # premium: every row of the policies written in the year, cancelled ones included
    ok = rows["kind"].isin([COUNTED, CANCELLED]).to_numpy()
    settled = (cl["kind"] == "settled").to_numpy()
    claim_cell = _cells(plan, cl)[settled]
    grid = pd.MultiIndex.from_product([plan.years, range(npr), range(nk)], names=INSURANCE_KEYS)
    out = pd.DataFrame(
        {
            "policies": total(cell),
            "units": total(cell, pol["units"].to_numpy()[counted].astype(float)),
            "insured_persons": persons,
            "premium_cents": total(
                pol_cell[rows["policy"].to_numpy()[ok]],
                rows["premium"].to_numpy()[ok].astype(float),
            ),
            "claims_settled": total(claim_cell),
            "claims_paid_cents": total(claim_cell, cl["amount"].to_numpy()[settled].astype(float)),
        },
        index=grid,
    ).reset_index()
    for key in INSURANCE_KEYS:
        out[key] = out[key].astype(np.int64)
    _check_against_plan(plan, out)

    counties = reference.counties()
    out["product_code"] = np.array(PRODUCTS)[out["product"]]
    out["county_code"] = [counties[k].code for k in out["county"]]
    out["county_name"] = [counties[k].name for k in out["county"]]
    out["city_code"] = [counties[k].city_code for k in out["county"]]
    out["city_name"] = [counties[k].city_name for k in out["county"]]

    # persons are counted by ID, which is (county, person key): distinct per year, product, city
    cities = reference.cities()
    city_index = {c.code: i for i, c in enumerate(cities)}
    city_of = np.array([city_index[c.city_code] for c in counties], dtype=np.int64)
    county = pol["county"].to_numpy().astype(np.int64)[counted]
    year_product = cell // nk
    key = (year_product * len(cities) + city_of[county]) << 32 | county << 25 | person
    by_city = np.unique(np.unique(key) >> 32, return_counts=True)
    city_persons = {
        (plan.years[int(c) // len(cities) // npr], int(c) // len(cities) % npr,
         cities[int(c) % len(cities)].code): int(n)
        for c, n in zip(*by_city, strict=True)
    }  # fmt: skip
    city = out.groupby(
        ["year", "product", "product_code", "city_code", "city_name"], as_index=False
    )[["policies", "units", "premium_cents", "claims_settled", "claims_paid_cents"]].sum()
    city["insured_persons"] = [
        int(city_persons.get((y, p, c), 0))
        for y, p, c in zip(city["year"], city["product"], city["city_code"], strict=True)
    ]
    city["target_units"] = [
        plan.targets.get((y, c)) if p == "JSGA" else None
        for y, p, c in zip(city["year"], city["product_code"], city["city_code"], strict=True)
    ]
    city = city.sort_values(["product", "city_code", "year"], ignore_index=True)
    prev = city.groupby(["product", "city_code"])["units"].shift(1)
    city["yoy_units"] = [
        None if pd.isna(p) else int(u - p) for u, p in zip(city["units"], prev, strict=True)
    ]
    _population_columns(out, city, pops)
    return _insurance_frames(out, city)


def population_year(pops: dict[int, np.ndarray], y: int) -> int | None:
    """KPIS.md: the year's population, else the latest earlier year's (None: there is none)."""
    return max((p for p in pops if p <= y), default=None)


def _population_columns(county: pd.DataFrame, city: pd.DataFrame, pops: dict) -> None:
    """resident_population, population_year, coverage_rate (units / population); empty where
    no yearbook of the year or before it has arrived."""
    counties = reference.counties()
    city_codes = [c.code for c in reference.cities()]
    city_of = np.array([city_codes.index(c.city_code) for c in counties])
    by_city = {
        y: np.bincount(city_of, weights=p, minlength=len(city_codes)) for y, p in pops.items()
    }
    for df, lookup in (
        (county, lambda py, key: int(pops[py][key])),
        (city, lambda py, key: int(by_city[py][city_codes.index(key)])),
    ):
        keys = df["county"] if df is county else df["city_code"]
        years = [population_year(pops, int(y)) for y in df["year"]]
        people = [None if py is None else lookup(py, k) for py, k in zip(years, keys, strict=True)]
        df["resident_population"] = ["" if p is None else p for p in people]
        df["population_year"] = ["" if py is None else py for py in years]
        df["coverage_rate"] = [
            "" if p is None else repr(u / p) for u, p in zip(df["units"], people, strict=True)
        ]


def _check_against_plan(plan: Plan, out: pd.DataFrame) -> None:
    """The realisation must add up to the plan; a mismatch is a bug in the generator."""
    idx = (out["year"].map(plan.years.index), out["product"], out["county"])
    checks = {
        "units": plan.units[idx],
        "claims_settled": plan.claims_n[idx],
        "claims_paid_cents": plan.claims_cents[idx],
        "premium_cents": plan.units[idx] * plan.price_cents[idx],
    }
    for col, want in checks.items():
        bad = out[col].to_numpy() != want
        if bad.any():
            raise AssertionError(
                f"generator: realised {col} differs from the plan at "
                f"{out.loc[bad, INSURANCE_KEYS].head(3).to_dict('records')}"
            )


def _insurance_frames(county: pd.DataFrame, city: pd.DataFrame):
    def money_cols(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df["premium_yuan"] = _money(df["premium_cents"])
        df["claims_paid_yuan"] = _money(df["claims_paid_cents"])
        df["loss_ratio"] = _ratio(df["claims_paid_cents"], df["premium_cents"])
        return df

    county = money_cols(county).sort_values(["year", "product", "county_code"])
    city = money_cols(city)
    city["completion_rate"] = [
        "" if t is None or pd.isna(t) else repr(u / t)
        for u, t in zip(city["units"], city["target_units"], strict=True)
    ]
    city["target_units"] = ["" if t is None or pd.isna(t) else int(t) for t in city["target_units"]]
    city["yoy_units"] = ["" if pd.isna(v) else int(v) for v in city["yoy_units"]]
    city = city.sort_values(["year", "product", "city_code"])
    base = ["year", "product_code", "city_code", "city_name"]
    kpis = [
        "policies",
        "units",
        "premium_yuan",
        "insured_persons",
        "claims_settled",
        "claims_paid_yuan",
        "loss_ratio",
    ]
    population = ["resident_population", "population_year", "coverage_rate"]
    return (
        county[base + ["county_code", "county_name"] + kpis + population],
        city[base + kpis + ["target_units", "completion_rate", "yoy_units"] + population],
    )


PROGRESS_COLUMNS = [
    "as_of_date",
    "year",
    "product_code",
    "area_level",
    "city_code",
    "city_name",
    "county_code",
    "county_name",
    "policies_to_date",
    "units_to_date",
    "premium_to_date_yuan",
    "insured_persons_to_date",
    "claims_settled_to_date",
    "claims_paid_to_date_yuan",
    "loss_ratio_to_date",
    "target_units",
    "completion_rate_to_date",
    "time_share",
    "ahead_of_schedule",
    "units_same_day_last_year",
    "yoy_units_to_date",
    "resident_population",
    "coverage_rate_to_date",
]
_TO_DATE = ("policies", "units", "premium", "persons", "claims", "paid")


def progress_days(plan: Plan, y: int) -> list[date]:
    """The days of year y the truth holds progress for: 1 January, the 15th and the last day of
    every month (31 December among them), 29 February where there is one, the anchored days,
    and the range's last day; none after it."""
    days = {date(y, 1, 1)} | set(plan.cut_days.get(y, []))
    if plan.last_day.year == y:
        days.add(plan.last_day)
    for month in range(1, 13):
        first = date(y, month, 1)
        days |= {first.replace(day=15), month_end(first)}
    if y % 4 == 0 and (y % 100 or y % 400 == 0):
        days.add(date(y, 2, 29))
    return sorted(d for d in days if d <= plan.last_day)


def _daily(plan: Plan, m: InsurerModel) -> dict[str, np.ndarray]:
    """Each to-date KPI by [year, product, county, day of year], cumulative from 1 January:
    policies by 投保日期 with their current status, claims by 结案日期 (KPIS.md, "to date").
    Plain arrays: a province year is millions of policies, and a filtered frame copies them."""
    ny, npr, nk = len(plan.years), len(PRODUCTS), len(plan.counties)
    size = ny * npr * nk * 366

    def at(frame: pd.DataFrame, day: str) -> np.ndarray:
        """Each row's (year, product, county) cell times 366 plus its day of the year."""
        jan1 = (frame["year"].to_numpy().astype(np.int64) - 1970).astype("datetime64[Y]")
        doy = frame[day].to_numpy().astype("datetime64[D]") - jan1.astype("datetime64[D]")
        return _cells(plan, frame) * 366 + doy.astype(np.int64)

    def cumulative(index: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.cumsum(_sums(index, size, weights).reshape(ny, npr, nk, 366), axis=3)

    pol, cl = m.policies, m.claims
    written = at(pol, "written")
    counted = (pol["kind"].to_numpy() == COUNTED) & (pol["change"].to_numpy() != CANCEL)
    # a person counts from the first of their policies of the year, in the county (IDs are
    # county + person key): sort (cell, person, day) and keep the first of each (cell, person)
    person = pol["person"].to_numpy()[counted].astype(np.int64)
    key = np.sort(((written[counted] // 366) << 25 | person) * 366 + written[counted] % 366)
    who = key // 366
    first = np.concatenate([[True], who[1:] != who[:-1]])
    # premium: every row of the policies written in the year, cancelled ones included
    rows = m.policy_rows
    ok = rows["kind"].isin([COUNTED, CANCELLED]).to_numpy()
    settled = cl.loc[cl["kind"] == "settled", ["year", "product", "county", "settle", "amount"]]
    claim_at = at(settled, "settle")
    return {
        "policies": cumulative(written[counted]),
        "units": cumulative(written[counted], pol["units"].to_numpy()[counted].astype(float)),
        "premium": cumulative(
            written[rows["policy"].to_numpy()[ok]], rows["premium"].to_numpy()[ok].astype(float)
        ),
        "persons": cumulative((who[first] >> 25) * 366 + key[first] % 366),
        "claims": cumulative(claim_at),
        "paid": cumulative(claim_at, settled["amount"].to_numpy().astype(float)),
    }


def _check_progress_against_plan(plan: Plan, daily: dict) -> None:
    """On every anchored day the realisation holds exactly the plan's figures to date."""
    for y, days in plan.cut_days.items():
        yi = plan.years.index(y)
        for d in days:
            doy = (d - date(y, 1, 1)).days
            for col, table in (
                ("units", "units"),
                ("claims", "claims_n"),
                ("paid", "claims_cents"),
            ):
                got = daily[col][yi, :, :, doy]
                if (got != plan.to_date(table, y, d)).any():
                    raise AssertionError(f"generator: realised {col} to {d} differs from the plan")
            want = plan.to_date("units", y, d) * plan.price_cents[yi]
            if (daily["premium"][yi, :, :, doy] != want).any():
                raise AssertionError(f"generator: realised premium to {d} differs from the plan")


def insurance_progress(plan: Plan, m: InsurerModel, pops: dict[int, np.ndarray]) -> pd.DataFrame:
    """WAREHOUSE.md marts.insurance_progress on progress_days(): product × area (province, its
    cities, their counties). The province's target is the sum of its cities'; a county has none;
    the same day last year is 28 February for 29 February, none in the range's first year."""
    daily = _daily(plan, m)
    _check_progress_against_plan(plan, daily)
    counties = reference.counties()
    cities = reference.cities()
    city_of = np.array([[c.code for c in cities].index(k.city_code) for k in counties])
    member = np.zeros((len(counties), len(cities)), dtype=np.int64)
    member[np.arange(len(counties)), city_of] = 1
    npr = len(PRODUCTS)
    # the rows of one day: province, cities, counties, for each product
    level = ["province"] + ["city"] * len(cities) + ["county"] * len(counties)
    city_code = [""] + [c.code for c in cities] + [k.city_code for k in counties]
    city_name = [""] + [c.name for c in cities] + [k.city_name for k in counties]
    county_code = [""] * (1 + len(cities)) + [k.code for k in counties]
    county_name = [""] * (1 + len(cities)) + [k.name for k in counties]
    n_area = len(level)

    def areas(v: np.ndarray) -> np.ndarray:  # [product, county] -> [product, area]
        return np.concatenate([v.sum(axis=1, keepdims=True), v @ member, v], axis=1)

    parts = []
    for yi, y in enumerate(plan.years):
        days_in_year = (date(y + 1, 1, 1) - date(y, 1, 1)).days
        # the resident population of the year (or the latest earlier yearbook), every area
        py = population_year(pops, y)
        people = (
            np.full((npr, n_area), np.nan)
            if py is None
            else np.repeat(areas(pops[py][None, :].astype(np.float64)), npr, axis=0)
        )
        city_targets = [plan.targets.get((y, c.code)) for c in cities]
        has_target = all(t is not None for t in city_targets)
        target = np.full((npr, n_area), np.nan)
        if has_target:
            target[0, 0] = sum(city_targets)
            target[0, 1 : 1 + len(cities)] = city_targets
        for d in progress_days(plan, y):
            doy = (d - date(y, 1, 1)).days
            v = {k: areas(daily[k][yi, :, :, doy]) for k in _TO_DATE}
            last = None
            if yi > 0:
                before = d.replace(year=y - 1, day=min(d.day, 28 if d.month == 2 else 31))
                last = areas(daily["units"][yi - 1, :, :, (before - date(y - 1, 1, 1)).days])
            share = (doy + 1) / days_in_year
            completion = v["units"] / target
            parts.append(
                {
                    "as_of_date": np.full((npr, n_area), d.isoformat()),
                    "product": np.repeat(np.arange(npr)[:, None], n_area, axis=1),
                    "area": np.repeat(np.arange(n_area)[None, :], npr, axis=0),
                    **v,
                    "year": np.full((npr, n_area), y),
                    "target": target,
                    "completion": completion,
                    "share": np.full((npr, n_area), share),
                    "last": np.full((npr, n_area), -1) if last is None else last,
                    "people": people,
                }
            )
    t = pd.DataFrame({k: np.concatenate([p[k].reshape(-1) for p in parts]) for k in parts[0]})
    area = t["area"].to_numpy()
    no_target = np.isnan(t["target"].to_numpy())
    no_last = t["last"].to_numpy() < 0
    out = pd.DataFrame(
        {
            "as_of_date": t["as_of_date"],
            "year": t["year"],
            "product_code": np.array(PRODUCTS)[t["product"].to_numpy()],
            "area_level": np.array(level)[area],
            "city_code": np.array(city_code)[area],
            "city_name": np.array(city_name)[area],
            "county_code": np.array(county_code)[area],
            "county_name": np.array(county_name)[area],
            "policies_to_date": t["policies"],
            "units_to_date": t["units"],
            "premium_to_date_yuan": _money(t["premium"]),
            "insured_persons_to_date": t["persons"],
            "claims_settled_to_date": t["claims"],
            "claims_paid_to_date_yuan": _money(t["paid"]),
            "loss_ratio_to_date": _ratio(t["paid"], t["premium"]),
            "target_units": np.where(
                no_target, "", t["target"].fillna(0).astype(np.int64).astype(str)
            ),
            "completion_rate_to_date": [
                "" if nt else repr(float(c))
                for nt, c in zip(no_target, t["completion"], strict=True)
            ],
            "time_share": [repr(float(x)) for x in t["share"]],
            "ahead_of_schedule": [
                "" if nt else repr(float(c) - float(x))
                for nt, c, x in zip(no_target, t["completion"], t["share"], strict=True)
            ],
            "units_same_day_last_year": np.where(no_last, "", t["last"].astype(str)),
            "yoy_units_to_date": np.where(no_last, "", (t["units"] - t["last"]).astype(str)),
            "resident_population": ["" if np.isnan(p) else str(int(p)) for p in t["people"]],
            "coverage_rate_to_date": [
                "" if np.isnan(p) else repr(float(u) / float(p))
                for u, p in zip(t["units"], t["people"], strict=True)
            ],
        }
    )
    return out[PROGRESS_COLUMNS]


def population_table(pops: dict[int, np.ndarray]) -> pd.DataFrame:
    """Each delivered yearbook's figure per county, in persons, as the warehouse loads it."""
    counties = reference.counties()
    return pd.DataFrame(
        [
            (y, c.city_code, c.city_name, c.code, c.name, int(p[k]))
            for y, p in sorted(pops.items())
            for k, c in enumerate(counties)
        ],
        columns=[
            "year",
            "city_code",
            "city_name",
            "county_code",
            "county_name",
            "resident_population",
        ],
    )


def reports(counted: list[Report]) -> tuple[pd.DataFrame, pd.DataFrame]:
    counties = reference.counties()
    acts, trains = [], []
    for rep in counted:
        month = rep.month.isoformat()
        for a in rep.activities:
            if a.other_city:
                continue
            acts.append(
                (
                    month,
                    rep.city.code,
                    "" if a.county is None else counties[a.county].code,
                    a.activity_type,
                    a.project,
                    a.participants or 0,
                    a.service_visits or 0,
                    a.materials or 0,
                    a.funds_cents or 0,
                    (a.participants or 0) if a.approx else 0,
                )
            )
        for t in rep.trainings:
            if t.other_city:
                continue
            trains.append(
                (
                    month,
                    rep.city.code,
                    "" if t.county is None else counties[t.county].code,
                    t.audience,
                    t.mode,
                    t.trainees,
                    t.trainees * t.days,
                    t.hours,
                )
            )
    a = pd.DataFrame(
        acts,
        columns=[
            "month",
            "city_code",
            "county_code",
            "activity_type",
            "project",
            "participants",
            "service_visits",
            "materials",
            "funds_cents",
            "approx_participants",
        ],
    )
    keys = ["month", "city_code", "county_code", "activity_type", "project"]
    ga = a.groupby(keys, as_index=False).agg(
        activities=("participants", "size"),
        participants=("participants", "sum"),
        service_visits=("service_visits", "sum"),
        materials=("materials", "sum"),
        funds_cents=("funds_cents", "sum"),
        approx_participants=("approx_participants", "sum"),
    )
    ga["funds_yuan"] = _money(ga["funds_cents"])
    ga = ga[
        keys
        + [
            "activities",
            "participants",
            "service_visits",
            "materials",
            "funds_yuan",
            "approx_participants",
        ]
    ]
    t = pd.DataFrame(
        trains,
        columns=[
            "month",
            "city_code",
            "county_code",
            "audience",
            "mode",
            "trainees",
            "trainee_days",
            "hours",
        ],
    )
    tkeys = ["month", "city_code", "county_code", "audience", "mode"]
    gt = t.groupby(tkeys, as_index=False).agg(
        courses=("trainees", "size"),
        trainees=("trainees", "sum"),
        trainee_days=("trainee_days", "sum"),
        hours=("hours", "sum"),
    )
    return ga, gt


def due_at(month: date) -> datetime:
    """KPIS.md: a month's report is due by 23:59:59 CST on the due day of the following month
    (fpa.settings: the rule the Python shares; dbt's macro is checked against this truth)."""
    return report_due_at(month)


def on_time(received: datetime, month: date) -> bool:
    """By the due second: an arrival before 00:00:00 the day after."""
    return received < due_at(month) + timedelta(seconds=1)


def _accepted_reports(d: Deliveries) -> dict[tuple[str, str], list[Fate]]:
    """(YYYY-MM, city code) -> its accepted reports (loaded or superseded), in arrival order."""
    accepted: dict[tuple[str, str], list[Fate]] = {}
    for f in d.fates:
        if f.source == "report" and f.status in ("loaded", "superseded"):
            accepted.setdefault((f.period, f.city_code), []).append(f)
    for fates in accepted.values():
        fates.sort(key=lambda f: (f.received_at, f.path))
    return accepted


def completeness(plan: Plan, d: Deliveries) -> pd.DataFrame:
    """Every city x month of the range. A build after the range's last due date (summary.json:
    reporting_complete_after) finds every month due: on_time is False for a month with nothing
    received (the warehouse says NULL only for a month not due yet)."""
    accepted = _accepted_reports(d)
    rows = []
    for month in report_months(plan):
        y, m = month.year, month.month
        end = month_end(month)
        for c in reference.cities():
            got = [f.received_at for f in accepted.get((f"{y}-{m:02d}", c.code), [])]
            rows.append(
                (
                    month.isoformat(),
                    c.code,
                    c.name,
                    bool(got),
                    got[0].isoformat() if got else "",
                    (got[0].date() - end).days if got else "",
                    due_at(month).isoformat(),
                    bool(got) and on_time(got[0], month),
                    len(got) - 1 if got else 0,
                )
            )
    return pd.DataFrame(
        rows,
        columns=[
            "month",
            "city_code",
            "city_name",
            "received",
            "received_at",
            "days_after_month_end",
            "due_at",
            "on_time",
            "revisions",
        ],
    )


def reporting_rates(comp: pd.DataFrame) -> pd.DataFrame:
    """KPIS.md "Reporting": every month of the range (all due, as above) x the 14 cities and the
    province (city_code empty)."""
    cities = comp.assign(
        expected_reports=1,
        reports_received=comp["received"].astype(int),
        reports_on_time=comp["on_time"].astype(int),
    )
    province = cities.groupby("month", as_index=False)[
        ["expected_reports", "reports_received", "reports_on_time"]
    ].sum()
    province["city_code"], province["city_name"] = "", "广西壮族自治区"
    out = pd.concat([cities, province], ignore_index=True)
    out["reporting_rate"] = [
        repr(r / e) for r, e in zip(out["reports_received"], out["expected_reports"], strict=True)
    ]
    out["reporting_rate_on_time"] = [
        repr(r / e) for r, e in zip(out["reports_on_time"], out["expected_reports"], strict=True)
    ]
    return out[
        [
            "month",
            "city_code",
            "city_name",
            "expected_reports",
            "reports_received",
            "reports_on_time",
            "reporting_rate",
            "reporting_rate_on_time",
        ]
    ].sort_values(["month", "city_code"], ignore_index=True)


ISSUE_COLUMNS = [
    "provider",
    "city_code",
    "kind",
    "month",
    "file_name",
    "row_number",
    "field",
    "reason_code",
    "detected_at",
    "status",
    "resolved_at",
]
# the column of the extract a planted insurer row is wrong in
_INSURER_FIELD = {
    ("policy", "bad_id_checksum"): "证件号码",
    ("policy", "premium_unit_mismatch"): "保费",
    ("claim", "bad_id_checksum"): "被保险人证件号码",
    ("claim", "claim_above_ceiling"): "赔付金额",
}


def _issue(provider, city_code, kind, month, file_name, row, field, code, found, resolved):
    return {
        "provider": provider,
        "city_code": city_code or "",
        "kind": kind,
        "month": month.isoformat() if month else "",
        "file_name": file_name or "",
        "row_number": "" if row is None else row,
        "field": field or "",
        "reason_code": code or "",
        "detected_at": found.isoformat(),
        "status": "open" if resolved is None else "resolved",
        "resolved_at": resolved.isoformat() if resolved else "",
    }


def data_issues(plan: Plan, m: InsurerModel, d: Deliveries) -> pd.DataFrame:
    """WAREHOUSE.md marts.data_issues as the generator's model has them, for a build after the
    range's last due date (issue_id aside: it is a hash the warehouse keeps stable, tested on
    nights of its own). The lifecycle is KPIS.md's "Data issues for the providers"."""
    accepted = _accepted_reports(d)
    out = _report_issues(plan, accepted)
    out += _file_issues(d)
    out += _report_row_issues(d)
    out += _insurer_row_issues(m, d)
    return pd.DataFrame(out, columns=ISSUE_COLUMNS).sort_values(
        ["provider", "kind", "month", "file_name", "row_number"], key=lambda c: c.astype(str)
    )


def _report_issues(plan: Plan, accepted: dict) -> list[dict]:
    """A month not reported by its due date: missing (open) while nothing arrived, late
    (resolved at the first accepted arrival) once something did."""
    out = []
    for y in plan.years:
        for mo in range(1, 13):
            month = date(y, mo, 1)
            for c in reference.cities():
                got = accepted.get((f"{y}-{mo:02d}", c.code), [])
                if got and on_time(got[0].received_at, month):
                    continue
                first = got[0] if got else None
                out.append(
                    _issue(
                        c.code,
                        c.code,
                        "report_late" if first else "report_missing",
                        month,
                        first.path if first else "",
                        None,
                        "",
                        "",
                        due_at(month),
                        first.received_at if first else None,
                    )
                )
    return out


def _file_issues(d: Deliveries) -> list[dict]:
    """A rejected file is resolved by the first accepted delivery after it for the same city
    and month (reports: loaded or superseded), for the insurer of the same extract and day."""
    out = []
    for f in d.fates:
        if f.status != "rejected" or f.source not in ("report", "insurer_policy", "insurer_claim"):
            continue
        if f.source == "report":
            y, mo = map(int, f.period.split("-"))
            month, provider, city = date(y, mo, 1), f.city_code, f.city_code
            later = [
                g.received_at
                for g in d.fates
                if g.source == "report"
                and g.status in ("loaded", "superseded")
                and (g.city_code, g.period) == (f.city_code, f.period)
                and g.received_at > f.received_at
            ]
        else:
            month, provider, city = date.fromisoformat(f.period), "insurer", ""
            later = [
                g.received_at
                for g in d.fates
                if g.source == f.source
                and g.status == "loaded"
                and g.period == f.period
                and g.received_at > f.received_at
            ]
        out.append(
            _issue(
                provider,
                city,
                "file_rejected",
                month,
                f.path,
                None,
                "",
                str(f.reason_code),
                f.received_at,
                min(later) if later else None,
            )
        )
    return out


def _report_row_issues(d: Deliveries) -> list[dict]:
    """A bad row is its city, month, sheet, the value that is wrong and its occurrence among
    equal ones; open while the report that counts has it, else resolved when that report came
    (or, should it have come first, when the last report with the row did)."""
    sightings: dict[tuple, list] = {}
    current = {}
    for rep in d.reports:
        if rep.status not in ("loaded", "superseded"):
            continue
        key_of = (rep.city.code, rep.month)
        if rep.status == "loaded":
            current[key_of] = rep
        seen: Counter = Counter()
        for sheet, row, county, header in rep.quarantined:
            kind = "activities" if sheet.startswith("活动") else "trainings"
            value = "".join(county.split())
            seen[(kind, value)] += 1
            key = (*key_of, kind, value, seen[(kind, value)])
            sightings.setdefault(key, []).append((rep, row, header))
    out = []
    for key, seen in sightings.items():
        cur = current[key[:2]]
        open_ = [s for s in seen if s[0] is cur]
        rep, row, header = open_[0] if open_ else max(seen, key=lambda s: s[0].received)
        last = max(s[0].received for s in seen)
        out.append(
            _issue(
                rep.city.code,
                rep.city.code,
                "row_quarantined",
                rep.month,
                rep.path,
                row,
                header,
                "county_of_other_city",
                min(s[0].received for s in seen),
                None if open_ else max(cur.received, last),
            )
        )
    return out


def _insurer_row_issues(m: InsurerModel, d: Deliveries) -> list[dict]:
    """Each planted row, open until a later version of the same policy or claim loads: a row of
    the same number, not planted, in a later day's file (every regular extract loads)."""
    arrival = {f.path: f.received_at for f in d.fates}
    counties = reference.counties()
    out = []
    for stream, rows, number in (
        ("policy", m.policy_rows, "policy"),
        ("claim", m.claim_rows, "claim"),
    ):
        stem = "JS_POLICY" if stream == "policy" else "JS_CLAIM"
        planted = rows["kind"].isin(list(QUARANTINE_REASON)).to_numpy()
        numbers = rows.loc[planted, number].unique()
        good = rows[~planted & rows[number].isin(numbers).to_numpy()]
        later_days = good.groupby(number)["file_day"].apply(sorted).to_dict()
        for r in rows[planted].itertuples(index=False):
            day = pd.Timestamp(r.file_day).date()
            path = f"insurer/{stem}_{day:%Y%m%d}.csv"
            after = [x for x in later_days.get(getattr(r, number), []) if x > r.file_day]
            resolved = (
                arrival[f"insurer/{stem}_{pd.Timestamp(after[0]).date():%Y%m%d}.csv"]
                if after
                else None
            )
            code = QUARANTINE_REASON[r.kind].value
            out.append(
                _issue(
                    "insurer",
                    counties[r.county_idx].city_code,
                    "row_quarantined",
                    day,
                    path,
                    r.line,
                    _INSURER_FIELD[(stream, code)],
                    code,
                    arrival[path],
                    resolved,
                )
            )
    return out


def write(
    truth_dir: Path,
    plan: Plan,
    m: InsurerModel,
    counted: list[Report],
    d: Deliveries,
    pops: dict[int, np.ndarray],
    summary: dict,
) -> dict:
    truth_dir.mkdir(parents=True, exist_ok=True)
    county, city = insurance(plan, m, pops)
    acts, trains = reports(counted)
    tables = {
        "insurance_county_year": county,
        "insurance_city_year": city,
        "insurance_progress": insurance_progress(plan, m, pops),
        "population": population_table(pops),
        "activities_monthly": acts,
        "training_monthly": trains,
        "report_completeness": completeness(plan, d),
    }
    tables["reporting_rates"] = reporting_rates(tables["report_completeness"])
    tables["data_issues"] = data_issues(plan, m, d)
    files = pd.DataFrame(
        [
            {
                "source": f.source,
                "file_name": f.path,
                "file_sha256": f.sha256,
                "received_at": f.received_at.isoformat(),
                "status": f.status,
                "reason_code": str(f.reason_code),
                "reason": f.reason,
                "rows_in_file": f.rows_in_file,
                "rows_received": f.rows_received,
                "rows_loaded": f.rows_loaded,
                "rows_quarantined": f.rows_quarantined if f.rows_received else 0,
                "in_load_audit": f.in_load_audit,
                "same_as": f.same_as,
                "city_code": f.city_code,
                "period": f.period,
                "encoding": f.encoding,
            }
            for f in d.fates
        ]
    )
    quarantine = pd.DataFrame(
        [
            {
                "file_name": q.path,
                "sheet": q.sheet,
                "row_number": q.row_number,
                "reason_code": str(q.reason_code),
            }
            for q in d.quarantined
        ],
        columns=["file_name", "sheet", "row_number", "reason_code"],
    )
    tables["files"] = files
    tables["quarantine"] = quarantine
    for name, df in tables.items():
        df.to_csv(truth_dir / f"{name}.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    summary = {
        **summary,
        # the reporting tables hold for a build after the last due date of the range
        "reporting_complete_after": due_at(report_months(plan)[-1]).isoformat(),
        "tables": {k: len(v) for k, v in tables.items()},
        "files_by_status": files["status"].value_counts().sort_index().to_dict(),
        "rows_quarantined_by_reason": quarantine["reason_code"]
        .value_counts()
        .sort_index()
        .to_dict(),
    }
    # without the paths, so that one seed gives one truth wherever it is written
    portable = {k: v for k, v in summary.items() if k not in ("inbox", "truth_dir")}
    (truth_dir / "summary.json").write_text(
        json.dumps(portable, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
    )
    return summary
