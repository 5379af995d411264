"""The published marts of a night on the generator's messy inbox equal the generator's truth,
value by value: money to 0.01 yuan, rates to 1e-4, counts exactly, at every grain, every year
2017-2024 and every product."""

import collections
import json
import os
import subprocess
from datetime import datetime
from decimal import Decimal

import duckdb
import pytest
import yaml
from support.truth import (
    BY_MONTH,
    KEYS,
    ON_DAYS,
    PROGRESS_KEYS,
    mismatches,
    read_truth,
)

from fpa.build import builds_dir, dbt_args, dbt_env, dbt_executable
from fpa.paths import DBT_DIR

# every test reads the session's small night
pytestmark = [pytest.mark.slow]

# an ID number or a mobile number standing alone (RE2, as DuckDB reads it: no lookbehind)
ID_OR_PHONE = r"(^|[^0-9A-Za-z])(\d{17}[\dXx]|1[3-9]\d{9})([^0-9A-Za-z]|$)"


def published(warehouse) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse), read_only=True)


@pytest.mark.parametrize("table", list(KEYS))
def test_every_value_of_the_mart_equals_the_truth(small_inbox, small_night, table):
    warehouse, _ = small_night
    truth = read_truth(small_inbox, table)
    # the reporting marts run to the build's time (dbt's run_started_at), the truth to the end
    # of the generator's range, the last month it wrote reports for
    within = f"WHERE month <= '{max(t['month'] for t in truth)}'" if table in BY_MONTH else ""
    with published(warehouse) as con:
        assert mismatches(con, truth, table, KEYS[table], within) == []


def test_the_grid_covers_every_year_product_and_area(small_night):
    with published(small_night[0]) as con:
        county = con.execute(
            "SELECT count(DISTINCT year), count(DISTINCT product_code), "
            "count(DISTINCT county_code), count(*) FROM marts.insurance_county_year"
        ).fetchone()
        city = con.execute(
            "SELECT min(year), max(year), count(*) FROM marts.insurance_city_year"
        ).fetchone()
    assert county == (8, 3, 111, 8 * 3 * 111)
    assert city == (2017, 2024, 8 * 3 * 14)


def test_progress_on_the_truths_days_equals_the_truth(small_inbox, small_night):
    """marts.insurance_progress on the days the generator knows the figures to date of (1
    January, 29 February, month ends, a mid-month day, 31 December and the newsletters' days):
    every value, at the three levels, every product and year."""
    truth = read_truth(small_inbox, "insurance_progress")
    days = sorted({t["as_of_date"] for t in truth})
    assert {"2020-02-29", "2020-08-31", "2022-04-30", "2023-12-31", "2024-01-01"} <= set(days)
    with published(small_night[0]) as con:
        wrong = mismatches(con, truth, "insurance_progress", PROGRESS_KEYS, ON_DAYS, [days])
    assert wrong[:20] == []


def test_progress_runs_every_day_and_ends_each_year_on_the_yearly_marts(small_night):
    """Every day of each year held (the newest year up to the newest insurer file's day), and on
    31 December, row for row, the yearly marts: the two are sums of one definition."""
    with published(small_night[0]) as con:
        days = dict(
            con.execute(
                "SELECT year, count(DISTINCT as_of_date) FROM marts.insurance_progress "
                "GROUP BY year"
            ).fetchall()
        )
        per_day = con.execute(
            "SELECT DISTINCT count(*) FROM marts.insurance_progress GROUP BY as_of_date"
        ).fetchall()
        differ = {}
        for table, level, key in (
            ("insurance_area_year", "area_level", "area_level, city_code, county_code"),
            ("insurance_city_year", "'city'", "city_code"),
            ("insurance_county_year", "'county'", "county_code"),
        ):
            yearly = (
                f"SELECT year, product_code, {key}, policies, units, premium_yuan, "
                "insured_persons, claims_settled, claims_paid_yuan, loss_ratio"
            )
            progress = (
                f"SELECT year, product_code, {key}, policies_to_date, units_to_date, "
                "premium_to_date_yuan, insured_persons_to_date, claims_settled_to_date, "
                "claims_paid_to_date_yuan, loss_ratio_to_date FROM marts.insurance_progress "
                f"WHERE as_of_date = make_date(year, 12, 31) AND area_level = {level}"
            )
            differ[table] = con.execute(
                f"SELECT count(*) FROM (({yearly} FROM marts.{table}) EXCEPT ALL ({progress})) "
                f"UNION ALL SELECT count(*) FROM (({progress}) EXCEPT ALL ({yearly} "
                f"FROM marts.{table}))"
            ).fetchall()
        targets = con.execute(
            "SELECT count(*) FROM marts.insurance_area_year a JOIN marts.insurance_progress p "
            "ON p.as_of_date = make_date(a.year, 12, 31) AND a.product_code = p.product_code "
            "AND a.area_level = p.area_level AND a.city_code IS NOT DISTINCT FROM p.city_code "
            "AND a.county_code IS NOT DISTINCT FROM p.county_code "
            "WHERE a.target_units IS NOT DISTINCT FROM p.target_units "
            "AND a.completion_rate IS NOT DISTINCT FROM p.completion_rate_to_date "
            "AND p.time_share = 1"
        ).fetchone()[0]
    assert days == {y: 366 if y % 4 == 0 else 365 for y in range(2017, 2025)}
    assert per_day == [(3 * (1 + 14 + 111),)]
    assert differ == {t: [(0,), (0,)] for t in differ}
    assert targets == 8 * 3 * (1 + 14 + 111)


