"""The insurer's daily extracts: every policy and claim of the plan, as rows and files.

Policies are realised per year, product and county so that they add up to the plan exactly;
rows planted to be quarantined and files planted to be rejected come on top. The returned
frames are the generator's model of what it wrote, from which the truth is computed.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from fpa import reference
from fpa.generate import people
from fpa.generate.delivery import Deliveries, Fate, QuarantinedRow, arrival
from fpa.generate.plan import PRODUCTS, Plan, rng_for, sales_weights
from fpa.generate.render import render
from fpa.generate.text import fmt_cents
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.sources.insurer import CLAIM_COLUMNS, POLICY_COLUMNS

# the contract's columns, defined once with the parser that reads them
POLICY_HEADER, CLAIM_HEADER = POLICY_COLUMNS, CLAIM_COLUMNS
CAUSES = np.array(["意外伤害", "疾病身故", "意外医疗", "住院津贴", "其他"])
CAUSE_P = [0.25, 0.08, 0.37, 0.25, 0.05]

# what a policy row is, in the model
COUNTED, CANCELLED, BAD_ID, MIXUP = 0, 1, 2, 3
NO_CHANGE, TOP_UP, EXPIRE, CANCEL = 0, 1, 2, 3
PERSON_BASE = {0: 0, 1: 5_000_000, 2: 10_000_000}  # person keys per product
PLANTED_PERSONS = 15_000_000
ONE_DAY = np.timedelta64(1, "D")


@dataclass
class InsurerModel:
    policies: pd.DataFrame  # one row per policy
    policy_rows: pd.DataFrame  # one row per delivered version
    claims: pd.DataFrame  # one row per claim
    claim_rows: pd.DataFrame  # one row per delivered version


# the model's small integers in the narrowest type that holds them (person keys < 2^25,
# sequence numbers < 10^7): a demo's ten years are millions of rows, kept to the end
NARROW = {
    "year": np.int16,
    "product": np.int8,
    "county": np.int16,
    "kind": np.int8,
    "units": np.int32,
    "price_cents": np.int32,
    "person": np.int32,
    "policy": np.int32,
    "phantom_person": np.int32,
}


def _frame(parts: list[tuple[dict, int]]) -> pd.DataFrame:
    """One frame from many groups' columns (a scalar stands for a whole group's column);
    building a DataFrame per group costs more than the group itself."""

    def column(key: str):
        a = np.concatenate(
            [np.full(n, p[key]) if np.isscalar(p[key]) else p[key] for p, n in parts]
        )
        if a.dtype.kind == "U":  # a few words, millions of times: a category each
            return pd.Categorical(a)
        return a.astype(NARROW[key], copy=False) if key in NARROW and a.dtype.kind == "i" else a

    # a block per column, each freed on its own when dropped
    return pd.DataFrame({key: column(key) for key in parts[0][0]}, copy=False)


def _days(first: np.datetime64, last: np.datetime64, start, end) -> tuple[np.ndarray, np.ndarray]:
    """The days of a stretch inside the range, and the season's weight of each (sales)."""
    days = np.arange(max(first, start), min(last, end) + ONE_DAY)
    w = sales_weights(days)
    return days, w / w.sum()


def _units_per_policy(total: int, probs: dict, rng: np.random.Generator) -> np.ndarray:
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    values = np.array([int(k) for k in probs])
    p = np.array(list(probs.values()), dtype=float)
    p /= p.sum()
    draws = rng.choice(values, size=int(total / (values @ p)) + 20, p=p)
    while draws.sum() < total:
        draws = np.concatenate([draws, rng.choice(values, size=20, p=p)])
    cum = np.cumsum(draws)
    k = int(np.searchsorted(cum, total))  # first index reaching the total
    out = draws[: k + 1].copy()
    out[k] = total - (cum[k - 1] if k else 0)
    return out


def _file_day(d: np.ndarray, mode: str, end) -> np.ndarray:
    """The delivery a row dated d goes into: none is dated after the range's last day (a range
    cut on the 6th ends with a file of the 6th, not of the 15th to come)."""
    if mode == "daily":
        return d
    month = d.astype("datetime64[M]")
    day = (d - month.astype("datetime64[D]")).astype(np.int64) + 1
    last = (month + 1).astype("datetime64[D]") - ONE_DAY
    return np.minimum(np.where(day <= 15, month.astype("datetime64[D]") + 14, last), end)


