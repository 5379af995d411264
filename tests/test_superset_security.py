"""Issue 22, the attack as a city viewer and as the engineer, against a real Superset 6.1 (the
shared harness: SQLite metadata, gunicorn on loopback, the small night's warehouse):

- no export or download route gives 河池市's viewer another city's rows (each one of Superset
  6.1's is asked: refused, or answered with 河池市's rows only), while the dashboards' chart data
  keeps working for the readers, row-level filtered;
- readers tag nothing, drop no cache and see nobody's name or e-mail;
- logins are rate-limited, per user name, on the REST API and on the form;
- SQL Lab stops a DuckDB query at its time limit (FPA_SQLLAB_TIMEOUT, 5 s here);
- the engineer's connection changes no setting and reads or writes no file;
- the DuckDB instance Superset holds open between queries reads a night's new file from the
  next query on, and SQL Lab cannot detach the file from it.

One server for the module: one gunicorn worker, so the login counters (in the worker's memory
on the embedded defaults) are the test's alone to count."""

import csv
import io
import json
import os
import re
import time
import uuid
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest
import requests
from support.superset_harness import HECHI, login, marts, running

from fpa.dashboards import spec
from fpa.dashboards.held_instance import file_identity
from fpa.dashboards.provision import CITY_DATASETS

pytestmark = [pytest.mark.superset, pytest.mark.slow]

TIME_LIMIT = 5  # seconds: FPA_SQLLAB_TIMEOUT of this module's server
CITY = "河池市"


@pytest.fixture(scope="module")
def superset(small_night, tmp_path_factory):
    warehouse, _ = small_night
    home = tmp_path_factory.mktemp("superset_security")
    env = {"FPA_SQLLAB_TIMEOUT": str(TIME_LIMIT)}
    with running(warehouse, home, workers=1, env=env) as started:
        yield started


@pytest.fixture(scope="module")
def as_(superset):
    """One logged-in session per user for the whole module (the login limit counts logins)."""
    sessions = {}

    def get(username: str):
        if username not in sessions:
            sessions[username] = login(superset, username)
            sessions[username].csrf()
        return sessions[username]

    return get


@pytest.fixture(scope="module")
def foreign(superset) -> list[str]:
    """Names only another city's rows carry: the 13 other cities and their counties (none that is
    part of one of 河池市's own names)."""
    ours = [n for row in marts(superset, _NAMES, [HECHI]) for n in row]
    theirs = {
        n
        for row in marts(superset, _NAMES.replace("city_code = ?", "city_code <> ?"), [HECHI])
        for n in row
    }
    return sorted(n for n in theirs if not any(n in o for o in ours))


_NAMES = (
    "SELECT DISTINCT c.city_name, k.county_name FROM ref.regions_cities c "
    "JOIN ref.regions_counties k USING (city_code) WHERE c.city_code = ?"
)


def _text(r: requests.Response) -> str:
    """What a response carries, as text: CSV or JSON as is, a workbook's cells, a zip's members
    (a Parquet member as its rows)."""
    kind = r.headers.get("content-type", "")
    body = r.content
    if body[:2] == b"PK" and "spreadsheetml" in kind:
        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
        return "\n".join(
            str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
        )
    if body[:2] == b"PK":
        out = []
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            for name in z.namelist():
                data = z.read(name)
                if name.endswith(".parquet"):
                    out.append(str(pq.read_table(io.BytesIO(data)).to_pylist()))
                else:
                    out.append(data.decode("utf-8", "replace"))
        return "\n".join(out)
    if "json" in kind:
        try:
            return json.dumps(r.json(), ensure_ascii=False)  # the names unescaped
        except ValueError:
            pass
    return body.decode("utf-8", "replace")


def _leaks(r: requests.Response, foreign: list[str]) -> list[str]:
    text = _text(r)
    return [n for n in foreign if n in text]


# --- 1. every export and download route, as 河池市's viewer ------------------------------------


def _query_context(api, chart_id: int, **changes) -> dict:
    chart = api.get(f"/api/v1/chart/{chart_id}")["result"]
    qc = json.loads(chart["query_context"])
    qc.update({k: v for k, v in changes.items() if k != "form_data"})
    qc["form_data"] = {**qc.get("form_data", {}), **changes.get("form_data", {})}
    return qc