def test_load_audit_mart_is_every_file_received(small_inbox, small_night):
    with published(small_night[0]) as con:
        got = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT file_name, source, file_sha256, status, rows_received, rows_loaded, "
                "rows_quarantined, received_at, reason FROM marts.load_audit"
            ).fetchall()
        }
    want = {
        t["file_name"]: (
            t["source"],
            t["file_sha256"],
            t["status"],
            int(t["rows_received"]),
            int(t["rows_loaded"]),
            int(t["rows_quarantined"]),
            datetime.fromisoformat(t["received_at"]),
        )
        for t in read_truth(small_inbox, "files")
        if t["in_load_audit"] == "True"
    }
    assert {k: v[:-1] for k, v in got.items()} == want
    # every file set aside says why
    assert all(v[-1] for v in got.values() if v[2] != "loaded")


def test_quarantine_mart_is_every_row_set_aside_with_its_reason(small_inbox, small_night):
    with published(small_night[0]) as con:
        rows = con.execute(
            "SELECT file_name, raw_row->>'工作表', row_number, reason_code, reason "
            "FROM marts.quarantine"
        ).fetchall()
    got = collections.Counter((f, s or "", n, c) for f, s, n, c, _ in rows)
    want = collections.Counter(
        (q["file_name"], q["sheet"], int(q["row_number"]), q["reason_code"])
        for q in read_truth(small_inbox, "quarantine")
    )
    assert got == want and all(r[4] for r in rows)


def test_published_file_holds_marts_reference_and_dashboards_only_and_nothing_personal(
    small_night,
):
    warehouse, _ = small_night
    with published(warehouse) as con:
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM duckdb_tables()").fetchall()}
        views = con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()
        masked = con.execute(
            "SELECT count(*) FROM marts.quarantine WHERE raw_row->>'证件号码' LIKE '%****%'"
        ).fetchone()[0]
    assert schemas == {"marts", "ref", "dashboards"} and views == (0,)
    assert masked > 0  # the quarantine shows masked IDs, never whole ones
    # every text value of every published table (a scan of the file's bytes is no test: a
    # dictionary stores its strings back to back, so three county codes read as an ID number)
    assert text_values_like(warehouse, ID_OR_PHONE) == []
    # and the scan reads them all, JSON included: it finds the masked IDs of the quarantine
    assert text_values_like(warehouse, r"\d{6}\*{12}")


def text_values_like(warehouse, pattern: str) -> list[tuple[str, str]]:
    """(table.column, value) of every text value matching the pattern, in every table."""
    found = []
    with published(warehouse) as con:
        columns = con.execute(
            "SELECT schema_name || '.' || table_name, column_name FROM duckdb_columns() "
            "WHERE database_name = current_database() AND data_type IN ('VARCHAR', 'JSON')"
        ).fetchall()
        for table, column in columns:
            found += [
                (f"{table}.{column}", v)
                for (v,) in con.execute(
                    f'SELECT "{column}"::VARCHAR FROM {table} '
                    f'WHERE regexp_matches("{column}"::VARCHAR, ?)',
                    [pattern],
                ).fetchall()
            ]
    return found