def realise_policies(plan: Plan, shape: dict, start, end, clean: bool) -> pd.DataFrame:
    vol, chg, dev = shape["volumes"], shape["changes"], shape["deviations"]
    parts = []
    biggest = [(0, int(np.argmax(plan.units[yi, 0]))) for yi in range(len(plan.years))]
    for yi, y in enumerate(plan.years):
        bounds, stretch_units, _, _ = plan.segments(yi)
        stretches = [_days(first, last, start, end) for first, last in bounds]
        days, w = _days(np.datetime64(f"{y}-01-01"), np.datetime64(f"{y}-12-31"), start, end)
        for pi in range(len(PRODUCTS)):
            for ki in range(len(plan.counties)):
                r = rng_for(plan.seed, "policies", y, pi, ki)
                # each stretch of the year (up to an anchored day, after it) its own units, so
                # that what the plan has by that day is exactly what is written by then
                us = [
                    _units_per_policy(int(stretch_units[s, pi, ki]), vol["units_per_policy"], r)
                    for s in range(len(bounds))
                ]
                u = np.concatenate(us)
                n = len(u)
                n_x = int(round(n * chg["cancel_rate"]))
                n_bad = 0 if clean else int(r.binomial(n, dev["bad_id_rate"]))
                n_mix = 0 if clean else int(r.binomial(n, dev["premium_unit_mixup_rate"]))
                if not clean and (pi, ki) == biggest[yi]:  # every kind, every year, at any scale
                    n_bad, n_mix = max(n_bad, 1), max(n_mix, 1)
                total = n + n_x + n_bad + n_mix
                if total == 0:
                    continue
                kind = np.repeat([COUNTED, CANCELLED, BAD_ID, MIXUP], [n, n_x, n_bad, n_mix])
                units = np.concatenate([u, r.integers(1, 3, n_x + n_bad + n_mix)])
                person = PERSON_BASE[pi] + (y - 2000) * 40_000 + np.arange(total)
                rep = np.flatnonzero(r.random(n) < vol["repeat_person_rate"])
                rep = rep[rep > 0]
                person[rep] = person[(r.random(len(rep)) * rep).astype(np.int64)]
                person[n:] = PLANTED_PERSONS + r.integers(0, 2_000_000, total - n)
                parts.append(
                    (
                        {
                            "year": y,
                            "product": pi,
                            "county": ki,
                            "kind": kind,
                            "written": np.concatenate(
                                [
                                    r.choice(d, size=len(x), p=p)
                                    for (d, p), x in zip(stretches, us, strict=True)
                                ]
                                + [r.choice(days, size=total - n, p=w)]  # planted: any day
                            ),
                            "units": units,
                            "price_cents": int(plan.price_cents[yi, pi, ki]),
                            "person": person,
                            "r": r.random(total),
                            "r2": r.random(total),
                        },
                        total,
                    )
                )
    pol = _frame(parts)

    # changes: a cancellation for the cancelled ones, a top-up or expiry for some counted ones
    written = pol["written"].to_numpy()
    r, r2 = pol["r"].to_numpy(), pol["r2"].to_numpy()
    counted = pol["kind"].to_numpy() == COUNTED
    units = pol["units"].to_numpy()
    cover_end = _plus_one_year(written)
    change = np.full(len(pol), NO_CHANGE, dtype=np.int8)
    change_date = np.full(len(pol), np.datetime64("NaT"), dtype="datetime64[D]")
    top = counted & (units >= 2) & (r < chg["top_up_rate"])
    top_date = written + (10 + (r2 * 110).astype(np.int64)).astype("timedelta64[D]")
    top &= top_date <= end
    change[top], change_date[top] = TOP_UP, top_date[top]
    exp = counted & ~top & (r > 1 - chg["expire_rate"]) & (cover_end + ONE_DAY <= end)
    change[exp], change_date[exp] = EXPIRE, cover_end[exp] + ONE_DAY
    canc = pol["kind"].to_numpy() == CANCELLED
    cancel_date = np.minimum(
        written + (1 + (r2 * 60).astype(np.int64)).astype("timedelta64[D]"), end
    )
    ok = canc & (cancel_date > written)
    # a policy written on the last day cannot be cancelled inside the range: write it earlier
    written = np.where(canc & ~ok, written - 2 * ONE_DAY, written)
    cancel_date = np.where(canc & ~ok, written + ONE_DAY, cancel_date)
    change[canc], change_date[canc] = CANCEL, cancel_date[canc]
    pol["written"] = written
    pol["change"], pol["change_date"] = change, change_date
    late = counted & (change == NO_CHANGE) & (r2 < chg["late_policy_rate"])
    delivered = written.copy()
    late_day = written + (30 + (r * 30).astype(np.int64)).astype("timedelta64[D]")
    late &= late_day <= end
    delivered[late] = late_day[late]
    pol["delivered"] = delivered
    pol["units_first"] = np.where(change == TOP_UP, units - 1, units)
    pol.drop(columns=["r", "r2"], inplace=True)

    # numbers: in order of writing within a product and year, planted rows far above; sorted
    # column by column (sort_values copies the whole frame at once)
    keys = ("person", "county", "written", "year", "product")  # the last sorts first
    order = np.lexsort(tuple(pol[c].to_numpy() for c in keys))
    pol = pd.DataFrame({c: pol.pop(c).to_numpy()[order] for c in list(pol.columns)}, copy=False)
    del order
    seq = pol.groupby(["product", "year"]).cumcount().to_numpy() + 1
    planted = pol["kind"].to_numpy() >= BAD_ID
    pol["seq"] = np.where(planted, 9_000_000 + seq, seq).astype(np.int32)
    return pol