def test_no_export_route_gives_the_city_viewer_another_citys_rows(superset, as_, foreign):
    ids = superset["ids"]
    hechi = as_("hechi")
    engineer = as_("engineer")
    board = ids["dashboards"]["insurance"]
    counties = ids["charts"]["ins_counties"]  # insurance_area_year: city_name, area_name
    quality = ids["charts"]["dq_gate"]  # the gate's checks: the province's, not theirs
    dataset = ids["datasets"]["insurance_area_year"]
    # a query of the engineer's in SQL Lab, whose results they must not get
    client_id = uuid.uuid4().hex[:10]
    r = engineer.post(
        "/api/v1/sqllab/execute/",
        {
            "database_id": ids["database"],
            "sql": "SELECT city_code, units FROM marts.insurance_area_year",
            "runAsync": False,
            "client_id": client_id,
        },
    )
    assert r.status_code == 200, r.text[:300]
    query_id = r.json()["query_id"]
    qc = _query_context(hechi, counties)
    legacy = json.dumps(
        {"datasource": f"{dataset}__table", "viz_type": "para", "series": "city_name",
         "metrics": ["units_wan"], "row_limit": 1000}
    )  # fmt: skip
    form = {"form_data": legacy}
    refused = {
        # the dashboard as an example bundle: data.parquet held whole tables, no row filter
        "dashboard export_as_example": ("GET", f"/api/v1/dashboard/{board}/export_as_example/", {}),
        "dashboard export": ("GET", f"/api/v1/dashboard/export/?q=!({board})", {}),
        "chart export": ("GET", f"/api/v1/chart/export/?q=!({counties})", {}),
        "dataset export": ("GET", f"/api/v1/dataset/export/?q=!({dataset})", {}),
        "database export": ("GET", f"/api/v1/database/export/?q=!({ids['database']})", {}),
        "saved query export": ("GET", "/api/v1/saved_query/export/?q=!(1)", {}),
        "assets export": ("GET", "/api/v1/assets/export/", {}),
        "theme export": ("GET", "/api/v1/theme/export/?q=!(1)", {}),
        "explore_json csv": ("GET", f"/superset/explore_json/?form_data={legacy}&csv=true", {}),
        "explore_json results": ("POST", "/superset/explore_json/?results=true", {"data": form}),
        "explore_json samples": ("POST", "/superset/explore_json/?samples=true", {"data": form}),
        "explore_json cached": ("GET", "/superset/explore_json/data/0123456789abcdef", {}),
        "superset csv (gone in 6.x)": ("GET", f"/superset/csv/{client_id}", {}),
        "sql lab csv": ("GET", f"/api/v1/sqllab/export/{client_id}/", {}),
        "sql lab streaming csv": (
            "POST", "/api/v1/sqllab/export_streaming/", {"data": {"client_id": client_id}}),
        "sql lab results": ("GET", f"/api/v1/sqllab/results/?q=(key:'{client_id}')", {}),
        "query list": ("GET", "/api/v1/query/", {}),
        "query": ("GET", f"/api/v1/query/{query_id}", {}),
        "legacy query api": (
            "POST", "/api/v1/query/", {"data": {"query_context": json.dumps(qc)}}),
        "datasource samples": (
            "POST", f"/datasource/samples?datasource_type=table&datasource_id={dataset}",
            {"json": {}}),
        "column values": (
            "GET", f"/api/v1/datasource/table/{dataset}/column/city_name/values/", {}),
        "dataset metadata": ("GET", f"/api/v1/dataset/{dataset}", {}),
        "chart data from cache": ("GET", "/api/v1/chart/data/0123456789abcdef", {}),
        "another's chart as csv": ("GET", f"/api/v1/chart/{quality}/data/?format=csv", {}),
        "chart screenshot": ("GET", f"/api/v1/chart/{counties}/cache_screenshot/", {}),
        "chart screenshot by digest": ("GET", f"/api/v1/chart/{counties}/screenshot/0/", {}),
        "chart thumbnail": ("GET", f"/api/v1/chart/{counties}/thumbnail/0/", {}),
        "dashboard screenshot": (
            "POST", f"/api/v1/dashboard/{board}/cache_dashboard_screenshot/", {"json": {}}),
        "dashboard screenshot by digest": (
            "GET", f"/api/v1/dashboard/{board}/screenshot/0/", {}),
        "dashboard thumbnail": ("GET", f"/api/v1/dashboard/{board}/thumbnail/0/", {}),
    }  # fmt: skip
    answered, let_through = {}, {}
    for name, (method, path, kwargs) in refused.items():
        r = hechi.session.request(method, f"{hechi.url}{path}", timeout=120, **kwargs)
        answered[name] = r.status_code
        if r.status_code not in (401, 403, 404) or _leaks(r, foreign):
            let_through[name] = (r.status_code, _leaks(r, foreign)[:5])
    assert let_through == {}, let_through
    # the routes are there: the admin gets the example bundle, whole tables in it
    admin = as_("admin")
    r = admin.session.get(f"{admin.url}/api/v1/dashboard/{board}/export_as_example/", timeout=120)
    assert r.status_code == 200, r.text[:300]
    # (data.parquet for a dashboard of one dataset, data/<dataset>.parquet for more)
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert any(n.endswith(".parquet") for n in names), names
    assert _leaks(r, foreign)  # the scan sees a leak where there is one

    # the chart data: JSON for the dashboards and the same query as CSV and Excel, filtered
    filtered = {}
    for fmt in ("csv", "xlsx", "json"):
        filtered[f"GET chart data ?format={fmt}"] = hechi.session.get(
            f"{hechi.url}/api/v1/chart/{counties}/data/?format={fmt}", timeout=120
        )
        for kind in ("full", "samples", "drill_detail"):
            filtered[f"POST chart data {fmt} {kind}"] = hechi.post(
                "/api/v1/chart/data",
                _query_context(hechi, counties, result_format=fmt, result_type=kind),
            )
    # Superset streams a CSV of 100,000 rows or more (another code path: the query's SQL)
    filtered["POST chart data csv, streamed"] = hechi.post(
        "/api/v1/chart/data",
        _query_context(hechi, counties, result_format="csv", form_data={"row_limit": 100000}),
    )
    assert filtered["POST chart data csv, streamed"].headers.get("X-Accel-Buffering") == "no"
    for name, r in filtered.items():
        assert r.status_code == 200, (name, r.status_code, r.text[:300])
        text = _text(r)
        assert CITY in text, name  # rows came, and are the city's
        assert not _leaks(r, foreign), (name, _leaks(r, foreign))
        if "csv" in name:
            rows = list(csv.reader(io.StringIO(text)))
            assert len(rows) > 1, name
        if "json" in name:
            for result in r.json()["result"]:
                for row in result["data"]:
                    assert row.get("city_name", CITY) == CITY, (name, row)
                    assert row.get("city_code", HECHI) == HECHI, (name, row)
        answered[name] = r.status_code
    # and SQL of the reader's own in the query, around the row-level filter: refused or filtered
    sub = "(SELECT max(city_name) FROM marts.insurance_area_year WHERE city_code <> '451200')"
    tricks = {
        "subquery metric": {"metrics": [{"expressionType": "SQL", "sqlExpression": sub,
                                         "label": "x"}]},
        "subquery column": {"columns": [{"expressionType": "SQL", "sqlExpression": sub,
                                         "label": "x"}]},
        "where breaking out": {"extras": {"where": "1=1) OR (1=1"}},
        "where or": {"extras": {"where": "city_code <> '451200' OR 1 = 1"}},
        "where subquery": {"extras": {"where": f"city_name IN {sub} OR 1 = 1"}},
        "jinja": {"extras": {"where": "{{ '1=1) OR (1=1' }}"}},
        "union": {"metrics": [{"expressionType": "SQL", "label": "x", "sqlExpression":
                               "count(*) FROM marts.insurance_area_year UNION ALL SELECT 1"}]},
    }  # fmt: skip
    for name, change in tricks.items():
        qc = _query_context(hechi, counties)
        qc["queries"][0].update({k: v for k, v in change.items() if k != "extras"})
        qc["queries"][0].setdefault("extras", {}).update(change.get("extras", {}))
        r = hechi.post("/api/v1/chart/data", qc)
        answered[f"chart data, {name}"] = r.status_code
        assert not _leaks(r, foreign), (name, _leaks(r, foreign), r.text[:300])
        if r.status_code == 200:
            for row in r.json()["result"][0]["data"]:
                assert row.get("city_name", CITY) == CITY, (name, row)
    print(json.dumps(answered, ensure_ascii=False, indent=1))


