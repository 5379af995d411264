"""Resident population (常住人口, contract §4): one workbook per yearbook, and its model.

The population of the end of 2020 is anchored by city (anchors.toml: the coverage the
newsletters print for 2020); counties share their city's by the seed, and drift a little each
year. The yearbook of year Y arrives early in Y+1, so the sample's newest year has none yet (the
warehouse takes the year before). In messy mode a file may give 万人 with two decimals (what
is loaded is then the figure × 10,000: the truth is rounded to 100 persons), short or old county
names (横县 in the yearbooks before its renaming), and 合计 rows per city and for the province.
"""

from datetime import date, datetime, time, timedelta

import numpy as np

from fpa import reference
from fpa.generate.delivery import CST, Deliveries, Fate, arrival
from fpa.generate.plan import Plan, load_toml, rng_for, split_integer
from fpa.generate.reports import _alias_forms, _county_form
from fpa.generate.workbooks import Sheet, xlsx_bytes

COUNTY_LEAST, COUNTY_MOST = 100_000, 1_500_000
WAN_RATE = 0.3  # files in 万人
CITY_TOTAL_RATE = 0.4  # files with a 合计 per city
PROVINCE_TOTAL_RATE = 0.5
CITY_SHORT_RATE = 0.1  # a 市 cell without 市 (河池)


def populations(plan: Plan) -> dict[int, np.ndarray]:
    """Persons per county at the end of each year of the plan, as the yearbook has them."""
    anchors = load_toml("anchors.toml")
    counties = reference.counties()
    nk = len(counties)
    # counties anchored to date hold at least three residents per unit sold (coverage ≤ 1/3)
    least = np.full(nk, COUNTY_LEAST, dtype=np.int64)
    index = {c.name: i for i, c in enumerate(counties)}
    for a in anchors["as_of"]:
        for name, u in a.get("units", {}).items():
            if name in index:
                least[index[name]] = max(least[index[name]], 3 * u)
    weight = np.sqrt(rng_for(plan.seed, "county_weight").lognormal(0, 0.5, nk))
    weight *= rng_for(plan.seed, "population_weight").lognormal(0, 0.25, nk)
    base = np.zeros(nk, dtype=np.int64)
    for city in reference.cities():
        members = np.array([i for i, c in enumerate(counties) if c.city_code == city.code])
        total = anchors["population_2020"][city.name]
        lo = least[members]
        base[members] = lo + split_integer(
            total - int(lo.sum()), weight[members], cap=COUNTY_MOST - lo
        )
    growth = rng_for(plan.seed, "population_growth").uniform(-0.006, 0.012, nk)
    out = {}
    for y in plan.years:
        noise = (
            1.0
            if y == 2020
            else 1 + rng_for(plan.seed, "population_noise", y).normal(0, 0.0015, nk)
        )
        out[y] = np.round(base * (1 + growth) ** (y - 2020) * noise).astype(np.int64)
    return out


def yearbook_years(plan: Plan) -> list[int]:
    """The years whose yearbook has arrived by the end of the range: all but the newest."""
    return plan.years[:-1]


def _layout(clean: bool, r) -> dict:
    if clean:
        return {"wan": False, "title": True, "city_totals": False, "province_total": None}
    return {
        "wan": r.random() < WAN_RATE,
        "title": r.random() < 0.7,
        "city_totals": r.random() < CITY_TOTAL_RATE,
        "province_total": (
            str(r.choice(["top", "bottom"])) if r.random() < PROVINCE_TOTAL_RATE else None
        ),
    }


def _layouts(plan: Plan, clean: bool) -> dict[int, dict]:
    years = yearbook_years(plan)
    out = {y: _layout(clean, rng_for(plan.seed, "population", y)) for y in years}
    if clean or len(years) < 2:
        return out
    # every deviation in every messy sample of two yearbooks or more
    r = rng_for(plan.seed, "population_files")
    for key, value in (("wan", True), ("city_totals", True), ("province_total", "bottom")):
        if not any(out[y][key] for y in years):
            out[years[int(r.integers(len(years)))]][key] = value
    return out


