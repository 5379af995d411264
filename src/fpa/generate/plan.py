"""The generator's model at the aggregate level: what each county sold and paid, year by year.

Everything the files will hold is decided here first, at province scale, from the anchors
(anchors.toml, exact) and the seed (the rest); the row-level realisation then has to add up to
it, and the truth file is computed from the model, never from the files.
"""

import tomllib
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from fpa import reference

PRODUCTS = ("JSGA", "JSAX", "JSTS")
LAST_TARGET_YEAR = 2023  # the province issues no targets from 2024 on


def load_toml(name: str) -> dict:
    return tomllib.loads(resources.files("fpa.generate").joinpath(name).read_text("utf-8"))


def rng_for(seed: int, *purpose: int | str) -> np.random.Generator:
    """An independent stream per purpose, so adding a draw somewhere never shifts another."""
    key = [seed] + [
        p if isinstance(p, int) else int.from_bytes(p.encode(), "little") % 2**63 for p in purpose
    ]
    return np.random.default_rng(key)


def split_integer(
    total: int, weights: np.ndarray, fixed: np.ndarray | None = None, cap: np.ndarray | None = None
) -> np.ndarray:
    """Split `total` into integers proportional to `weights` (largest remainder).

    `fixed` holds values already decided (-1 where free); free shares are kept below `cap`,
    the excess going to the others.
    """
    n = len(weights)
    out = np.zeros(n, dtype=np.int64)
    free = np.ones(n, dtype=bool) if fixed is None else fixed < 0
    if fixed is not None:
        out[~free] = fixed[~free]
    rest = total - int(out.sum())
    if rest < 0 or (rest > 0 and not free.any()):
        raise ValueError(f"cannot split {total}: fixed parts sum to {int(out.sum())}")
    open_ = free.copy()
    while rest > 0:
        w = np.where(open_, weights, 0.0)
        raw = rest * w / w.sum()
        part = np.floor(raw).astype(np.int64)
        left = rest - int(part.sum())
        order = np.argsort(-(raw - part), kind="stable")
        part[order[:left]] += 1
        if cap is not None:
            over = open_ & (out + part > cap)
            if over.any():
                # cap those and split the rest again among the others
                out[over] = cap[over]
                rest = total - int(out.sum())
                open_ &= ~over
                if rest > 0 and not open_.any():
                    raise ValueError(f"cannot split {total} under a cap of {cap}")
                continue
        out += part
        rest = 0
    return out


@dataclass
class Plan:
    years: list[int]
    factor: dict[int, float]
    seed: int
    # indexed [year index, product index, county index]
    units: np.ndarray
    price_cents: np.ndarray
    claims_n: np.ndarray
    claims_cents: np.ndarray
    # (year, city_code) -> target units, JSGA, years up to LAST_TARGET_YEAR
    targets: dict[tuple[int, str], int] = field(default_factory=dict)

    @property
    def counties(self) -> tuple[reference.County, ...]:
        return reference.counties()


def _per_year(values: list, years: list[int], first_year: int = 2017) -> dict[int, float]:
    """A list given for first_year, first_year+1, …, extended by its ends."""
    return {y: values[min(max(y - first_year, 0), len(values) - 1)] for y in years}