def test_the_dashboards_chart_data_works_for_readers_and_stays_filtered(superset, as_):
    ids = superset["ids"]["charts"]
    datasets = {d.name for d in spec.DATASETS}
    assert set(CITY_DATASETS) <= datasets
    for username in ("leader", "hechi"):
        api = as_(username)
        for board in spec.DASHBOARDS:
            for chart in (c for row in board.rows for c in row):
                if username == "hechi" and chart.dataset not in CITY_DATASETS:
                    r = api.session.get(f"{api.url}/api/v1/chart/{ids[chart.key]}/data/")
                    assert r.status_code in (403, 404), chart.key
                    continue
                r = api.post("/api/v1/chart/data", _query_context(api, ids[chart.key]))
                assert r.status_code == 200, (username, chart.key, r.text[:300])
                for result in r.json()["result"]:
                    assert result["error"] is None, (username, chart.key, result["error"])
                    if username != "hechi":
                        continue
                    for row in result["data"]:
                        assert row.get("city_name", CITY) == CITY, (chart.key, row)
                        assert row.get("city_code", HECHI) == HECHI, (chart.key, row)
    # leadership reads every city
    r = as_("leader").post("/api/v1/chart/data", _query_context(as_("leader"), ids["ins_counties"]))
    assert len({row["city_name"] for row in r.json()["result"][0]["data"]}) > 1