def test_a_second_night_on_the_same_inbox_changes_nothing(small_inbox, small_night):
    from fpa.night import load

    warehouse, _ = small_night
    before = warehouse.read_bytes()
    again = load(small_inbox, warehouse)
    assert again.up_to_date and again.exit_code == 0
    assert sum(again.ingest.files.values()) == 0
    assert warehouse.read_bytes() == before


def test_the_build_ran_every_model_and_test(small_night):
    _, result = small_night
    nodes = collections.Counter()
    for (kind, status), n in result.build.nodes.items():
        nodes[kind, status] += n
    # every model of the project, each exactly once
    assert nodes["model", "success"] == len(list((DBT_DIR / "models").rglob("*.sql"))) == 53
    # the suite runs the unit tests and the seeds' own tests, below: 81 of the 97 data tests
    assert not [k for k in nodes if k[0] == "unit_test"]
    assert nodes["test", "pass"] == 81
    assert not [k for k in nodes if k[1] in ("error", "fail")]


def test_the_dbt_unit_tests_pass(small_night):
    """The unit tests the night leaves out: on an empty build (`--empty`: every model with no
    rows, so each unit test's inputs exist), as in CI."""
    warehouse, _ = small_night
    proc = _dbt(["build", "--empty"], warehouse)
    assert proc.returncode == 0, proc.stdout[-2000:]
    results = json.loads(
        (builds_dir(warehouse) / "dbt" / "target" / "run_results.json").read_text()
    )["results"]
    unit = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_")}
    written = [
        t["name"]
        for y in (DBT_DIR / "models").rglob("*.yml")
        for t in (yaml.safe_load(y.read_text(encoding="utf-8")) or {}).get("unit_tests", [])
    ]
    assert len(unit) == len(written) == 8 and set(unit.values()) == {"pass"}
    # and the seeds' own data tests, which the nightly selector leaves out (dbt/selectors.yml)
    manifest = json.loads((builds_dir(warehouse) / "dbt" / "target" / "manifest.json").read_text())
    seeds_only = {
        uid
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] == "test"
        and all(p.startswith("seed.") for p in n["depends_on"]["nodes"])
    }
    status = {r["unique_id"]: r["status"] for r in results}
    assert len(seeds_only) == 16 and {status[uid] for uid in seeds_only} == {"pass"}


def _dbt(command: list[str], warehouse) -> subprocess.CompletedProcess:
    """dbt itself, as a data engineer runs it against the last build's candidate."""
    candidate = builds_dir(warehouse) / "inspect.duckdb"
    candidate.write_bytes(warehouse.read_bytes())
    os.chmod(candidate, 0o644)
    return subprocess.run(
        [dbt_executable(), *dbt_args(command, warehouse)],
        env={**os.environ, **dbt_env(candidate, warehouse)},
        capture_output=True,
        text=True,
    )


def test_source_freshness_names_the_late_feeds(small_night):
    warehouse, _ = small_night
    _dbt(["source", "freshness"], warehouse)
    sources = json.loads((builds_dir(warehouse) / "dbt" / "target" / "sources.json").read_text())
    status = {r["unique_id"].split(".", 2)[2]: r["status"] for r in sources["results"]}
    # the generated deliveries end in 2024 (the generator's truth): every feed is late today
    assert status["insurer.insurer_policies"] == "error"
    assert status["insurer.insurer_claims"] == "error"
    assert status["reports.reports"] == "error"
    assert status["audit.load_audit"] == "pass"  # the night itself ran just now


def test_docs_generate_describes_every_mart(small_night):
    warehouse, _ = small_night
    proc = _dbt(["docs", "generate"], warehouse)
    assert proc.returncode == 0, proc.stdout[-2000:]
    target = builds_dir(warehouse) / "dbt" / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    marts = {
        n["name"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] == "marts"
    }
    assert set(marts) == {
        *KEYS,
        "load_audit",
        "quarantine",
        "insurance_area_year",
        "insurance_progress",
        "data_issues",
    }
    undocumented = [
        (name, c)
        for name, n in marts.items()
        for c, col in n["columns"].items()
        if not col.get("description")
    ]
    assert undocumented == [] and all(n["description"] for n in marts.values())
    assert "承保件数" in marts["insurance_city_year"]["columns"]["policies"]["description"]
    exposures = {e["name"] for e in manifest["exposures"].values()}
    assert exposures == {
        f"{d}_dashboard" for d in ("insurance", "activities", "training", "quality", "overview")
    }
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.fpa.insurance_city_year" in catalog["nodes"]


