"""At province scale the plan reproduces the published figures exactly, each on the day it is as
of (DEVELOPERS' issue 3, issue 21): examples/newsletters.md, rounded as the newsletters round.

The figures are written here as published, not read from anchors.toml: the data file is what is
under test. The realisation is checked against the plan on every generator run, on every
anchored day too (truth._check_against_plan, truth._check_progress_against_plan), and the files
against the truth in test_generate.py.
"""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from fpa import reference
from fpa.generate import population
from fpa.generate.plan import build_plan

YEARS = list(range(2017, 2025))
PRODUCTS = ("JSGA", "JSAX", "JSTS")


@pytest.fixture(scope="module")
def plan():
    return build_plan(YEARS, {y: 1.0 for y in YEARS}, seed=12345)


def _mask(area: str) -> np.ndarray:
    """全区, a city or a county, over the counties."""
    return np.array([area in ("全区", c.city_name, c.name) for c in reference.counties()])


def _at(plan, area: str, day: date, product: str = "JSGA") -> dict:
    """The to-date KPIs of an area on a day (31 December: the year), from the plan."""
    y = day.year
    yi = YEARS.index(y)
    ps = list(range(3)) if product == "all" else [PRODUCTS.index(product)]
    k = _mask(area)

    def total(table: str) -> int:
        return int(plan.to_date(table, y, day)[np.ix_(ps, k)].sum())

    units = plan.to_date("units", y, day)
    return {
        "units": total("units"),
        "premium": Decimal(int((units * plan.price_cents[yi])[np.ix_(ps, k)].sum())) / 100,
        "claims": total("claims_n"),
        "paid": Decimal(total("claims_cents")) / 100,
    }


def _r(x, places: str) -> Decimal:
    """Rounded half up as a newsletter rounds (places: "0.1", "0.01", "1")."""
    return Decimal(x).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _target(plan, year: int, city: str) -> int:
    code = next(c.code for c in reference.cities() if c.name == city)
    return plan.targets[(year, code)]


def test_hechi_2022_the_whole_year(plan):
    f = _at(plan, "河池市", date(2022, 12, 31))
    assert f["units"] == 283_754 and _r(Decimal(f["units"]) / 10_000, "0.01") == Decimal("28.38")
    assert f["premium"] == Decimal("14187700.00")  # 1,418.77 万元
    assert _target(plan, 2022, "河池市") == 180_000
    assert _r(Decimal(f["units"]) / 180_000 * 100, "0.01") == Decimal("157.64")
    assert f["claims"] == 16_584
    assert f["paid"] == Decimal("7644400.00")  # 764.44 万元
    assert _r(f["paid"] / f["premium"] * 100, "0.01") == Decimal("53.88")


def test_hechi_five_years_summed(plan):
    years = [_at(plan, "河池市", date(y, 12, 31)) for y in range(2018, 2023)]
    units = sum(f["units"] for f in years)
    assert _r(Decimal(units) / 10_000, "0.01") == Decimal("140.63")
    assert sum(f["claims"] for f in years) == 62_023
    assert sum(f["paid"] for f in years) == Decimal("29495900.00")  # 2,949.59 万元
    # left (docs/sample-data.md "Calibration"): 5,816.49 万元 premium, i.e. 50.71 %: 河池 sells
    # at 50 元
    premium = sum(f["premium"] for f in years)
    assert premium == units * 50


def test_wuzhou_2022_as_of_april_and_june(plan):
    f = _at(plan, "梧州市", date(2022, 4, 30))
    assert _r(Decimal(f["units"]) / 10_000, "0.1") == Decimal("16.4")
    assert _r(f["premium"] / 10_000, "0.1") == Decimal("821.1")
    assert _r(Decimal(f["units"]) / _target(plan, 2022, "梧州市") * 100, "0.1") == Decimal("126.2")
    f = _at(plan, "梧州市", date(2022, 6, 30))
    assert f["claims"] == 2_768
    assert _r(f["paid"] / 10_000, "0.1") == Decimal("218.7")
    year = _at(plan, "梧州市", date(2022, 12, 31))
    assert year["units"] > 164_220 and year["claims"] > 2_768  # the year goes on