PROGRESS_TABLES = [
    "insurance_progress_named",
    "insurance_progress_trend",
    "insurance_coverage_named",
]


def test_the_city_viewer_reads_only_their_rows_of_the_progress_tables(superset, as_):
    """进度's tables (issue 21): each is row-level filtered for a city's viewer, 河池市's rows only
    and the province's hidden (its city_code is NULL), while leadership reads them whole; the
    截至 value the line's SQL reads (Jinja) stays a quoted literal, not SQL."""
    ids = superset["ids"]
    count = {"expressionType": "SIMPLE", "column": {"column_name": "year"}, "aggregate": "COUNT",
             "label": "rows"}  # fmt: skip
    for name in PROGRESS_TABLES:
        assert name in CITY_DATASETS
        qc = {
            "datasource": {"id": ids["datasets"][name], "type": "table"},
            "force": True,
            "queries": [
                {"columns": ["city_code", "area_level"], "metrics": [count], "orderby": [],
                 "filters": [], "extras": {"where": "", "having": ""}, "row_limit": 10000}
            ],
            "result_format": "json",
            "result_type": "full",
        }  # fmt: skip
        got = {}
        for username in ("hechi", "leader"):
            r = as_(username).post("/api/v1/chart/data", qc)
            assert r.status_code == 200, (username, name, r.text[:300])
            got[username] = {
                (row["city_code"], row["area_level"]): row["rows"]
                for row in r.json()["result"][0]["data"]
            }
        rows = {
            (code, level): n
            for code, level, n in marts(
                superset,
                f"SELECT city_code, area_level, count(*) FROM dashboards.{name} GROUP BY ALL",
            )
        }
        assert (None, "province") in rows and len({code for code, _ in rows}) == 15, name
        assert got["hechi"] == {k: n for k, n in rows.items() if k[0] == HECHI}, name
        assert got["leader"] == rows, name

    # the line reads the chosen day through where_in: 河池市's days of that year up to the day
    hechi = as_("hechi")
    trend = ids["charts"]["prog_trend"]

    def line(day: str) -> requests.Response:
        chosen = [{"col": "as_of", "op": "IN", "val": [day]}]
        qc = _query_context(
            hechi, trend, force=True, form_data={"extra_form_data": {"filters": chosen}}
        )
        qc["queries"][0]["filters"] = chosen
        return hechi.post("/api/v1/chart/data", qc)

    r = line("2020-08-31")
    assert r.status_code == 200 and len(r.json()["result"][0]["data"]) == 244, r.text[:300]
    # a value written to break out of the literal is a date DuckDB cannot read, never SQL
    r = line("2020-08-31' AS DATE)) OR (1 = 1) OR (year = year(CAST('2020-08-31")
    assert r.status_code != 200 or all(
        res["error"] or not res["data"] for res in r.json()["result"]
    ), r.text[:300]