# what makes a model's SQL differ from night to night while the project stays the same
NIGHTLY_JINJA = ("run_started_at", "run_query", "invocation_id", "env_var", "modules.datetime")


def test_what_a_night_leaves_as_the_last_build_wrote_it_cannot_have_changed(small_night):
    """A night that starts from the last build's candidate does not write its views again
    (dbt/selectors.yml, nightly_from_last_build) but those tagged per_night: every view whose
    SQL, or a macro it calls at any depth, reads the night's time or the database. And a night
    with no new workbook (nightly_no_new_workbooks) leaves the nodes that read only the
    workbooks' sources and seeds: none of them may read the night's time, the insurer's
    extracts or the audit."""
    warehouse, _ = small_night
    proc = _dbt(["parse"], warehouse)
    assert proc.returncode == 0, proc.stdout[-2000:]
    manifest = json.loads((builds_dir(warehouse) / "dbt" / "target" / "manifest.json").read_text())
    macros = manifest["macros"]
    varying = {uid for uid, m in macros.items() if any(j in m["macro_sql"] for j in NIGHTLY_JINJA)}
    while True:  # and the macros that call them
        more = {
            uid
            for uid, m in macros.items()
            if uid not in varying and set(m["depends_on"]["macros"]) & varying
        }
        if not more:
            break
        varying |= more
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    nightly = {
        name
        for name, n in models.items()
        if any(j in n["raw_code"] for j in NIGHTLY_JINJA)
        or set(n["depends_on"]["macros"]) & varying
    }
    views = {name for name, n in models.items() if n["config"]["materialized"] == "view"}
    tagged = {name for name, n in models.items() if "per_night" in n["tags"]}
    assert nightly & views == tagged & views == {"int_calendar__report_months"}
    assert len(views) == 20

    def listed(selector: str) -> set[str]:
        proc = _dbt(["ls", "--selector", selector, "--output", "json", "--quiet"], warehouse)
        assert proc.returncode == 0, proc.stdout[-2000:]
        return {json.loads(line)["unique_id"] for line in proc.stdout.splitlines() if line}

    left = listed("nightly_from_last_build") - listed("nightly_no_new_workbooks")
    left_models = {uid.split(".")[-1] for uid in left if uid.startswith("model.")}
    assert left_models == {"activities_monthly", "training_monthly"}  # and ~30 data tests
    assert left_models & nightly == set()
    ancestors = dict(manifest["parent_map"])
    for uid in left:  # nothing left reads the insurer or the audit, at any depth
        seen, todo = set(), [uid]
        while todo:
            for parent in ancestors.get(todo.pop(), []):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        assert not {p for p in seen if p.startswith(("source.fpa.insurer", "source.fpa.audit"))}