def _plus_one_year(d: np.ndarray) -> np.ndarray:
    """The same day a year later (28 February for 29 February)."""
    month = d.astype("datetime64[M]")
    later = (month + 12).astype("datetime64[D]") + (d - month.astype("datetime64[D]"))
    # past the month's end only for 29 February: step back to the 28th
    return np.where(later.astype("datetime64[M]") != month + 12, later - ONE_DAY, later)


def realise_claims(
    plan: Plan, pol: pd.DataFrame, shape: dict, start, end, clean: bool
) -> pd.DataFrame:
    vol, chg, dev = shape["volumes"], shape["changes"], shape["deviations"]
    # each (product, county)'s counted policies by 投保日期: (days, row numbers), from the
    # columns alone (a filtered, sorted copy of the policies cost a gigabyte at demo size)
    sel = np.flatnonzero(pol["kind"].to_numpy() == COUNTED)
    w, pr, co = (pol[c].to_numpy()[sel] for c in ("written", "product", "county"))
    order = np.lexsort((w, co, pr))  # stable: equal days keep the policies' order
    sel, w, pr, co = sel[order], w[order], pr[order], co[order]
    cut = np.flatnonzero((pr[1:] != pr[:-1]) | (co[1:] != co[:-1])) + 1
    pools = {
        (int(pr[a]), int(co[a])): (w[a:b], sel[a:b])
        for a, b in zip([0, *cut.tolist()], [*cut.tolist(), len(sel)], strict=True)
        if b > a
    }
    del order, pr, co
    ceilings = [int(p.claim_ceiling_yuan * 100) for p in reference.products()]
    parts = []
    phantom_seq = 0
    biggest = [(0, int(np.argmax(plan.claims_n[yi, 0]))) for yi in range(len(plan.years))]
    for yi, y in enumerate(plan.years):
        bounds, _, stretch_n, stretch_cents = plan.segments(yi)
        stretches = [_days(first, last, start, end)[0] for first, last in bounds]
        days = np.concatenate(stretches)
        for pi in range(len(PRODUCTS)):
            for ki in range(len(plan.counties)):
                n = int(plan.claims_n[yi, pi, ki])
                r = rng_for(plan.seed, "claims", y, pi, ki)
                n_ref = int(round(n * vol["refused_claim_rate"]))
                n_open = int(round(n * vol["open_claim_rate"])) if y == plan.years[-1] else 0
                n_bad = 0 if clean else int(r.binomial(n, dev["bad_id_claim_rate"]))
                n_ceil = 0 if clean else int(r.binomial(n, dev["claim_above_ceiling_rate"]))
                if not clean and (pi, ki) == biggest[yi]:
                    n_bad, n_ceil = max(n_bad, 1), max(n_ceil, 1)
                total = n + n_ref + n_open + n_bad + n_ceil
                if total == 0:
                    continue
                kind = np.repeat(
                    ["settled", "refused", "open", "bad_id", "above_ceiling"],
                    [n, n_ref, n_open, n_bad, n_ceil],
                )
                # settled claims: each stretch of the year (up to an anchored day, after it) its
                # own number and money, settled (结案日期) inside it; the others on any day
                ns = stretch_n[:, pi, ki]
                settle = np.concatenate(
                    [r.choice(d, size=int(x)) for d, x in zip(stretches, ns, strict=True) if x]
                    + [r.choice(days, size=total - n)]
                )
                report = settle - r.integers(3, 41, total).astype("timedelta64[D]")
                is_open = kind == "open"
                report[is_open] = end - r.integers(0, 60, int(is_open.sum())).astype(
                    "timedelta64[D]"
                )
                event = report - r.integers(0, 11, total).astype("timedelta64[D]")
                amount = np.zeros(total, dtype=np.int64)
                amount[:n] = np.concatenate(
                    [np.zeros(0, dtype=np.int64)]
                    + [
                        _amounts(int(c), int(x), ceilings[pi], r)
                        for c, x in zip(stretch_cents[:, pi, ki], ns, strict=True)
                        if x
                    ]
                )
                if n_bad:
                    amount[kind == "bad_id"] = r.integers(200_00, 2000_00, n_bad)
                if n_ceil:
                    amount[kind == "above_ceiling"] = (
                        ceilings[pi] * r.uniform(1.5, 5, n_ceil)
                    ).astype(np.int64)
                # the policy: one in force at the event, else one that never arrives
                written, idx = pools.get((pi, ki), (np.array([], "datetime64[D]"), None))
                lo = np.searchsorted(written, event - 364 * ONE_DAY, "left")
                hi = np.searchsorted(written, event - ONE_DAY, "right")
                has = (hi > lo) & (r.random(total) >= vol["phantom_policy_rate"])
                policy = np.full(total, -1, dtype=np.int64)
                if has.any():
                    pick = lo[has] + (r.random(int(has.sum())) * (hi[has] - lo[has])).astype(
                        np.int64
                    )
                    policy[has] = idx[pick]
                n_ph = int((~has).sum())
                phantom_person = np.full(total, -1, dtype=np.int64)
                phantom_person[~has] = PLANTED_PERSONS + 3_000_000 + phantom_seq + np.arange(n_ph)
                phantom_seq += n_ph
                parts.append(
                    (
                        {
                            "year": y,
                            "product": pi,
                            "county": ki,
                            "kind": kind,
                            "settle": settle,
                            "report": report,
                            "event": event,
                            "amount": amount,
                            "policy": policy,
                            "phantom_person": phantom_person,
                            "cause": r.choice(CAUSES, size=total, p=CAUSE_P),
                            "resettled": (kind == "settled")
                            & (r.random(total) < chg["resettled_claim_rate"]),
                        },
                        total,
                    )
                )
    cl = _frame(parts)
    resettle_day = cl["settle"].to_numpy() + 7 * ONE_DAY
    cl["resettled"] = cl["resettled"].to_numpy() & (resettle_day <= end)

    # numbers: LP + year reported + 45 + sequence in order of reporting
    cl["report_year"] = (
        cl["report"].to_numpy().astype("datetime64[Y]").astype(np.int64) + 1970
    ).astype(np.int16)
    cl.sort_values(
        ["report", "product", "county", "settle"], inplace=True, kind="stable", ignore_index=True
    )
    cl["seq"] = (cl.groupby("report_year").cumcount().to_numpy() + 1).astype(np.int32)
    return cl