def test_the_city_viewer_reads_only_their_counties_of_the_map_table(superset, as_):
    """The county map's table (a row per part of each county's boundary): row-level filtered
    for a city's viewer, whatever the query asks (here every row, by city and county), 河池市's
    11 counties only, while leadership reads all 111."""
    name = "insurance_county_map"
    assert name in CITY_DATASETS
    count = {"expressionType": "SIMPLE", "column": {"column_name": "year"}, "aggregate": "COUNT",
             "label": "rows"}  # fmt: skip
    qc = {
        "datasource": {"id": superset["ids"]["datasets"][name], "type": "table"},
        "force": True,
        "queries": [
            {"columns": ["city_code", "county_code"], "metrics": [count], "orderby": [],
             "filters": [], "extras": {"where": "", "having": ""}, "row_limit": 10000}
        ],
        "result_format": "json",
        "result_type": "full",
    }  # fmt: skip
    rows = {
        (city, county): n
        for city, county, n in marts(
            superset, f"SELECT city_code, county_code, count(*) FROM dashboards.{name} GROUP BY ALL"
        )
    }
    got = {}
    for username in ("hechi", "leader"):
        r = as_(username).post("/api/v1/chart/data", qc)
        assert r.status_code == 200, (username, r.text[:300])
        got[username] = {
            (row["city_code"], row["county_code"]): row["rows"]
            for row in r.json()["result"][0]["data"]
        }
    assert len(rows) == 111 and len({city for city, _ in rows}) == 14
    assert got["hechi"] == {k: n for k, n in rows.items() if k[0] == HECHI}
    assert len(got["hechi"]) == 11 and got["leader"] == rows


def test_a_dashboards_charts_answer_side_by_side(superset, as_):
    """A dashboard asks for its charts at once: connections open side by side share one DuckDB
    instance, which the first of them locks (each must still find it locked and answer)."""
    from concurrent.futures import ThreadPoolExecutor

    api = as_("leader")
    board = next(b for b in spec.DASHBOARDS if b.slug == "insurance")
    ids = [superset["ids"]["charts"][c.key] for row in board.rows for c in row]

    def fetch(chart_id: int) -> dict:
        r = api.session.get(f"{api.url}/api/v1/chart/{chart_id}/data/?force=true", timeout=120)
        body = r.json()
        error = body["result"][0]["error"] if "result" in body else body.get("message")
        return {"status": r.status_code, "error": error}

    with ThreadPoolExecutor(len(ids)) as pool:
        answers = [a for _ in range(3) for a in pool.map(fetch, ids)]
    assert [a for a in answers if a != {"status": 200, "error": None}] == []


# --- 2. tags, the cache, people -----------------------------------------------------------------


READERS = ["leader", "hechi"]


def _refused(api, calls) -> dict:
    """The calls not refused (401, 403 or 404), with what they answered."""
    out = {}
    for method, path, body in calls:
        r = api.session.request(method, f"{api.url}{path}", json=body, timeout=60)
        if r.status_code not in (401, 403, 404):
            out[f"{method} {path}"] = (r.status_code, r.text[:200])
    return out


@pytest.mark.parametrize("username", READERS)
def test_readers_tag_nothing(superset, as_, username):
    api = as_(username)
    hidden = superset["ids"]["dashboards"]["gate"]  # not 河池市's to see
    tag = f"t{uuid.uuid4().hex[:8]}"
    let_through = _refused(
        api,
        [
            ("POST", "/api/v1/tag/", {"name": tag, "objects_to_tag": [["dashboard", hidden]]}),
            ("POST", "/api/v1/tag/bulk_create",
             {"tags": [{"name": tag, "objects_to_tag": [["dashboard", hidden]]}]}),
            ("POST", f"/api/v1/tag/1/{hidden}/", {"properties": {"tags": [tag]}}),
            ("DELETE", f"/api/v1/tag/1/{hidden}/{tag}/", None),
            ("DELETE", f"/api/v1/tag/?q=!('{tag}')", None),
        ],
    )  # fmt: skip
    tags = as_("admin").get(f"/api/v1/dashboard/{hidden}")["result"]["tags"]
    assert let_through == {} and tag not in {t["name"] for t in tags}, let_through