def test_the_backfill_from_the_archive_publishes_the_same_marts(small_night, tmp_path):
    """`fpa load --from-archive`: every file received, reparsed from the landing archive (no
    inbox), gives the very marts the nightly path gave."""
    import shutil
    import sys

    source, _ = small_night
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    shutil.copytree(source.parent, warehouse.parent)
    r = subprocess.run(
        [sys.executable, "-m", "fpa.cli", "load", "--from-archive", "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "published (run" in r.stdout
    with published(source) as a, published(warehouse) as b:
        for table in [*KEYS, "load_audit", "quarantine", "data_issues"]:
            order = "ORDER BY ALL"
            assert (
                a.execute(f"SELECT * FROM marts.{table} {order}").fetchall()
                == b.execute(f"SELECT * FROM marts.{table} {order}").fetchall()
            ), table


def test_the_area_table_adds_the_province_and_the_counties_yoy(small_inbox, small_night):
    """marts.insurance_area_year (the dashboards' table): its city rows are the city mart, its
    province row the sum of the truth's cities (persons are keyed by county, so they add up in
    the generator), the province's completion rate units / the sum of the cities' targets, and
    each county's yoy its units minus the year before."""
    warehouse, _ = small_night
    cities = read_truth(small_inbox, "insurance_city_year")
    counties = read_truth(small_inbox, "insurance_county_year")
    want: dict[tuple, dict] = {}
    for r in cities:
        p = want.setdefault((int(r["year"]), r["product_code"]), collections.Counter())
        for c in ("policies", "units", "insured_persons", "claims_settled"):
            p[c] += int(r[c])
        for c in ("premium_yuan", "claims_paid_yuan"):
            p[c] += Decimal(r[c])
        p["target_units"] += int(r["target_units"] or 0)
    with published(warehouse) as con:
        got = con.execute(
            "SELECT year, product_code, policies, units, insured_persons, claims_settled, "
            "premium_yuan, claims_paid_yuan, target_units, completion_rate, yoy_units, "
            "area_code, area_name, city_code FROM marts.insurance_area_year "
            "WHERE area_level = 'province' ORDER BY product_code, year"
        ).fetchall()
        county_yoy = dict(
            ((y, p, c), yoy)
            for y, p, c, yoy in con.execute(
                "SELECT year, product_code, county_code, yoy_units FROM "
                "marts.insurance_area_year WHERE area_level = 'county'"
            ).fetchall()
        )
        city_rows = con.execute(
            "SELECT count(*) FROM marts.insurance_area_year a JOIN marts.insurance_city_year c "
            "USING (year, product_code, city_code) WHERE a.area_level = 'city' "
            "AND a.units = c.units AND a.completion_rate IS NOT DISTINCT FROM c.completion_rate "
            "AND a.yoy_units IS NOT DISTINCT FROM c.yoy_units AND a.area_name = c.city_name"
        ).fetchone()[0]
    assert len(got) == len(want) == 8 * 3
    assert city_rows == len(cities)
    prev_units: dict[str, int] = {}
    for row in got:
        year, product, *values = row
        w = want[(year, product)]
        assert values[:6] == [
            w["policies"],
            w["units"],
            w["insured_persons"],
            w["claims_settled"],
            w["premium_yuan"],
            w["claims_paid_yuan"],
        ]
        target = w["target_units"] or None
        assert values[6] == target
        assert values[7] == (pytest.approx(w["units"] / target) if target else None)
        assert values[8] == (w["units"] - prev_units[product] if product in prev_units else None)
        assert values[9:] == ["450000", "广西壮族自治区", None]
        prev_units[product] = w["units"]
    by_county = {(int(r["year"]), r["product_code"], r["county_code"]): r for r in counties}
    for (year, product, county), r in by_county.items():
        before = by_county.get((year - 1, product, county))
        want_yoy = int(r["units"]) - int(before["units"]) if before else None
        assert county_yoy[(year, product, county)] == want_yoy


def test_dashboard_tables_are_their_marts_with_labels(small_night):
    """Superset's tables (schema dashboards) hold every row of their mart, the same figures, and
    exactly the columns the Superset bundle declares."""
    from fpa.dashboards import bundle, spec

    warehouse, _ = small_night
    models = bundle.dbt_models()
    with published(warehouse) as con:
        for ds in spec.DATASETS:
            got = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE schema_name = ? AND table_name = ?",
                [ds.schema, ds.name],
            ).fetchall()
            declared = [(n, t) for n, t, _ in bundle.columns_of(ds, models)]
            assert sorted(got) == sorted(declared), ds.name
        for named, mart, measure in [
            ("activities_named", "activities_monthly", "participants"),
            ("training_named", "training_monthly", "trainee_days"),
            ("report_completeness_named", "report_completeness", "revisions"),
            ("load_audit_nightly", "load_audit", "rows_loaded"),
            ("quarantine_named", "quarantine", "row_number"),
            ("data_issues_named", "data_issues", "row_number"),
            ("reporting_rates_named", "reporting_rates", "expected_reports"),
        ]:
            one, two = (
                con.execute(f"SELECT count(*), sum({measure}) FROM {t}").fetchone()
                for t in (f"dashboards.{named}", f"marts.{mart}")
            )
            assert one == two and one[0] > 0, named
        newest, flagged, city_level = con.execute(
            "SELECT max(year), count(DISTINCT year) FILTER (WHERE is_newest_year), "
            "bool_and(county_name = '市本级') FILTER (WHERE county_code IS NULL) "
            "FROM dashboards.activities_named"
        ).fetchone()
        assert (newest, flagged, city_level) == (2024, 1, True)
        assert con.execute(
            "SELECT DISTINCT year FROM dashboards.insurance_province_recent ORDER BY 1"
        ).fetchall() == [(2023,), (2024,)]
        runs = con.execute(
            "SELECT count(DISTINCT run_id), any_value(run_id), count(*) "
            "FROM dashboards.quality_latest"
        ).fetchone()
        newest_run = con.execute(
            "SELECT run_id, count(*) FROM marts.quality_results "
            "GROUP BY run_id, run_at ORDER BY run_at DESC LIMIT 1"
        ).fetchone()
        assert runs == (1, *newest_run)