def _amounts(total: int, n: int, ceiling: int, r: np.random.Generator) -> np.ndarray:
    """n amounts in cents, each at least 1 元 and below the ceiling, summing to total exactly."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    w = np.minimum(r.lognormal(0, 0.9, n), 40.0)
    spare = total - 100 * n
    raw = spare * w / w.sum()
    part = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - part), kind="stable")
    part[order[: spare - int(part.sum())]] += 1
    out = part + 100
    if out.max() > ceiling:
        raise ValueError("a planned claim would exceed its ceiling; lower the claim mean")
    return out


def claims_before_policies(pol: pd.DataFrame, cl: pd.DataFrame, end, seed: int) -> None:
    """Deliver a few policies only after a claim under them was reported (a late policy file)."""
    written_y = pol["year"].to_numpy()
    cand = cl[(cl["kind"] == "settled") & (cl["policy"] >= 0)]
    cand = cand[
        (pol.loc[cand["policy"], "change"].to_numpy() == NO_CHANGE)
        & (written_y[cand["policy"]] == cand["year"].to_numpy())
    ]
    # 20 days later: past the next delivery even when files come twice a month
    late = cand["report"].to_numpy() + 20 * ONE_DAY
    cand = cand[late <= end]
    r = rng_for(seed, "claims_first")
    for _, g in cand.groupby("year"):
        take = g.iloc[r.choice(len(g), size=min(len(g), max(1, len(g) // 1000)), replace=False)]
        for _, c in take.iterrows():
            day = c["report"] + 20 * ONE_DAY
            if day > pol.at[c["policy"], "delivered"]:
                pol.at[c["policy"], "delivered"] = day


def _region_forms(county_idx: np.ndarray, day: np.ndarray, rate: float, r, clean: bool):
    """The county names the insurer writes, as codes into a list of forms: old names before a
    renaming, sometimes short, prefixed or with stray spaces (all normalised downstream)."""
    counties = reference.counties()
    forms = [c.name for c in counties]  # code k < 111: the canonical name of county k
    code = county_idx.astype(np.int32).copy()
    if clean:
        return pd.Categorical.from_codes(code, forms)
    index = {f: i for i, f in enumerate(forms)}

    def form(text: str) -> int:
        return index.setdefault(text, len(index))

    by_code = {c.code: i for i, c in enumerate(counties)}
    alternatives: dict[int, list[int]] = {}
    for a in reference.aliases():
        if a.level == "county" and a.kind in ("short", "prefixed"):
            alternatives.setdefault(by_code[a.region_code], []).append(form(a.alias))
    for a in reference.aliases():
        if a.kind != "old":
            continue
        k = by_code[a.region_code]
        if not a.alias.startswith(counties[k].city_name[:2]):  # the bare old name, e.g. 横县
            hit = (county_idx == k) & (day < np.datetime64(a.renamed_in + "-01"))
            code[hit] = form(a.alias)
    spaced = np.array([form(f" {c.name} ") for c in counties])
    pick = np.flatnonzero(r.random(len(code)) < rate)
    u = r.random(len(pick))
    for i, x in zip(pick.tolist(), u.tolist(), strict=True):
        k = int(county_idx[i])
        if x < 0.25:
            code[i] = spaced[k]
        elif alternatives.get(k):
            code[i] = alternatives[k][int(x * 1000) % len(alternatives[k])]
    return pd.Categorical.from_codes(code, list(index))


def _id_parts(county_idx: np.ndarray, person: np.ndarray, bad: np.ndarray, lower: np.ndarray, r):
    """ID numbers as (17-digit body, check character): the body is rendered by DuckDB."""
    codes = np.array([int(c.code) for c in reference.counties()])[county_idx]
    body = people.id_bodies(codes, person)
    check = people.check_codes(body)
    check[bad] = (check[bad] + r.integers(1, 11, int(bad.sum()))) % 11  # always another
    chars = list("0123456789X") + ["x"]
    check = np.where(lower & (check == 10), 11, check)
    return body, pd.Categorical.from_codes(check, chars)


def _lines(file_day: np.ndarray) -> np.ndarray:
    """Each row's line in its file, the rows sorted by file: its place among the rows of its
    day, after the header (line 1)."""
    first_of_day = np.searchsorted(file_day, file_day, side="left")
    return (np.arange(len(file_day)) - first_of_day + 2).astype(np.int32)


def policy_rows(
    pol: pd.DataFrame, shape: dict, clean: bool, mode: str, seed: int, end
) -> pd.DataFrame:
    """Every delivered version of every policy, typed, with the file and line it goes into.
    Built column by column in one sort order: a frame copied per step held a demo's ten years
    several times over (gigabytes)."""
    dev = shape["deviations"]
    counties = reference.counties()
    products = reference.products()
    change = pol["change"].to_numpy()
    ch = np.flatnonzero(change != NO_CHANGE)  # the policies with a second version
    policy = np.concatenate([np.arange(len(pol)), ch]).astype(np.int32)
    version = np.repeat(np.array([0, 1], dtype=np.int8), [len(pol), len(ch)])

    def both(first, second) -> np.ndarray:
        return np.concatenate([first, second])

    def col(name: str) -> np.ndarray:
        return pol[name].to_numpy()[policy]

    units, units_first, price = (col(n) for n in ("units", "units_first", "price_cents"))
    c = both(np.zeros(len(pol), dtype=np.int8), change[ch])
    change_date = pol["change_date"].to_numpy()
    day = both(pol["delivered"].to_numpy(), change_date[ch])
    second = version == 1
    units_row = np.where(second, units, units_first).astype(np.int32)
    # a first version's change is NO_CHANGE: 有效
    status = np.select([c == CANCEL, c == EXPIRE], [1, 2], 0).astype(np.int8)
    premium = np.select(
        [~second, c == CANCEL, c == TOP_UP],
        [units_first * price, -(units * price), price * (units - units_first)],
        0,
    ).astype(np.int64)
    del units, units_first, price
    kind = col("kind")
    r = rng_for(seed, "policy_rows")
    mix = kind == MIXUP
    up = r.random(len(policy)) < 0.5
    premium[mix & up] = premium[mix & up] * 10_000
    premium[mix & ~up] = np.maximum(np.round(premium[mix & ~up] / 10_000), 1)
    file_day = _file_day(day, mode, end)
    year, seq, product = col("year"), col("seq"), col("product")
    order = np.lexsort((version, seq, year, product, file_day))  # the last key sorts first
    del mix, up

    def sort(a: np.ndarray) -> np.ndarray:
        return a[order]

    file_day, year, seq, product, kind, day, policy, second = (
        sort(a) for a in (file_day, year, seq, product, kind, day, policy, second)
    )
    county_idx = pol["county"].to_numpy()[policy].astype(np.int16)
    person = pol["person"].to_numpy()[policy]
    written = pol["written"].to_numpy()[policy]
    change_day = np.where(
        second, day, np.datetime64("NaT")
    )  # a second version's day is its 批改日期
    lower = (not clean) & (r.random(len(policy)) < dev["lowercase_x_rate"])
    id_body, id_check = _id_parts(county_idx, person, kind == BAD_ID, lower, r)
    del lower
    cities = reference.cities()
    city_of = np.array([[x.code for x in cities].index(c.city_code) for c in counties])
    city_idx = city_of[county_idx]
    city = pd.Categorical.from_codes(
        city_idx
        + np.where(
            (not clean) & (r.random(len(policy)) < dev["insurer_city_short_rate"]), len(cities), 0
        ),
        [x.name for x in cities] + [x.short for x in cities],
    )
    phone_prefix, phone_rest = people.phone_parts(person)
    return pd.DataFrame(
        {
            "file_day": file_day,
            "line": _lines(file_day),
            "prefix": pd.Categorical.from_codes(product, [p.policy_prefix for p in products]),
            "pyear": year.astype(np.int16),
            "seq": seq.astype(np.int32),
            "product_code": pd.Categorical.from_codes(product, list(PRODUCTS)),
            "product_name": pd.Categorical.from_codes(product, [p.name for p in products]),
            "written": written,
            "units": sort(units_row),
            "premium": sort(premium),
            "name": people.name_codes(person),
            "id_body": id_body,
            "id_check": id_check,
            "phone_prefix": phone_prefix,
            "phone_rest": phone_rest.astype(np.int32),
            "city": city,
            "county": _region_forms(county_idx, day, dev["insurer_region_form_rate"], r, clean),
            "branch": pd.Categorical.from_codes(
                city_idx, [f"中国人寿{c.short}分公司" for c in cities]
            ),
            "status": pd.Categorical.from_codes(sort(status), ["有效", "退保", "满期"]),
            "change_day": change_day,
            "kind": kind.astype(np.int8),
            "policy": policy,
            "county_idx": county_idx,
        },
        copy=False,  # one block per column: consolidating them would copy every column
    )


CLAIM_STATUS = ["已报案", "已结案", "拒赔"]


def claim_rows(
    cl: pd.DataFrame, pol: pd.DataFrame, shape: dict, clean: bool, mode: str, seed: int, start, end
) -> pd.DataFrame:
    """Every delivered version of every claim, typed, with the file and line it goes into;
    column by column in one sort order, as policy_rows."""
    dev = shape["deviations"]
    r = rng_for(seed, "claim_rows")
    kind = cl["kind"].to_numpy()
    amount = cl["amount"].to_numpy()
    resettled = cl["resettled"].to_numpy()
    report, settle = cl["report"].to_numpy(), cl["settle"].to_numpy()
    planted = (kind == "bad_id") | (kind == "above_ceiling")
    # version 1: reported (all but the planted rows, which arrive settled in one row)
    v1 = np.flatnonzero(~planted & (report >= start))
    # version 2: settled or refused
    closed = np.flatnonzero(kind != "open")
    # version 3: the corrected amount, a week later
    again = np.flatnonzero(resettled)
    first_amount = np.where(resettled, np.round(amount * 0.8).astype(np.int64), amount)
    first_amount = np.where(kind == "refused", 0, first_amount)
    claim = np.concatenate([v1, closed, again])
    version = np.repeat(np.array([0, 1, 2], dtype=np.int8), [len(v1), len(closed), len(again)])
    status = np.concatenate(
        [
            np.zeros(len(v1), dtype=np.int8),
            np.where(kind[closed] == "refused", 2, 1).astype(np.int8),
            np.ones(len(again), dtype=np.int8),
        ]
    )
    amounts = np.concatenate(
        [np.zeros(len(v1), dtype=np.int64), first_amount[closed], amount[again]]
    )
    day = np.concatenate([report[v1], settle[closed], settle[again] + 7 * ONE_DAY])
    del first_amount
    keep = np.flatnonzero(day <= end)
    claim, version, status, amounts, day = (a[keep] for a in (claim, version, status, amounts, day))
    file_day = _file_day(day, mode, end)
    claim_year, claim_seq = cl["report_year"].to_numpy()[claim], cl["seq"].to_numpy()[claim]
    order = np.lexsort((version, claim_seq, claim_year, day, file_day))  # the last sorts first
    claim, version, status, amounts, day, file_day, claim_year, claim_seq = (
        a[order] for a in (claim, version, status, amounts, day, file_day, claim_year, claim_seq)
    )
    del order
    pidx = cl["policy"].to_numpy()[claim]
    has_pol = pidx >= 0
    pidx = np.where(has_pol, pidx, 0)
    event = cl["event"].to_numpy()[claim]
    # a policy that never arrives still has a number: from the year before the event
    ph_year = event.astype("datetime64[Y]").astype(np.int64) + 1969
    person = np.where(
        has_pol, pol["person"].to_numpy()[pidx], cl["phantom_person"].to_numpy()[claim]
    )
    county_idx = cl["county"].to_numpy()[claim].astype(np.int16)
    row_kind = kind[claim]
    lower = (not clean) & (r.random(len(claim)) < dev["lowercase_x_rate"])
    id_body, id_check = _id_parts(county_idx, person, row_kind == "bad_id", lower, r)
    del lower, person
    product = cl["product"].to_numpy()[claim]
    return pd.DataFrame(
        {
            "file_day": file_day,
            "line": _lines(file_day),
            "claim_year": claim_year.astype(np.int16),
            "claim_seq": claim_seq.astype(np.int32),
            "prefix": pd.Categorical.from_codes(
                product, [p.policy_prefix for p in reference.products()]
            ),
            "pyear": np.where(has_pol, pol["year"].to_numpy()[pidx], ph_year).astype(np.int16),
            "seq": np.where(has_pol, pol["seq"].to_numpy()[pidx], 8_000_000 + claim).astype(
                np.int32
            ),
            "product_code": pd.Categorical.from_codes(product, list(PRODUCTS)),
            "id_body": id_body,
            "id_check": id_check,
            "event": event,
            "report": report[claim],
            "settle": np.where(version > 0, settle[claim], np.datetime64("NaT")),
            "cause": pd.Categorical(cl["cause"].to_numpy()[claim], categories=list(CAUSES)),
            "amount": amounts,
            "status": pd.Categorical.from_codes(status, CLAIM_STATUS),
            "county": _region_forms(county_idx, day, dev["insurer_region_form_rate"], r, clean),
            "kind": row_kind,
            "claim": claim,
            "county_idx": county_idx,
        },
        copy=False,  # one block per column: consolidating them would copy every column
    )


STREAMS = {  # source, file stem, header, money column of the typed frame
    "policy": ("insurer_policy", "JS_POLICY", POLICY_HEADER, "premium"),
    "claim": ("insurer_claim", "JS_CLAIM", CLAIM_HEADER, "amount"),
}
QUARANTINE_REASON = {
    BAD_ID: Reason.BAD_ID_CHECKSUM,
    MIXUP: Reason.PREMIUM_UNIT_MISMATCH,
    "bad_id": Reason.BAD_ID_CHECKSUM,
    "above_ceiling": Reason.CLAIM_ABOVE_CEILING,
}


def _file_bytes(
    text: str, header: list[str], n: int, money: int, encoding: str, cut_at: float | None = None
) -> bytes:
    body = ",".join(header) + "\r\n" + (text + "\r\n" if text else "")
    if cut_at is not None:  # a transfer cut in the middle of a row: no trailer
        return body[: int(len(body) * cut_at)].encode(encoding)
    return (body + f"TRAILER,{n},{fmt_cents([money])[0]}\r\n").encode(encoding)


def write_files(
    d: Deliveries,
    prow: pd.DataFrame,
    crow: pd.DataFrame,
    shape: dict,
    clean: bool,
    seed: int,
    end: date,
    progress,
) -> None:
    dev = shape["deviations"]
    r = rng_for(seed, "insurer_files")
    for stream, rows in (("policy", prow), ("claim", crow)):
        source, stem, header, money = STREAMS[stream]
        unique_days = np.unique(rows["file_day"].to_numpy())
        as_dates = [t.date() for t in pd.to_datetime(unique_days)]
        late = as_dates[len(as_dates) // 4 :]
        utf8 = (
            set()
            if clean or stream == "claim"
            else {late[i] for i in r.choice(len(late), dev["utf8_files"], replace=False)}
        )
        again = (
            set()
            if clean
            else {
                as_dates[1:-1][i]
                for i in r.choice(len(as_dates) - 2, dev["redelivered_files"] // 2, replace=False)
            }
        )
        planted = rows[rows["kind"].isin(list(QUARANTINE_REASON))]
        for i, (day, n, total, text) in enumerate(_render_by_month(stream, rows)):
            name = f"insurer/{stem}_{day:%Y%m%d}"
            enc = "utf-8" if day in utf8 else "gb18030"
            data = _file_bytes(text, header, n, total, enc)
            received = arrival(day + timedelta(days=1))
            sha = d.write(name + ".csv", data, received)
            d.write(name + ".ok", b"", received)
            mine = planted[planted["file_day"] == np.datetime64(day)]
            for line, k in zip(mine["line"].tolist(), mine["kind"].tolist(), strict=True):
                d.quarantined.append(
                    QuarantinedRow(name + ".csv", "", line, QUARANTINE_REASON[k].value)
                )
            d.fates.append(
                Fate(
                    source,
                    name + ".csv",
                    received,
                    "loaded",
                    sha,
                    rows_in_file=n,
                    rows_quarantined=len(mine),
                    period=f"{day:%Y-%m-%d}",
                    encoding=enc,
                )
            )
            if day in again:  # the same content again, under a new name, three days later
                copy = f"{name}(1)"
                later = received + timedelta(days=3)
                d.write(copy + ".csv", data, later)
                d.write(copy + ".ok", b"", later)
                d.fates.append(
                    Fate(
                        source,
                        copy + ".csv",
                        later,
                        "duplicate",
                        sha,
                        Reason.DUPLICATE,
                        DESCRIPTIONS[Reason.DUPLICATE],
                        n,
                        period=f"{day:%Y-%m-%d}",
                        same_as=name + ".csv",
                        encoding=enc,
                    )
                )
            if progress and i % 100 == 99:
                progress(f"{source}: {i + 1}/{len(unique_days)} files")


def _render_by_month(stream: str, rows: pd.DataFrame):
    """render() a month at a time: a province year of text at once costs gigabytes."""
    days = rows["file_day"].to_numpy()  # sorted
    months = np.unique(days.astype("datetime64[M]"))
    bounds = np.searchsorted(days, months.astype(days.dtype))
    for lo, hi in zip(bounds, [*bounds[1:], len(rows)], strict=True):
        yield from render(stream, rows.iloc[lo:hi])


def write_unfinished(
    d: Deliveries, prow: pd.DataFrame, crow: pd.DataFrame, end: date, seed: int, cut: bool = False
) -> None:
    """Tonight's deliveries that must not be loaded: a truncated file, a trailer that does not
    match its rows, and a file still being transferred (no .ok). Their rows touch the range
    (cancellations of its policies, corrections of its claims), so loading any of them would
    change the published figures — the truth counts none of them. A range cut on yesterday
    (`cut`, the demo) has them as today's early deliveries, the second one a resend: a file
    dated tomorrow would read wrong on the day the demo is made."""
    r = rng_for(seed, "unfinished")
    day1 = end + timedelta(days=1)
    day2 = day1 if cut else end + timedelta(days=2)
    second = f"insurer/JS_POLICY_{day2:%Y%m%d}" + ("(1)" if cut else "")
    early = arrival(day1) if cut else None  # else each the night after its day
    last_year = prow[
        prow["change_day"].isna()
        & (prow["kind"] == COUNTED)
        & (prow["written"] >= np.datetime64(f"{end.year}-01-01"))
    ]

    def cancellations(day: date, k: int) -> tuple[str, int, int]:
        pick = last_year.iloc[
            np.sort(r.choice(len(last_year), size=min(k, len(last_year)), replace=False))
        ]
        pick = pick.assign(
            premium=-pick["premium"],
            change_day=np.datetime64(day),
            status=pd.Categorical(["退保"] * len(pick), categories=["有效", "退保", "满期"]),
            file_day=np.datetime64(day),
        )
        ((_, n, total, text),) = render("policy", pick)
        return text, n, total

    text, n, total = cancellations(day1, 40)
    data = _file_bytes(text, POLICY_HEADER, n, total, "gb18030", cut_at=0.6)
    _planted_file(
        d,
        f"insurer/JS_POLICY_{day1:%Y%m%d}",
        data,
        day1,
        "insurer_policy",
        n,
        "rejected",
        Reason.TRAILER_MISSING,
        ok=True,
        received=early,
    )  # the sender wrote .ok anyway

    text, n, total = cancellations(day2, 30)
    data = _file_bytes(text, POLICY_HEADER, n + 1, total, "gb18030")  # one row lost
    _planted_file(
        d,
        second,
        data,
        day2,
        "insurer_policy",
        n,
        "rejected",
        Reason.TRAILER_MISMATCH,
        ok=True,
        received=None if early is None else early + timedelta(hours=1),
    )

    settled = crow[
        (crow["status"] == "已结案") & (crow["settle"] >= np.datetime64(f"{end.year}-01-01"))
    ]
    fix = settled.iloc[np.sort(r.choice(len(settled), size=min(25, len(settled)), replace=False))]
    fix = fix.assign(amount=fix["amount"] * 2, file_day=np.datetime64(day1))
    ((_, n, total, text),) = render("claim", fix)
    data = _file_bytes(text, CLAIM_HEADER, n, total, "gb18030")
    _planted_file(
        d,
        f"insurer/JS_CLAIM_{day1:%Y%m%d}",
        data,
        day1,
        "insurer_claim",
        n,
        "waiting",
        Reason.NO_OK_MARKER,
        ok=False,
        received=early,
    )  # still being transferred


def _planted_file(
    d: Deliveries,
    name: str,
    data: bytes,
    day: date,
    source: str,
    n: int,
    status: str,
    reason: Reason,
    ok: bool,
    received: datetime | None = None,
) -> None:
    received = received or arrival(day + timedelta(days=1))
    sha = d.write(name + ".csv", data, received)
    if ok:
        d.write(name + ".ok", b"", received)
    d.fates.append(
        Fate(
            source,
            name + ".csv",
            received,
            status,
            sha,
            reason,
            DESCRIPTIONS[reason],
            n,
            period=f"{day:%Y-%m-%d}",
            encoding="gb18030",
        )
    )