@pytest.mark.parametrize("username", READERS)
def test_readers_drop_no_cached_result(superset, as_, username):
    let_through = _refused(
        as_(username),
        [
            ("POST", "/api/v1/cachekey/invalidate",
             {"datasource_uids": [f"{superset['ids']['datasets']['insurance_area_year']}__table"]}),
            ("POST", "/api/v1/cachekey/invalidate", {"datasources": [
                {"datasource_name": "insurance_area_year", "schema": "marts",
                 "database_name": "fpa_warehouse", "datasource_type": "table"}]}),
        ],
    )  # fmt: skip
    assert let_through == {}, let_through


@pytest.mark.parametrize("username", READERS)
def test_readers_see_no_ones_name_or_email(superset, as_, username):
    api = as_(username)
    ids = superset["ids"]
    pickers = [
        "/api/v1/dashboard/related/owners",
        "/api/v1/dashboard/related/owners?q=(include_ids:!(1,2,3,4))",
        "/api/v1/dashboard/related/created_by",
        "/api/v1/dashboard/related/changed_by",
        "/api/v1/chart/related/owners",
        "/api/v1/chart/related/created_by",
        "/api/v1/dataset/related/owners",
        "/api/v1/security/users/",
        "/api/v1/security/users/1",
    ]
    let_through = _refused(api, [("GET", path, None) for path in pickers])
    board, chart = ids["dashboards"]["insurance"], ids["charts"]["ins_counties"]
    listed = [
        "/api/v1/dashboard/?q=(page_size:100)",
        "/api/v1/dashboard/?q=(columns:!(id,owners.email,owners.first_name,changed_by.first_name))",
        f"/api/v1/dashboard/{board}",
        f"/api/v1/dashboard/{board}/charts",
        f"/api/v1/chart/{chart}",
        "/api/v1/chart/?q=(page_size:100)",
    ]
    for path in listed:
        r = api.session.get(f"{api.url}{path}", timeout=60)
        assert r.status_code == 200, (path, r.text[:300])
        owners = [o for o in re.findall(r'"owners"\s*:\s*(\[[^\]]*\])', r.text) if o != "[]"]
        if "@fpa.local" in r.text or re.search(r'"(first|last)_name"\s*:\s*"', r.text) or owners:
            let_through[f"GET {path}"] = (r.status_code, owners[:2])
    assert let_through == {}, let_through
    me = api.get("/api/v1/me/roles/")["result"]  # their own name and roles: theirs to read
    assert me["username"] == username and me["roles"]
    # the admin still sees who owns what
    assert as_("admin").get(f"/api/v1/dashboard/{board}")["result"]["owners"]


# --- 3. logins ----------------------------------------------------------------------------------