def loaded(plan: Plan, clean: bool) -> dict[int, np.ndarray]:
    """Persons per county of each yearbook delivered, as the warehouse loads them (a 万人 file's
    figures are whole hundreds)."""
    pop = populations(plan)
    layouts = _layouts(plan, clean)
    return {
        y: (np.round(pop[y], -2) if layouts[y]["wan"] else pop[y]) for y in yearbook_years(plan)
    }


def _old_name(k: int, year_end: date) -> str | None:
    """The county's name at the end of the year, where it has been renamed since (横县)."""
    c = reference.counties()[k]
    for a in reference.aliases():
        if (
            a.kind == "old"
            and a.region_code == c.code
            and not a.alias.startswith(c.city_name[:2])
            and year_end < date.fromisoformat(a.renamed_in + "-01")
        ):
            return a.alias
    return None


def _sheet(y: int, persons: np.ndarray, lay: dict, r, clean: bool, dev: dict, forms: dict) -> Sheet:
    """The yearbook's table of year y: title, header, a row per county, 合计 rows if any."""
    counties = reference.counties()
    headers: dict[str, list[str]] = {}
    for h in reference.report_headers():
        if h["kind"] == "population" and h["field"] in ("city", "county"):
            headers.setdefault(h["field"], []).append(h["header"])

    def fig(v) -> float | int:
        # 万人 with two decimals: the figures are whole hundreds, so exactly
        return round(int(v) / 10000, 2) if lay["wan"] else int(v)

    def syn(field: str) -> str:
        if clean or r.random() >= dev["synonym_header_rate"]:
            return headers[field][0]
        return str(r.choice(headers[field]))

    rows: list[list] = []
    merges = []
    if lay["title"]:
        rows.append([f"广西壮族自治区{y}年末常住人口（分县）", None, None])
        merges.append((1, 1, 1, 3))
    rows.append(
        [syn("city"), syn("county"), "常住人口（万人）" if lay["wan"] else "常住人口（人）"]
    )
    total = ["全区合计" if r.random() < 0.5 else "合计", None, fig(persons.sum())]
    if lay["province_total"] == "top":
        rows.append(["全区", None, total[2]])
    for city in reference.cities():
        members = [i for i, c in enumerate(counties) if c.city_code == city.code]
        city_sum = fig(persons[members].sum())
        above = lay["city_totals"] and r.random() < 0.5
        if above:  # the city's own row above its counties is its 合计
            rows.append([city.name, None, city_sum])
        for k in members:
            # the name of the time (横县 until 2021), else now and then a short or prefixed one
            old = None if clean else _old_name(k, date(y, 12, 31))
            name = old or _county_form(k, r, clean, dev, forms)
            short = not clean and r.random() < CITY_SHORT_RATE
            rows.append([city.short if short else city.name, name, fig(persons[k])])
        if lay["city_totals"] and not above:
            rows.append([city.name, str(r.choice(["小计", "合计"])), city_sum])
    if lay["province_total"] == "bottom":
        rows.append(total)
    return Sheet("常住人口" if clean or r.random() < 0.7 else "Sheet1", rows, merges)


def write(d: Deliveries, plan: Plan, clean: bool) -> dict[int, np.ndarray]:
    """The yearbooks that have arrived, each early in the year after its own (like the targets,
    a file of the province's office); returns what the warehouse loads from them."""
    dev = load_toml("shape.toml")["deviations"]
    forms = _alias_forms()
    layouts = _layouts(plan, clean)
    got = loaded(plan, clean)
    for y in yearbook_years(plan):
        r = rng_for(plan.seed, "population_rows", y)
        sheet = _sheet(y, got[y], layouts[y], r, clean, dev, forms)
        received = arrival(date(y + 1, 1, 1) + timedelta(days=int(r.integers(45, 120))), 10, 0)
        saved = datetime.combine(received.date() - timedelta(days=1), time(16), CST)
        path = f"population/常住人口_{y}.xlsx"
        sha = d.write(path, xlsx_bytes([sheet], saved), received)
        d.fates.append(
            Fate(
                "population",
                path,
                received,
                "loaded",
                sha,
                rows_in_file=len(got[y]),
                period=str(y),
            )
        )
    return got
