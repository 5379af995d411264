"""The generator's model at the aggregate level: what each county sold and paid, year by year,
and how much of it fell on or before each anchored day of the year.

Everything the files will hold is decided here first, at province scale, from the anchors
(anchors.toml, exact) and the seed (the rest); the row-level realisation then has to add up to
it, and the truth file is computed from the model, never from the files.

A published figure is as of a day ("截至8月31日……"). The plan holds, for every year with such
days, the cumulative values of every product and county on each of them (`units_to`,
`claims_n_to`, `claims_cents_to`); the realisation dates exactly that part of a county's
policies (投保日期) and settled claims (结案日期) into [1 January, day] and the rest after it.
"""

import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources

import numpy as np

from fpa import reference

PRODUCTS = tuple(p.code for p in reference.products())  # in the seed's order
LAST_TARGET_YEAR = 2023  # the province issues no targets from 2024 on
PROVINCE = "全区"
# Sales by month: the campaign (开门红) sells most units in the first months of the year.
MONTH_WEIGHT = np.array([22, 16, 16, 11, 8, 6, 5, 4, 3, 3, 3, 3], dtype=float)
# After an anchored day a county that sold (or paid) more than its season says still sells at
# least this share of what the season would bring: a figure to date never ends a year.
REMAINDER = 0.5
# A settled claim's amount stays below its product's ceiling: the amounts of a county's claims
# are drawn with weights up to ~27 times their mean (insurer._amounts), so means stay below
# ceiling / 30.
MEAN_BELOW_CEILING = 30
_NONE = np.iinfo(np.int64).max // 4  # no upper bound


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
        if w.sum() <= 0:  # nothing left to weigh by: evenly among the open ones
            w = open_.astype(float)
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


def year_days(y: int) -> np.ndarray:
    return np.arange(np.datetime64(f"{y}-01-01"), np.datetime64(f"{y + 1}-01-01"))


def sales_weights(days: np.ndarray) -> np.ndarray:
    """Each day's weight in the year's sales (its month's weight)."""
    return MONTH_WEIGHT[days.astype("datetime64[M]").astype(np.int64) % 12]


def month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def report_months(plan: "Plan", years: list[int] | None = None) -> list[date]:
    """The months of `years` (default the plan's) that have ended by the range's last day."""
    months = [date(y, m, 1) for y in years or plan.years for m in range(1, 13)]
    return [m for m in months if month_end(m) <= plan.last_day]


def season_share(day: date, kind: str) -> float:
    """The share of a year's policies ("sales") or settled claims ("claims", even through the
    year) that falls on or before `day`."""
    days = year_days(day.year)
    w = sales_weights(days) if kind == "sales" else np.ones(len(days))
    return float(w[days <= np.datetime64(day)].sum() / w.sum())


@dataclass
class Plan:
    years: list[int]
    factor: dict[int, float]
    seed: int
    # indexed [year index, product index, county index]: the whole year
    units: np.ndarray
    price_cents: np.ndarray
    claims_n: np.ndarray
    claims_cents: np.ndarray
    # (year, city_code) -> target units, JSGA, years up to LAST_TARGET_YEAR
    targets: dict[tuple[int, str], int] = field(default_factory=dict)
    # year -> its anchored days before 31 December, in order; the values to date on each,
    # [day, product, county], cumulative from 1 January (years without such days are absent)
    cut_days: dict[int, list[date]] = field(default_factory=dict)
    units_to: dict[int, np.ndarray] = field(default_factory=dict)
    claims_n_to: dict[int, np.ndarray] = field(default_factory=dict)
    claims_cents_to: dict[int, np.ndarray] = field(default_factory=dict)
    until: date | None = None  # the range's last day, when not 31 December (build_plan)

    @property
    def last_day(self) -> date:
        return self.until or date(self.years[-1], 12, 31)

    @property
    def counties(self) -> tuple[reference.County, ...]:
        return reference.counties()

    def segments(self, yi: int):
        """The year cut at its anchored days: [(first day, last day)] and the units, settled
        claims and their cents of each stretch, [stretch, product, county]."""
        y = self.years[yi]
        cuts = [np.datetime64(d) for d in self.cut_days.get(y, [])]
        firsts = [np.datetime64(f"{y}-01-01")] + [d + 1 for d in cuts]
        lasts = cuts + [np.datetime64(f"{y}-12-31")]

        def stretches(full: np.ndarray, to: dict) -> np.ndarray:
            cum = to[y] if y in to else np.zeros((0, *full.shape), np.int64)
            return np.diff(
                np.concatenate([np.zeros((1, *full.shape), np.int64), cum, [full]]), axis=0
            )

        return (
            list(zip(firsts, lasts, strict=True)),
            stretches(self.units[yi], self.units_to),
            stretches(self.claims_n[yi], self.claims_n_to),
            stretches(self.claims_cents[yi], self.claims_cents_to),
        )

    def to_date(self, table: str, y: int, day: date) -> np.ndarray:
        """[product, county] on an anchored day (or 31 December) of year y."""
        full = {"units": self.units, "claims_n": self.claims_n, "claims_cents": self.claims_cents}
        if day == date(y, 12, 31):
            return full[table][self.years.index(y)]
        return getattr(self, f"{table}_to")[y][self.cut_days[y].index(day)]