def test_the_nth_wrong_login_answers_429_on_the_api_and_on_the_form(superset, as_):
    url = superset["url"]
    name = f"guess{uuid.uuid4().hex[:6]}"
    codes = [
        requests.post(
            f"{url}/api/v1/security/login",
            json={"username": name, "password": f"wrong{i}", "provider": "db"},
            timeout=30,
        ).status_code
        for i in range(6)
    ]
    assert codes == [401] * 5 + [429], codes
    # counted per user name: the others still log in from the same address
    assert login(superset, "leader").session.get(f"{url}/api/v1/me/", timeout=30).ok

    form = requests.Session()
    name = f"guess{uuid.uuid4().hex[:6]}"
    codes = []
    for i in range(6):
        page = form.get(f"{url}/login/", timeout=30).text
        token = re.search(r'csrf_token[^>]*?value="([^"]+)"', page).group(1)
        r = form.post(
            f"{url}/login/",
            data={"username": name, "password": f"wrong{i}", "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        codes.append(r.status_code)
    assert codes == [302] * 5 + [429], codes  # a refused login sends the form back: 302


_ATTEMPTS = """
import json, sys
from superset.app import create_app

client = create_app().test_client()
body = {"username": sys.argv[1], "password": "wrong", "provider": "db"}
print(json.dumps([client.post("/api/v1/security/login", json=body).status_code for _ in range(3)]))
"""


def test_the_compose_profile_counts_logins_in_redis_across_processes(superset, tmp_path):
    """RATELIMIT_STORAGE_URI (the compose file's Redis): two processes of Superset, as two
    gunicorn workers, share the counters; the embedded default (memory) would not."""
    import subprocess
    import sys

    import redis
    from support.ports import free_port

    from fpa.dashboards.service import environment

    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis("127.0.0.1", port, db=2)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        env = {
            **environment(superset["home"]),
            "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{port}/2",
        }
        name = f"guess{uuid.uuid4().hex[:6]}"
        logs = [tmp_path / f"worker{i}.log" for i in range(2)]
        runs = [  # side by side, as two workers would take the attempts
            subprocess.Popen(
                [sys.executable, "-c", _ATTEMPTS, name],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log.open("w"),
                text=True,
            )
            for log in logs
        ]
        outs = [run.communicate(timeout=300)[0] for run in runs]
        errors = [log.read_text()[-2000:] for log in logs]
        codes = [c for out in outs for c in json.loads(out.strip().splitlines()[-1])]
        assert sorted(codes) == [401] * 5 + [429], (codes, errors)
        assert any(b"fpa_limiter" in key for key in client.keys("*"))
    finally:
        server.terminate()
        server.wait(10)


# --- 4. SQL Lab's time limit --------------------------------------------------------------------

# ~50 s of DuckDB on this machine (a count over 10^10 generated rows DuckDB cannot shortcut)
SLOW = "SELECT count(*) AS n FROM range(10000000000::BIGINT) r WHERE r.range % 7 = 3"


def _sql(api, superset, sql: str, **extra) -> requests.Response:
    return api.post(
        "/api/v1/sqllab/execute/",
        {"database_id": superset["ids"]["database"], "sql": sql, "runAsync": False, **extra},
    )


def test_sql_lab_stops_a_duckdb_query_at_the_time_limit(superset, as_):
    api = as_("engineer")
    t = time.monotonic()
    r = _sql(api, superset, SLOW)
    took = time.monotonic() - t
    assert took <= TIME_LIMIT + 4, f"stopped after {took:.1f} s"
    assert r.status_code != 200 or r.json().get("status") == "failed", r.text[:300]
    assert "timeout" in r.text, r.text[:300]
    # the next query runs
    r = _sql(api, superset, "SELECT 42 AS n")
    assert r.status_code == 200 and r.json()["data"] == [{"n": 42}], r.text[:300]


# --- 5. the engineer's connection ---------------------------------------------------------------


def test_the_engineers_connection_changes_no_setting_and_touches_no_file(superset, as_, tmp_path):
    api = as_("engineer")
    warehouse = superset["warehouse"]
    # DuckDB's temporary folder for this file, which external access false still lets through
    spill = warehouse.with_name(warehouse.name + ".tmp")
    made_spill = not spill.exists()
    spill.mkdir(exist_ok=True)
    wal = Path(f"{warehouse}.wal")  # the file's own WAL, which DuckDB lets through as well
    had_wal = wal.exists()
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    (tmp_path / "rows.csv").write_text("a\n1\n")
    refused = [
        "SET memory_limit = '1GB'",
        "SET threads = 1",
        "RESET memory_limit",
        "PRAGMA threads = 1",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
        f"COPY (SELECT 1) TO '{spill / 'x.csv'}'",
        f"COPY (SELECT 1) TO '{warehouse}.wal'",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{tmp_path / 'rows.csv'}')",
        f"SELECT * FROM read_blob('{warehouse}')",
        f"SELECT count(*) FROM glob('{tmp_path}/*')",
        f"ATTACH '{other}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
    ]
    try:
        ran = [
            sql
            for sql in refused
            if (r := _sql(api, superset, sql)).status_code == 200
            and r.json().get("status") != "failed"
        ]
        written = [
            p
            for p in [tmp_path / "x.csv", *spill.iterdir(), *([] if had_wal else [wal])]
            if p.exists()
        ]
        assert ran == [] and written == [], (ran, written)
    finally:  # nothing of the test's left beside the shared warehouse
        (spill / "x.csv").unlink(missing_ok=True)
        if made_spill:
            spill.rmdir()
        if not had_wal:
            wal.unlink(missing_ok=True)
    # and the published file reads as before, and the settings are what they were
    r = _sql(api, superset, "SELECT count(*) AS n FROM marts.insurance_county_year")
    assert r.status_code == 200, r.text[:300]
    ((n,),) = marts(superset, "SELECT count(*) FROM marts.insurance_county_year")
    assert r.json()["data"] == [{"n": n}]
    r = _sql(
        api,
        superset,
        "SELECT current_setting('lock_configuration') AS locked, "
        "current_setting('enable_external_access') AS external",
    )
    assert r.json()["data"] == [{"locked": True, "external": False}], r.text[:300]


# --- 6. the instance held between queries -------------------------------------------------------


def _held(superset) -> set[tuple[int, int]]:
    """(device, inode) of each file Superset's workers hold open by the published file's name
    (or by that name before it was replaced: the kernel then adds " (deleted)")."""
    master = superset["pid"]
    name = str(superset["warehouse"].resolve())
    found = set()
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd).removesuffix(" (deleted)") == name:
                    found.add(file_identity(fd))
            except OSError:  # closed meanwhile
                continue
    return found


def test_a_nights_new_file_is_read_by_the_next_query_and_the_old_one_let_go(superset, as_):
    """Superset holds its DuckDB instance of the published file open between queries
    (fpa.dashboards.held_instance: making one is ~20 ms of every cold chart). A night's
    os.replace is still read by the next query, and the replaced file is no longer held."""
    api = as_("engineer")
    warehouse = superset["warehouse"]
    assert _sql(api, superset, "SELECT 1 AS n").status_code == 200
    assert _held(superset) == {file_identity(warehouse)}  # held after the query ended
    kept = warehouse.with_name("kept-by-the-test.duckdb")  # the same bytes, put back after
    night = warehouse.with_name("night-of-the-test.duckdb")
    for copy in (kept, night):
        copy.write_bytes(warehouse.read_bytes())
    with duckdb.connect(str(night)) as con:
        con.execute("CREATE TABLE main.published_tonight AS SELECT 7 AS n")
    os.chmod(night, 0o400)
    os.replace(night, warehouse)  # as fpa.publish does
    try:
        r = _sql(api, superset, "SELECT n FROM main.published_tonight")
        assert r.status_code == 200 and r.json()["data"] == [{"n": 7}], r.text[:300]
        assert _held(superset) == {file_identity(warehouse)}
    finally:
        os.chmod(kept, 0o400)
        os.replace(kept, warehouse)
    r = _sql(api, superset, "SELECT n FROM main.published_tonight")  # the file put back
    assert r.status_code != 200 or r.json().get("status") == "failed", r.text[:300]
    assert _held(superset) == {file_identity(warehouse)}


def test_sql_lab_cannot_detach_the_file_the_queries_share(superset, as_):
    """DETACH is no setting: lock_configuration lets it through, and it took the file from the
    instance every query of the worker shares (each query after it failed). Refused, however
    written; the queries after it read the file (each one: the module's one worker takes
    them all)."""
    api = as_("engineer")
    name = superset["warehouse"].stem
    for sql in (
        f"SET search_path = 'temp.main'; DETACH {name}",
        f"/* tidy up */ detach database if exists {name}",
    ):
        r = _sql(api, superset, sql)
        assert r.status_code != 200 or r.json().get("status") == "failed", r.text[:300]
        assert "DETACH is not allowed" in r.text, r.text[:300]
    ((n,),) = marts(superset, "SELECT count(*) FROM marts.insurance_county_year")
    for _ in range(3):
        r = _sql(api, superset, "SELECT count(*) AS n FROM marts.insurance_county_year")
        assert r.status_code == 200 and r.json()["data"] == [{"n": n}], r.text[:300]