def test_province_2020_as_of_31_august(plan):
    day = date(2020, 8, 31)
    every = _at(plan, "全区", day, "all")
    assert _r(Decimal(every["units"]) / 10_000, "0.1") == Decimal("308.2")
    assert _r(every["premium"] / 100_000_000, "0.01") == Decimal("1.32")
    assert 108_600 <= every["claims"] < 108_700  # 10.86 万余 (受益人数 read as claims)
    assert _r(every["paid"] / 100_000_000, "0.1") == Decimal("1.1")
    assert _r(every["paid"] / every["premium"] * 100, "0.1") == Decimal("83.3")
    jsga = _at(plan, "全区", day)
    assert 2_860_000 <= jsga["units"] < 2_870_000  # 286 万余份
    province_target = sum(_target(plan, 2020, c.name) for c in reference.cities())
    assert province_target == 2_400_000
    assert _r(Decimal(jsga["units"]) / province_target * 100, "1") == 119
    assert _r(Decimal(jsga["claims"]) / 10_000, "0.01") == Decimal("10.24")  # 人次 read as claims
    assert _r(jsga["paid"] / 10_000, "1") == 9385
    year = _at(plan, "全区", date(2020, 12, 31), "all")
    assert year["units"] > every["units"] and year["claims"] > every["claims"]


def test_qinzhou_leads_the_cities_on_31_august_2020(plan):
    day = date(2020, 8, 31)
    qz = _at(plan, "钦州市", day)
    assert qz["units"] == 446_427 and _r(Decimal(qz["units"]) / 10_000, "0.1") == Decimal("44.6")
    assert qz["premium"] == Decimal("15624945.00")  # printed as 15624945 "万元"
    assert _r(Decimal(qz["units"]) / _target(plan, 2020, "钦州市") * 100, "0.01") == Decimal(
        "127.55"
    )
    completion = {
        c.name: _at(plan, c.name, day)["units"] / _target(plan, 2020, c.name)
        for c in reference.cities()
    }
    assert max(completion, key=completion.get) == "钦州市"  # 完成最好的是钦州市


def test_cities_above_10000_more_than_the_same_day_of_2019(plan):
    yoy = {
        c.name: _at(plan, c.name, date(2020, 8, 31))["units"]
        - _at(plan, c.name, date(2019, 8, 31))["units"]
        for c in reference.cities()
    }
    above = sorted((c for c in yoy if yoy[c] > 10_000), key=lambda c: -yoy[c])
    assert above == ["贵港市", "百色市", "来宾市", "柳州市"]
    assert 68_000 < yoy["贵港市"] < 69_000  # 6.8 万余份, the largest increase


def test_counties_above_50000_on_31_august_2020(plan):
    published = {
        "浦北县": 205_029,
        "灵山县": 166_915,
        "桂平市": 81_334,
        "西乡塘区": 65_951,
        "大新县": 65_421,
        "海城区": 57_290,
        "武鸣区": 53_256,
        "青秀区": 53_093,
        "平南县": 51_865,
        "兴宾区": 50_717,
    }
    cs = reference.counties()
    jsga = plan.to_date("units", 2020, date(2020, 8, 31))[0]
    top = [cs[i].name for i in np.argsort(-jsga, kind="stable")[:10]]
    assert top == list(published)  # in the published order
    assert {
        cs[i].name: int(jsga[i]) for i in range(len(cs)) if cs[i].name in published
    } == published
    assert all(jsga[i] <= 50_000 for i in range(len(cs)) if cs[i].name not in published)


def test_nanning_to_31_july_and_guilin_to_25_august_2020(plan):
    nn = _at(plan, "南宁市", date(2020, 7, 31))
    assert _r(Decimal(nn["units"]) / 10_000, "0.1") == Decimal("40.1")
    assert _r(nn["premium"] / 10_000, "0.1") == Decimal("1147.5")
    assert _r(nn["paid"] / 10_000, "1") == 939
    gl = _at(plan, "桂林市", date(2020, 8, 25))
    assert _r(Decimal(gl["units"]) / 10_000, "0.1") == Decimal("21.4")
    assert _r(gl["premium"] / 10_000, "0.1") == Decimal("969.5")
    assert gl["paid"] == Decimal("12118500.00")  # 1,211.85 万元