def build_plan(years: list[int], factor: dict[int, float], seed: int) -> Plan:
    anchors = load_toml("anchors.toml")
    shape = load_toml("shape.toml")
    vol = shape["volumes"]
    cities = reference.cities()
    counties = reference.counties()
    city_index = {c.name: i for i, c in enumerate(cities)}
    county_index = {c.name: i for i, c in enumerate(counties)}
    county_city = np.array([city_index[c.city_name] for c in counties])
    ny, nc, nk = len(years), len(cities), len(counties)
    trend = {int(k): v for k, v in shape["trend"].items()}
    tyears = sorted(trend)

    # --- JSGA units per city and year, at province scale -------------------------------------
    base = np.array([anchors["city_units_2020"][c.name] for c in cities], dtype=float)
    city_units = np.zeros((ny, nc), dtype=np.int64)
    for yi, y in enumerate(years):
        t = trend[min(max(y, tyears[0]), tyears[-1])]
        noise = rng_for(seed, "city_units", y).lognormal(0, vol["city_noise_sigma"], nc)
        if y == 2020:  # the split of 2020 is itself an anchor
            noise[:] = 1.0
        city_units[yi] = np.round(base * t * noise).astype(np.int64)
    city_anchor = {(a["year"], a["city"]): a for a in anchors["city_year"]}
    for (y, city), a in city_anchor.items():
        if y in years:
            city_units[years.index(y), city_index[city]] = a["units"]

    # --- split into counties ------------------------------------------------------------------
    county_weight = rng_for(seed, "county_weight").lognormal(0, 0.5, nk)
    county_anchor = {a["year"]: a["units"] for a in anchors["county_year"]}
    units = np.zeros((ny, len(PRODUCTS), nk), dtype=np.int64)
    for yi, y in enumerate(years):
        w = county_weight * rng_for(seed, "county_noise", y).lognormal(0, 0.05, nk)
        fixed = np.full(nk, -1, dtype=np.int64)
        cap = None
        if y in county_anchor:
            for name, u in county_anchor[y].items():
                fixed[county_index[name]] = u
            # the anchors are the year's largest counties: keep the others below the smallest,
            # each under its own cap so that no two sit on the same value
            cap = np.floor(
                (min(county_anchor[y].values()) - 1)
                * rng_for(seed, "county_cap", y).uniform(0.8, 1.0, nk)
            ).astype(np.int64)
        for ci in range(nc):
            members = np.flatnonzero(county_city == ci)
            units[yi, 0, members] = split_integer(
                int(city_units[yi, ci]),
                w[members],
                fixed[members],
                None if cap is None else cap[members],
            )
    lo, hi = vol["jsax_share"]
    jsax_share = rng_for(seed, "jsax_share").uniform(lo, hi, nk)
    lo, hi = vol["jsts_share"]
    jsts_share = rng_for(seed, "jsts_share").uniform(lo, hi, nk)
    units[:, 1] = np.round(units[:, 0] * jsax_share)
    units[:, 2] = np.round(units[:, 0] * jsts_share)

    # --- prices ---------------------------------------------------------------------------------
    price_cents = np.zeros_like(units)
    city_price = {c.name: _per_year(anchors["jsga_unit_price_yuan"][c.name], years) for c in cities}
    for yi, y in enumerate(years):
        for ki, c in enumerate(counties):
            price_cents[yi, 0, ki] = round(city_price[c.city_name][y] * 100)
    for (y, city), a in city_anchor.items():
        if y in years and round(a["unit_price_yuan"] * 100) != round(city_price[city][y] * 100):
            raise ValueError(f"anchors.toml: {city} {y} price disagrees with the price table")
    price_cents[:, 1] = round(anchors["unit_price_yuan"]["JSAX"] * 100)
    price_cents[:, 2] = round(anchors["unit_price_yuan"]["JSTS"] * 100)

    # --- settled claims (by 结案日期 year), JSGA per city then split --------------------------
    r = rng_for(seed, "claim_city")
    rate = r.uniform(*vol["jsga_claim_rate"], nc)
    mean = r.uniform(*vol["jsga_claim_mean_yuan"], nc)
    claims_n = np.zeros_like(units)
    claims_cents = np.zeros_like(units)
    province_anchor = {a["year"]: a for a in anchors["province_year"]}
    for yi, y in enumerate(years):
        r = rng_for(seed, "claim_year", y)
        n_city = np.round(city_units[yi] * rate * r.lognormal(0, 0.05, nc)).astype(np.int64)
        paid_city = np.round(n_city * mean * 100 * r.lognormal(0, 0.05, nc)).astype(np.int64)
        anchored = np.zeros(nc, dtype=bool)
        for (ay, city), a in city_anchor.items():
            if ay == y and "claims_settled" in a:
                ci = city_index[city]
                anchored[ci] = True
                n_city[ci] = a["claims_settled"]
                paid_city[ci] = round(a["claims_paid_yuan"] * 100)
        if y in province_anchor:
            premium = int((units[yi, 0] * price_cents[yi, 0]).sum())
            want = round(province_anchor[y]["loss_ratio"] * premium)
            free = ~anchored
            paid_city[free] = split_integer(
                want - int(paid_city[anchored].sum()), paid_city[free].astype(float)
            )
        for ci in range(nc):
            members = np.flatnonzero(county_city == ci)
            n_k = split_integer(int(n_city[ci]), units[yi, 0, members].astype(float) + 1e-9)
            claims_n[yi, 0, members] = n_k
            noise = rng_for(seed, "claim_county", y, ci).lognormal(0, 0.1, len(members))
            claims_cents[yi, 0, members] = split_integer(
                int(paid_city[ci]), n_k * noise + 1e-12 * (n_k > 0)
            )
        for pi, p in ((1, "jsax"), (2, "jsts")):
            n_k = np.round(units[yi, pi] * vol[f"{p}_claim_rate"]).astype(np.int64)
            noise = rng_for(seed, "claim_other", p, y).lognormal(0, 0.1, nk)
            claims_n[yi, pi] = n_k
            claims_cents[yi, pi] = np.round(n_k * vol[f"{p}_claim_mean_yuan"] * 100 * noise)

    # --- targets (JSGA, up to 2023) -------------------------------------------------------------
    targets: dict[tuple[int, str], int] = {}
    for yi, y in enumerate(years):
        if y > LAST_TARGET_YEAR:
            continue
        ratio = rng_for(seed, "target", y).uniform(0.95, 1.5, nc)
        for ci, c in enumerate(cities):
            a = city_anchor.get((y, c.name), {})
            targets[(y, c.code)] = a.get("target_units") or int(
                round(city_units[yi, ci] / ratio[ci], -3)
            )

    plan = Plan(years, factor, seed, units, price_cents, claims_n, claims_cents, targets)
    return _scaled(plan)


def _scaled(plan: Plan) -> Plan:
    """Apply each year's scale factor, then plant one county-year with claims but no policies."""
    for yi, y in enumerate(plan.years):
        f = plan.factor[y]
        if f != 1.0:
            plan.units[yi] = np.round(plan.units[yi] * f)
            plan.claims_n[yi] = np.round(plan.claims_n[yi] * f)
            plan.claims_cents[yi] = np.where(
                plan.claims_n[yi] > 0, np.round(plan.claims_cents[yi] * f), 0
            )
            for key in [k for k in plan.targets if k[0] == y]:
                plan.targets[key] = max(1, round(plan.targets[key] * f))
        # every settled claim pays at least 1 元
        plan.claims_cents[yi] = np.maximum(plan.claims_cents[yi], plan.claims_n[yi] * 100)
        # A JSTS county with claims (under policies that never arrived) and no policy that year:
        # the marts must show 0 policies next to its claims, not drop the row.
        k = int(rng_for(plan.seed, "policyless", y).integers(len(plan.counties)))
        plan.units[yi, 2, k] = 0
        if plan.claims_n[yi, 2, k] == 0:
            plan.claims_n[yi, 2, k] = 1
            plan.claims_cents[yi, 2, k] = 300_000
    return plan