def _per_year(values: list, years: list[int], first_year: int = 2017) -> dict[int, float]:
    """A list given for first_year, first_year+1, …, extended by its ends."""
    return {y: values[min(max(y - first_year, 0), len(values) - 1)] for y in years}


class _Areas:
    """Area names of anchors.toml (全区, a city, a county) as masks over the counties."""

    def __init__(self) -> None:
        counties = reference.counties()
        self.county_index = {c.name: i for i, c in enumerate(counties)}
        self.city_of = np.array([c.city_name for c in counties])

    def mask(self, name: str) -> np.ndarray:
        if name == PROVINCE:
            return np.ones(len(self.city_of), dtype=bool)
        if name in self.county_index:
            m = np.zeros(len(self.city_of), dtype=bool)
            m[self.county_index[name]] = True
            return m
        m = self.city_of == name
        if not m.any():
            raise ValueError(f"anchors.toml: unknown area {name!r}")
        return m


def anchored_years(anchors: dict | None = None) -> set[int]:
    """The years some published figure is anchored in (they are generated whole)."""
    anchors = anchors or load_toml("anchors.toml")
    return {a["year"] for kind in ("city_year", "county_year") for a in anchors[kind]} | {
        a["date"].year for a in anchors["as_of"]
    }


def build_plan(
    years: list[int], factor: dict[int, float], seed: int, until: date | None = None
) -> Plan:
    """The figures of every year, county and product. `until` (a day of the last year) ends the
    range early: the last year then holds what is sold and settled by that day (its share of the
    season), so that the newest data is yesterday's in a demo."""
    anchors = load_toml("anchors.toml")
    if until is not None:
        if until.year != years[-1]:
            raise ValueError(f"the range ends in {years[-1]}, not on {until}")
        if until.year in anchored_years(anchors) and until != date(until.year, 12, 31):
            raise ValueError(f"{until.year} holds published figures: it cannot end on {until}")
    shape = load_toml("shape.toml")
    vol = shape["volumes"]
    cities = reference.cities()
    counties = reference.counties()
    areas = _Areas()
    city_index = {c.name: i for i, c in enumerate(cities)}
    county_index = areas.county_index
    county_city = np.array([city_index[c.city_name] for c in counties])
    ny, nc, nk, npr = len(years), len(cities), len(counties), len(PRODUCTS)
    trend = {int(k): v for k, v in shape["trend"].items()}
    tyears = sorted(trend)
    as_of = [a for a in anchors["as_of"] if a["date"].year in years]
    cut_days = {
        y: sorted(
            {a["date"] for a in as_of if a["date"].year == y and a["date"] != date(y, 12, 31)}
        )
        for y in years
    }
    cut_days = {y: d for y, d in cut_days.items() if d}

    # --- JSGA units per city and year, at province scale -------------------------------------
    base = np.array([anchors["city_units_2020"][c.name] for c in cities], dtype=float)
    city_units = np.zeros((ny, nc), dtype=np.int64)
    for yi, y in enumerate(years):
        t = trend[min(max(y, tyears[0]), tyears[-1])]
        noise = rng_for(seed, "city_units", y).lognormal(0, vol["city_noise_sigma"], nc)
        if y == 2020:  # the base is 2020's own year (the 31 August figures at the season's share)
            noise[:] = 1.0
        city_units[yi] = np.round(base * t * noise).astype(np.int64)
    city_anchor = {(a["year"], a["city"]): a for a in anchors["city_year"]}
    county_anchor = {(a["year"], a["county"]): a for a in anchors["county_year"]}
    for (y, city), a in city_anchor.items():
        if y in years:
            city_units[years.index(y), city_index[city]] = a["units"]

    # --- split into counties ------------------------------------------------------------------
    # A county anchored to date gets the year its figure implies at the season's share; the
    # counties a list leaves out ("超过5万份的有……") stay below its threshold, to date.
    county_weight = rng_for(seed, "county_weight").lognormal(0, 0.5, nk)
    units = np.zeros((ny, npr, nk), dtype=np.int64)
    units_locked = np.zeros((ny, npr, nk), dtype=bool)  # the year itself is anchored
    below = {}  # (year, cut day) -> cap on the JSGA units to date of every county, or absent
    for yi, y in enumerate(years):
        w = county_weight * rng_for(seed, "county_noise", y).lognormal(0, 0.05, nk)
        fixed = np.full(nk, -1, dtype=np.int64)
        cap = None
        for (ay, name), a in county_anchor.items():
            if ay == y and "units" in a:
                fixed[county_index[name]] = a["units"]
                units_locked[yi, 0, county_index[name]] = True
        for a in as_of:
            if a["date"].year != y or a["product"] != "JSGA":
                continue
            s = season_share(a["date"], "sales")
            for name, u in a.get("units", {}).items():
                if name in county_index and fixed[county_index[name]] < 0:
                    fixed[county_index[name]] = round(u / s)
            if "units_others_at_most" in a:
                named = np.isin(
                    np.arange(nk), [county_index[n] for n in a["units"] if n in county_index]
                )
                # each under its own cap, so that no two sit on the same value
                c_to = np.floor(
                    a["units_others_at_most"]
                    * rng_for(seed, "county_cap", y).uniform(0.85, 1.0, nk)
                ).astype(np.int64)
                c_to[named] = _NONE
                below[(y, a["date"])] = c_to
                cap = np.where(named, _NONE, np.floor(c_to / s)).astype(np.int64)
        for ci in range(nc):
            members = np.flatnonzero(county_city == ci)
            units[yi, 0, members] = split_integer(
                int(city_units[yi, ci]),
                w[members],
                fixed[members],
                None if cap is None else cap[members],
            )
            if (y, cities[ci].name) in city_anchor:
                units_locked[yi, 0, members] = True
    lo, hi = vol["jsax_share"]
    jsax_share = rng_for(seed, "jsax_share").uniform(lo, hi, nk)
    lo, hi = vol["jsts_share"]
    jsts_share = rng_for(seed, "jsts_share").uniform(lo, hi, nk)
    units[:, 1] = np.round(units[:, 0] * jsax_share)
    units[:, 2] = np.round(units[:, 0] * jsts_share)
    # A JSTS county with claims (under policies that never arrived) and no policy that year:
    # the marts must show 0 policies next to its claims, not drop the row.
    policyless = [int(rng_for(seed, "policyless", y).integers(nk)) for y in years]
    for yi, k in enumerate(policyless):
        units[yi, 2, k] = 0
        units_locked[yi, 2, k] = True

    # --- prices ---------------------------------------------------------------------------------
    price_cents = np.zeros_like(units)
    city_price = {c.name: _per_year(anchors["jsga_unit_price_yuan"][c.name], years) for c in cities}
    county_price = anchors.get("jsga_county_price_yuan", {})
    for yi, y in enumerate(years):
        for ki, c in enumerate(counties):
            price = county_price.get(c.name, {}).get(str(y), city_price[c.city_name][y])
            price_cents[yi, 0, ki] = round(price * 100)
    price_cents[:, 1] = round(anchors["unit_price_yuan"]["JSAX"] * 100)
    price_cents[:, 2] = round(anchors["unit_price_yuan"]["JSTS"] * 100)

    # --- units to date on the anchored days -----------------------------------------------------
    units_to: dict[int, np.ndarray] = {}
    premium_to: dict[int, np.ndarray] = {}
    for y, days in cut_days.items():
        yi = years.index(y)
        shares = [season_share(d, "sales") for d in days]
        caps = np.full((len(days), npr, nk), _NONE, dtype=np.int64)
        for j, d in enumerate(days):
            if (y, d) in below:
                caps[j, 0] = below[(y, d)]
        fixed_anchors = _anchors(as_of, y, days, "units", areas)
        units_to[y] = _to_date(units[yi], units_locked[yi], shares, fixed_anchors, caps)
        # 全区 all products: units and premium published together fix JSAX and JSTS to date
        extra = []
        for a in as_of:
            if a["date"].year != y or a["product"] != "all" or "units" not in a:
                continue
            j = days.index(a["date"])
            jsga = units_to[y][j, 0]
            du = a["units"][PROVINCE] - int(jsga.sum())
            dp = round(a["premium_yuan_approx"][PROVINCE] * 100) - int(
                (jsga * price_cents[yi, 0]).sum()
            )
            # du = jsax + jsts, dp = jsax × its price + jsts × its price
            pa, pb = int(price_cents[yi, 1, 0]), int(price_cents[yi, 2, 0])
            jsts = round((dp - pa * du) / (pb - pa))
            everywhere = areas.mask(PROVINCE)
            extra.append((j, _cells("JSAX", everywhere), du - jsts))
            extra.append((j, _cells("JSTS", everywhere), jsts))
        if extra:
            units_to[y] = _to_date(units[yi], units_locked[yi], shares, fixed_anchors + extra, caps)
        units[yi] = _room_after(units[yi], units_locked[yi], units_to[y][-1], shares[-1])
        premium_to[y] = units_to[y] * price_cents[yi]
        _check_premiums(as_of, y, days, premium_to[y], areas)

    # --- settled claims (by 结案日期 year), JSGA per city then split --------------------------
    r = rng_for(seed, "claim_city")
    rate = r.uniform(*vol["jsga_claim_rate"], nc)
    mean = r.uniform(*vol["jsga_claim_mean_yuan"], nc)
    claims_n = np.zeros_like(units)
    claims_cents = np.zeros_like(units)
    claims_locked = np.zeros_like(units, dtype=bool)
    city_units = np.array(
        [[units[yi, 0, county_city == ci].sum() for ci in range(nc)] for yi in range(ny)]
    )
    for yi, y in enumerate(years):
        r = rng_for(seed, "claim_year", y)
        n_city = np.round(city_units[yi] * rate * r.lognormal(0, 0.05, nc)).astype(np.int64)
        paid_city = np.round(n_city * mean * 100 * r.lognormal(0, 0.05, nc)).astype(np.int64)
        for (ay, city), a in city_anchor.items():
            if ay == y and "claims_settled" in a:
                ci = city_index[city]
                n_city[ci] = a["claims_settled"]
                paid_city[ci] = round(a["claims_paid_yuan"] * 100)
                claims_locked[yi, 0, county_city == ci] = True
        fixed_n = np.full(nk, -1, dtype=np.int64)
        fixed_c = np.full(nk, -1, dtype=np.int64)
        for (ay, name), a in county_anchor.items():
            if ay == y and "claims_settled" in a:
                k = county_index[name]
                fixed_n[k] = a["claims_settled"]
                fixed_c[k] = round(a["claims_paid_yuan"] * 100)
                claims_locked[yi, 0, k] = True
        for ci in range(nc):
            members = np.flatnonzero(county_city == ci)
            n_k = split_integer(
                int(n_city[ci]), units[yi, 0, members].astype(float) + 1e-9, fixed_n[members]
            )
            claims_n[yi, 0, members] = n_k
            noise = rng_for(seed, "claim_county", y, ci).lognormal(0, 0.1, len(members))
            claims_cents[yi, 0, members] = split_integer(
                int(paid_city[ci]), n_k * noise + 1e-12 * (n_k > 0), fixed_c[members]
            )
        for pi, p in ((1, "jsax"), (2, "jsts")):
            n_k = np.round(units[yi, pi] * vol[f"{p}_claim_rate"]).astype(np.int64)
            noise = rng_for(seed, "claim_other", p, y).lognormal(0, 0.1, nk)
            claims_n[yi, pi] = n_k
            claims_cents[yi, pi] = np.round(n_k * vol[f"{p}_claim_mean_yuan"] * 100 * noise)
        claims_cents[yi] = np.maximum(claims_cents[yi], claims_n[yi] * 100)

    # --- claims to date on the anchored days ----------------------------------------------------
    ceiling = np.array(
        [int(p.claim_ceiling_yuan * 100) // MEAN_BELOW_CEILING for p in reference.products()]
    )
    claims_n_to: dict[int, np.ndarray] = {}
    claims_cents_to: dict[int, np.ndarray] = {}
    for y, days in cut_days.items():
        yi = years.index(y)
        shares = [season_share(d, "claims") for d in days]
        # money follows the claims: a county's stretch pays its claims at the county's mean,
        # scaled where a figure says so, each claim at least 1 元 and the mean below the ceiling
        mean_c = np.where(claims_n[yi] > 0, claims_cents[yi] / np.maximum(claims_n[yi], 1), 0.0)
        n_to = _to_date(
            claims_n[yi],
            claims_locked[yi],
            shares,
            _anchors(as_of, y, days, "claims_settled", areas),
        )
        claims_n[yi] = _room_after(claims_n[yi], claims_locked[yi], n_to[-1], shares[-1])
        dn = np.diff(np.concatenate([np.zeros((1, npr, nk), np.int64), n_to]), axis=0)
        paid = _anchors(as_of, y, days, "claims_paid_yuan", areas)
        for a in as_of:  # a loss ratio to date: the premium to date says what was paid
            if a["date"].year == y and "loss_ratio" in a:
                j = days.index(a["date"])
                for name, ratio in a["loss_ratio"].items():
                    cells = _cells(a["product"], areas.mask(name))
                    paid.append((j, cells, round(ratio * int(premium_to[y][j][cells].sum()))))
        # where the year is anchored, what is left after each day must still pay its claims
        after = claims_n[yi] - n_to
        locked = claims_locked[yi]
        c_to = _to_date(
            claims_cents[yi],
            locked,
            shares,
            paid,
            caps=np.where(locked, claims_cents[yi] - after * 100, _NONE),
            increments=(dn * mean_c, dn * 100, dn * ceiling[:, None]),
            floors=np.where(locked, claims_cents[yi] - after * ceiling[:, None], 0),
        )
        after = claims_n[yi] - n_to[-1]
        claims_cents[yi] = np.where(
            claims_locked[yi],
            claims_cents[yi],
            c_to[-1] + np.round(after * mean_c).astype(np.int64),
        )
        rest = claims_cents[yi] - c_to[-1]
        bad = (rest < after * 100) | (rest > after * ceiling[:, None])
        if bad.any():
            raise ValueError(
                f"anchors.toml: the claims of {y} after its last anchored day do not fit "
                f"(product, county) {np.argwhere(bad)[:5].tolist()}"
            )
        claims_n_to[y], claims_cents_to[y] = n_to, c_to

    # --- targets (JSGA, up to 2023) -------------------------------------------------------------
    targets: dict[tuple[int, str], int] = {}
    published = {
        (int(y), city): t
        for y, by_city in anchors["target_units"].items()
        for city, t in by_city.items()
    }
    for yi, y in enumerate(years):
        if y > LAST_TARGET_YEAR:
            continue
        ratio = rng_for(seed, "target", y).uniform(0.95, 1.5, nc)
        for ci, c in enumerate(cities):
            units_city = int(units[yi, 0, county_city == ci].sum())
            targets[(y, c.code)] = published.get((y, c.name)) or int(
                round(units_city / ratio[ci], -3)
            )

    plan = Plan(
        years,
        factor,
        seed,
        units,
        price_cents,
        claims_n,
        claims_cents,
        targets,
        cut_days,
        units_to,
        claims_n_to,
        claims_cents_to,
    )
    share = {}
    plan.until = until
    if until is not None and until != date(until.year, 12, 31):
        share[until.year] = (season_share(until, "sales"), season_share(until, "claims"))
    return _scaled(plan, policyless, share)


def _cells(product: str, counties: np.ndarray) -> np.ndarray:
    """[product, county] mask of an anchor's product ("all" or a code) and area."""
    cells = np.zeros((len(PRODUCTS), len(counties)), dtype=bool)
    for pi, p in enumerate(PRODUCTS):
        if product in ("all", p):
            cells[pi] = counties
    return cells


def _anchors(as_of: list[dict], y: int, days: list[date], metric: str, areas: _Areas) -> list:
    """(day index, cells, exact value) of the year's figures to date of one metric; "all"
    units are solved apart (they need the premium too)."""
    out = []
    for a in as_of:
        if a["date"].year != y or a["date"] not in days or metric not in a:
            continue
        if metric == "units" and a["product"] == "all":
            continue
        for name, v in a[metric].items():
            value = round(v * 100) if metric == "claims_paid_yuan" else int(v)
            out.append((days.index(a["date"]), _cells(a["product"], areas.mask(name)), value))
    return out


def _to_date(
    full: np.ndarray,
    locked: np.ndarray,
    shares: list[float],
    anchors: list[tuple[int, np.ndarray, int]],
    caps: np.ndarray | None = None,
    increments: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    floors: np.ndarray | None = None,
) -> np.ndarray:
    """The cumulative values of every cell on each anchored day, [day, *cells], every anchor
    exact: (day index, cells, value) says those cells sum to value to date.

    A cell goes its season's way (full × share) unless an anchor moves it; anchored sums are
    split over their free cells in proportion to what the season gives them, never below what
    the cell had on the day before nor above its year where the year is itself anchored
    (`locked`), nor above `caps` [day, *cells] or a county's own later figure. `increments`
    (natural, least, most per day) replaces the season for money, which follows the claims;
    `floors` [day, *cells] are lower bounds of their own. Smaller areas first: a county's
    figure inside its city's, a city's inside the province's.
    """
    m = len(shares)
    f = full.reshape(-1).astype(np.int64)
    n = f.size
    upper = np.full((m, n), _NONE, dtype=np.int64)
    if caps is not None:
        upper = np.minimum(upper, caps.reshape(m, n))
    for j, cells, value in anchors:
        flat = cells.reshape(-1)
        if flat.sum() == 1:
            upper[j, flat] = np.minimum(upper[j, flat], value)
    for j in range(m - 2, -1, -1):  # what a cell has by a later day bounds it on every earlier one
        upper[j] = np.minimum(upper[j], upper[j + 1])
    upper = np.minimum(upper, np.where(locked.reshape(-1), f, _NONE))
    cum = np.zeros((m, n), dtype=np.int64)
    lo = np.zeros(n, dtype=np.int64)
    for j in range(m):
        if increments is None:
            # what the season still owes the cell, and at least its stretch's own share: a cell
            # pushed ahead earlier still grows, one with nothing in the year stays at 0
            natural = np.maximum(f * shares[j] - lo, f * (shares[j] - (shares[j - 1] if j else 0)))
            least = np.zeros(n, dtype=np.int64)
            hi = upper[j]
        else:
            natural = increments[0][j].reshape(-1)
            least = increments[1][j].reshape(-1).astype(np.int64)
            hi = np.minimum(upper[j], lo + increments[2][j].reshape(-1).astype(np.int64))
        floor = lo + least
        if floors is not None:
            floor = np.maximum(floor, floors[j].reshape(-1))
        if (hi < floor).any():
            raise ValueError("anchors.toml: figures to date contradict each other")
        x = np.clip(lo + np.round(natural).astype(np.int64), floor, hi)
        fixed = np.zeros(n, dtype=bool)
        for cells, value, exact in sorted(
            _guided(anchors, shares, j), key=lambda a: int(a[0].sum())
        ):
            free = cells & ~fixed
            rest = value - int(x[cells & fixed].sum()) - int(floor[free].sum())
            room = hi[free] - floor[free]
            most = int(np.minimum(room, 10**15).sum())
            if not exact:
                rest = min(max(rest, 0), most)
            elif rest < 0 or rest > most:
                raise ValueError(
                    f"anchors.toml: a figure to date ({value}) cannot be met: the cells below it "
                    f"already hold {value - rest} or cannot rise above {value - rest + most}"
                )
            x[free] = floor[free] + split_integer(rest, natural[free], cap=room)
            fixed |= cells
        if (x > hi).any() or (x < floor).any():
            raise ValueError("anchors.toml: figures to date contradict each other")
        cum[j] = x
        lo = x
    return cum.reshape((m, *full.shape))


def _guided(anchors: list, shares: list[float], j: int) -> list[tuple[np.ndarray, int, bool]]:
    """(cells, value, exact) to meet on day j: its own figures, and for every area with a figure
    on a later day only, that figure at the season's share of day j — a guide, met as closely as
    the bounds allow, so that an area heads for its later figure instead of overshooting it."""
    out = [(c.reshape(-1), v, True) for jj, c, v in anchors if jj == j]
    seen = {c.tobytes() for c, _, _ in out}
    for jj in range(j + 1, len(shares)):  # the nearest later figure of each area
        for aj, c, v in anchors:
            cells = c.reshape(-1)
            if aj == jj and cells.tobytes() not in seen:
                seen.add(cells.tobytes())
                out.append((cells, round(v * shares[j] / shares[jj]), False))
    return out


def _room_after(full: np.ndarray, locked: np.ndarray, last: np.ndarray, share: float) -> np.ndarray:
    """The year of each free cell: at least what it had by the last anchored day plus
    REMAINDER of what the rest of the season would add to it."""
    need = last + np.ceil(REMAINDER * last * (1 - share) / share).astype(np.int64)
    if (locked & (last > full)).any():
        raise ValueError("anchors.toml: a figure to date exceeds its anchored year")
    return np.where(locked, full, np.maximum(full, need))


def _check_premiums(as_of, y, days, premium_to: np.ndarray, areas: _Areas) -> None:
    """A published premium to date must follow from the units and prices: it is not solved."""
    for a in as_of:
        if a["date"].year != y or "premium_yuan" not in a:
            continue
        j = days.index(a["date"])
        for name, v in a["premium_yuan"].items():
            got = int(premium_to[j][_cells(a["product"], areas.mask(name))].sum())
            if got != round(v * 100):
                raise ValueError(
                    f"anchors.toml: {name} {a['date']} premium {v} but units × prices give "
                    f"{got / 100:.2f}"
                )


def _scaled(plan: Plan, policyless: list[int], share: dict[int, tuple[float, float]]) -> Plan:
    """Apply each year's scale factor to the year and its figures to date, stretch by stretch,
    and a cut year's share of sales and of claims (not to its targets: they are the year's);
    then give the policyless JSTS county its claim."""
    for yi, y in enumerate(plan.years):
        f = plan.factor[y]
        sold, settled = share.get(y, (1.0, 1.0))
        if f != 1.0 or y in share:
            plan.units[yi] = np.round(plan.units[yi] * f * sold)
            plan.claims_n[yi] = np.round(plan.claims_n[yi] * f * settled)
            plan.claims_cents[yi] = np.round(plan.claims_cents[yi] * f * settled)
            for to in (plan.units_to, plan.claims_n_to, plan.claims_cents_to):
                if y in to:
                    to[y] = np.round(to[y] * f).astype(np.int64)
            for key in [k for k in plan.targets if k[0] == y]:
                plan.targets[key] = max(1, round(plan.targets[key] * f))
            # every settled claim pays at least 1 元, and a stretch without claims pays nothing
            _, _, n, c = plan.segments(yi)
            c = np.where(n > 0, np.maximum(c, n * 100), 0)
            cum = np.cumsum(c, axis=0)
            plan.claims_cents[yi] = cum[-1]
            if y in plan.claims_cents_to:
                plan.claims_cents_to[y] = cum[:-1]
        k = policyless[yi]
        if plan.claims_n[yi, 2, k] == 0:  # after the last anchored day: no figure to date moves
            plan.claims_n[yi, 2, k] = 1
            plan.claims_cents[yi, 2, k] = 300_000
    return plan