def test_xiufeng_2023(plan):
    f = _at(plan, "秀峰区", date(2023, 12, 31))
    assert f["claims"] == 336
    assert _r(f["paid"] / 10_000, "0.01") == Decimal("26.84")
    assert _r(f["paid"] / f["premium"] * 100, "0.1") == Decimal("84.8")


@pytest.mark.parametrize("clean", [False, True])
def test_coverage_of_the_resident_population_2020(plan, clean):
    """完成数占常住人口比例: JSGA units to 31 August over the population of 2020, as loaded
    (a 万人 yearbook rounds each county to 100 persons)."""
    pop = population.loaded(plan, clean)[2020]
    units = plan.to_date("units", 2020, date(2020, 8, 31))[0]

    def pct(area: str) -> Decimal:
        k = _mask(area)
        return _r(Decimal(int(units[k].sum())) / Decimal(int(pop[k].sum())) * 100, "0.01")

    assert pct("全区") == Decimal("5.61")
    above = {c.name: pct(c.name) for c in reference.cities() if pct(c.name) > pct("全区")}
    assert sorted(above.items(), key=lambda kv: -kv[1]) == [
        ("钦州市", Decimal("13.77")),
        ("百色市", Decimal("11.52")),
        ("北海市", Decimal("7.93")),
        ("崇左市", Decimal("6.49")),
        ("来宾市", Decimal("6.47")),
        ("河池市", Decimal("6.46")),
        ("柳州市", Decimal("6.05")),
    ]
    assert 50_000_000 < int(pop.sum()) < 52_000_000  # Guangxi ≈ 50 million


def test_population_is_realistic(plan):
    pops = population.populations(plan)
    counties = reference.counties()
    for y, p in pops.items():
        assert (p >= 100_000).all() and (p <= 1_500_000).all(), y
        for c in reference.cities():
            city = int(p[[k.city_code == c.code for k in counties]].sum())
            assert 1_000_000 < city < 9_500_000, (y, c.name)
    drift = pops[2024].sum() / pops[2017].sum() - 1
    assert -0.05 < drift < 0.08  # slow
    # every county keeps under a third of its residents insured
    for y in plan.cut_days:
        for d in plan.cut_days[y]:
            assert (plan.to_date("units", y, d)[0] * 3 <= pops[y]).all()


def test_prices_and_products(plan):
    yi = YEARS.index(2020)
    jsga = {Decimal(int(p)) / 100 for p in np.unique(plan.price_cents[:, 0])}
    assert {Decimal("50"), Decimal("45"), Decimal("41"), Decimal("35"), Decimal("28.6")} <= jsga
    assert set(np.unique(plan.price_cents[:, 2])) == {40_000}  # JSTS 400 元
    assert 3_000_000 < int(plan.units[yi].sum()) < 3_800_000  # 308.2 万 by 31 August
    assert 100_000 < int(plan.claims_n[yi].sum()) < 150_000  # 10.86 万 by 31 August
    assert not any(y > 2023 for y, _ in plan.targets)


def test_to_date_figures_grow_through_the_year(plan):
    for y in plan.cut_days:
        yi = YEARS.index(y)
        for table, full in (
            ("units", plan.units),
            ("claims_n", plan.claims_n),
            ("claims_cents", plan.claims_cents),
        ):
            cum = np.concatenate([getattr(plan, f"{table}_to")[y], full[yi][None]])
            assert (np.diff(cum, axis=0) >= 0).all() and (cum[0] >= 0).all(), (y, table)
        _, _, n, c = plan.segments(yi)
        assert ((c >= n * 100) & ((n > 0) | (c == 0))).all()  # each claim pays at least 1 元


def test_anchors_do_not_depend_on_the_seed():
    a = build_plan([2020, 2022], {2020: 1.0, 2022: 1.0}, seed=1)
    b = build_plan([2020, 2022], {2020: 1.0, 2022: 1.0}, seed=2)
    assert (a.units != b.units).any()  # the rest is drawn from the seed
    hc = [i for i, c in enumerate(reference.counties()) if c.city_name == "河池市"]
    assert a.units[1, 0, hc].sum() == b.units[1, 0, hc].sum() == 283_754
    day = date(2020, 8, 31)
    assert a.to_date("units", 2020, day).sum() == b.to_date("units", 2020, day).sum() == 3_082_000
