"""A sample that ends on a day of its last year (`fpa generate --until`, the demo's yesterday):
the newest year holds what is sold and settled by then, no delivery is dated after it, and one
night publishes exactly the generator's truth, the progress ending on that day."""

from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pytest
from support.truth import KEYS, ON_DAYS, PROGRESS_KEYS, SEED, mismatches, read_truth

from fpa import reference
from fpa.clock import CST
from fpa.demo import demo_until
from fpa.generate.inbox import generate, scale_factors
from fpa.generate.plan import build_plan, season_share

UNTIL = date(2024, 6, 20)


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    from fpa.night import load

    inbox = tmp_path_factory.mktemp("cut") / "inbox"
    summary = generate(inbox, [2023, 2024], "small", SEED, until=UNTIL)
    warehouse = inbox.parent / "warehouse" / "fpa.duckdb"
    night = load(inbox, warehouse)
    assert night.published, night.summary()
    return inbox, summary, warehouse


@pytest.mark.slow
def test_a_range_cut_on_a_day_publishes_its_truth_and_ends_on_that_day(cut):
    inbox, summary, warehouse = cut
    assert summary["until"] == "2024-06-20"
    # no regular delivery after the day (the semimonthly file of the 30th is one of the 20th);
    # the files planted to be rejected are the next day's early deliveries (the 21st)
    insurer = {p.stem.split("_")[-1][:8] for p in (inbox / "insurer").glob("*.csv")}
    assert max(insurer - {"20240621"}) == "20240620" and "20240622" not in insurer
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in ("insurance_county_year", "insurance_city_year"):
            assert mismatches(con, read_truth(inbox, table), table, KEYS[table]) == []
        # 2024 is the year to the 20th of June: about its season's share of a whole year
        units = dict(
            con.execute(
                "SELECT year, sum(units) FROM marts.insurance_city_year "
                "WHERE product_code = 'JSGA' GROUP BY year"
            ).fetchall()
        )
        assert 0.6 < units[2024] / units[2023] < 0.95
        progress = read_truth(inbox, "insurance_progress")
        days = sorted({t["as_of_date"] for t in progress})
        assert days[-1] == "2024-06-20"
        wrong = mismatches(con, progress, "insurance_progress", PROGRESS_KEYS, ON_DAYS, [days])
        assert wrong[:20] == []
        # the progress ends on the day: 序时进度 and 上年同期 are those of the 20th of June
        last = con.execute(
            "SELECT as_of_date, time_share, units_to_date, units_same_day_last_year "
            "FROM marts.insurance_progress WHERE area_level = 'province' "
            "AND product_code = 'JSGA' ORDER BY as_of_date DESC LIMIT 1"
        ).fetchone()
        same_day_2023 = con.execute(
            "SELECT units_to_date FROM marts.insurance_progress WHERE area_level = 'province' "
            "AND product_code = 'JSGA' AND as_of_date = DATE '2023-06-20'"
        ).fetchone()[0]
        assert last[0] == UNTIL and last[1] == pytest.approx(172 / 366)
        assert last[3] == same_day_2023
        # every file as the truth says: the early deliveries of the 21st rejected or waiting
        audit = con.execute(
            "SELECT file_name, status, received_at FROM marts.load_audit"
        ).fetchall()
        want = {
            t["file_name"]: (t["status"], datetime.fromisoformat(t["received_at"]))
            for t in read_truth(inbox, "files")
            if t["in_load_audit"] == "True"
        }
        assert {f: (s, at) for f, s, at in audit} == want
        assert want["insurer/JS_POLICY_20240621(1).csv"][0] == "rejected"
        # reports: the months ended by the day, nothing received after it
        months = {t["month"] for t in read_truth(inbox, "report_completeness")}
        assert max(months) == "2024-05-01"
        latest = con.execute(
            "SELECT max(received_at) FROM marts.load_audit WHERE source = 'report'"
        ).fetchone()[0]
        assert latest.astimezone(CST).date() <= UNTIL
        assert con.execute(
            "SELECT count(*) FROM marts.report_completeness "
            "WHERE month > DATE '2024-05-01' AND received"
        ).fetchone() == (0,)


def test_a_year_with_published_figures_is_generated_whole():
    with pytest.raises(ValueError, match="2022 holds published figures"):
        build_plan([2021, 2022], {2021: 0.01, 2022: 0.01}, SEED, until=date(2022, 6, 30))
    with pytest.raises(ValueError, match="ends in 2025"):
        build_plan([2024, 2025], {2024: 0.01, 2025: 0.01}, SEED, until=date(2024, 6, 30))


def test_the_demo_ends_yesterday_in_guangxi():
    # 00:30 in Guangxi on the 7th is still the 6th in UTC: yesterday is the 6th either way
    assert demo_until(datetime(2026, 12, 6, 16, 30, tzinfo=UTC)) == date(2026, 12, 6)
    assert demo_until(datetime(2026, 12, 6, 15, 30, tzinfo=UTC)) == date(2026, 12, 5)
    assert demo_until(datetime(2026, 12, 7, 0, 30, tzinfo=CST)) == date(2026, 12, 6)
    assert demo_until() == datetime.now(CST).date() - timedelta(days=1)


def test_the_demos_years_are_one_smooth_trend_to_yesterday():
    """fpa demo's plan: every year 2017 to yesterday at the province's figures, no step between
    scales (the old demo went ×100 and back); the year to yesterday is its season's share."""
    until = demo_until()
    years = list(range(2017, until.year + 1))
    plan = build_plan(years, scale_factors("demo", years), SEED, until=until)
    whole = build_plan(years, {y: 1.0 for y in years}, SEED)
    jsga = plan.units[:, 0].sum(axis=1)
    # the province: 240–400 万份 every whole year, each within −10 % and +25 % of the year before
    assert all(2_400_000 < u < 4_000_000 for u in jsga[:-1])
    change = jsga[1:-1] / jsga[:-2] - 1
    assert change.min() > -0.10 and change.max() < 0.25, change
    # every city within half of its year before (the gate warns at +100 %)
    cities = reference.cities()
    city_of = np.array([[c.code for c in cities].index(k.city_code) for k in reference.counties()])
    by_city = np.stack([np.bincount(city_of, weights=u, minlength=14) for u in plan.units[:-1, 0]])
    assert np.abs(by_city[1:] / by_city[:-1] - 1).max() < 0.5
    share = season_share(until, "sales")
    assert abs(jsga[-1] - whole.units[-1, 0].sum() * share) < 0.001 * jsga[-1]
