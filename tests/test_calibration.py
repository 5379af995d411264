"""At province scale the plan reproduces the published figures exactly (DEVELOPERS' issue 3).

The figures are written here as published, not read from anchors.toml: the data file is what is
under test. The realisation is checked against the plan on every generator run
(truth._check_against_plan) and the files against the truth in test_generate.py.
"""

from decimal import Decimal

import numpy as np
import pytest

from fpa import reference
from fpa.generate.plan import build_plan

YEARS = list(range(2017, 2025))


@pytest.fixture(scope="module")
def plan():
    return build_plan(YEARS, {y: 1.0 for y in YEARS}, seed=12345)


def _sum(plan, table, year, product, pred):
    cs = reference.counties()
    ks = [i for i, c in enumerate(cs) if pred(c)]
    return int(table[YEARS.index(year), ("JSGA", "JSAX", "JSTS").index(product), ks].sum())


def _premium(plan, year, pred):
    cs = reference.counties()
    ks = [i for i, c in enumerate(cs) if pred(c)]
    yi = YEARS.index(year)
    return Decimal(int((plan.units[yi, 0, ks] * plan.price_cents[yi, 0, ks]).sum())) / 100


def test_hechi_2022(plan):
    hc = lambda c: c.city_name == "河池市"  # noqa: E731
    units = _sum(plan, plan.units, 2022, "JSGA", hc)
    paid = Decimal(_sum(plan, plan.claims_cents, 2022, "JSGA", hc)) / 100
    assert units == 283_754
    assert _premium(plan, 2022, hc) == Decimal("14187700.00")
    assert plan.targets[(2022, "451200")] == 180_000
    assert round(units / 180_000 * 100, 2) == 157.64
    assert _sum(plan, plan.claims_n, 2022, "JSGA", hc) == 16_584
    assert paid == Decimal("7644400.00")
    assert round(paid / _premium(plan, 2022, hc) * 100, 2) == Decimal("53.88")


def test_wuzhou_2022(plan):
    wz = lambda c: c.city_name == "梧州市"  # noqa: E731
    assert _sum(plan, plan.units, 2022, "JSGA", wz) == 164_220
    assert _premium(plan, 2022, wz) == Decimal("8211000.00")
    assert _sum(plan, plan.claims_n, 2022, "JSGA", wz) == 2_768
    assert Decimal(_sum(plan, plan.claims_cents, 2022, "JSGA", wz)) / 100 == Decimal("2187000.00")


def test_province_and_counties_2020(plan):
    every = lambda c: True  # noqa: E731
    units = _sum(plan, plan.units, 2020, "JSGA", every)
    premium = _premium(plan, 2020, every)
    paid = Decimal(_sum(plan, plan.claims_cents, 2020, "JSGA", every)) / 100
    assert round(units / 10_000, 1) == 308.2
    assert round(premium / 100_000_000, 2) == Decimal("1.32")
    assert round(paid / premium * 100, 1) == Decimal("83.3")
    qz = lambda c: c.city_name == "钦州市"  # noqa: E731
    assert _sum(plan, plan.units, 2020, "JSGA", qz) == 446_427
    assert _premium(plan, 2020, qz) == Decimal("15624945.00")
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
    jsga = plan.units[YEARS.index(2020), 0]
    top = [cs[i].name for i in np.argsort(-jsga, kind="stable")[:10]]
    assert top == list(published)  # they are the ten largest
    assert {
        cs[i].name: int(jsga[i]) for i in range(len(cs)) if cs[i].name in published
    } == published


def test_prices_and_products(plan):
    yi = YEARS.index(2020)
    jsga = {Decimal(int(p)) / 100 for p in np.unique(plan.price_cents[:, 0])}
    assert {Decimal("50"), Decimal("45"), Decimal("41"), Decimal("35"), Decimal("28.6")} <= jsga
    assert set(np.unique(plan.price_cents[:, 2])) == {40_000}  # JSTS 400 元
    assert 2_900_000 < int(plan.units[yi].sum()) < 3_600_000  # ≈3 M units a province year
    assert 90_000 < int(plan.claims_n[yi].sum()) < 130_000  # ≈110 k claims
    assert not any(y > 2023 for y, _ in plan.targets)


def test_anchors_do_not_depend_on_the_seed():
    a = build_plan([2020, 2022], {2020: 1.0, 2022: 1.0}, seed=1)
    b = build_plan([2020, 2022], {2020: 1.0, 2022: 1.0}, seed=2)
    assert (a.units != b.units).any()  # the rest is drawn from the seed
    hc = [i for i, c in enumerate(reference.counties()) if c.city_name == "河池市"]
    assert a.units[1, 0, hc].sum() == b.units[1, 0, hc].sum() == 283_754
