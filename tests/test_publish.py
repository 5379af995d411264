"""Write-audit-publish: a clean night publishes; a bad candidate is blocked and leaves the
published file byte for byte as it was; a killed run leaves it readable and unchanged and the
next run recovers alone; rollback puts the previous version back; readers holding the file open
never see an error."""

import csv
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from support.deliveries import write_policies
from support.equal_builds import equals_a_build_from_nothing

from fpa.clock import CST
from fpa.gate import SUITES_FILE, load_suites, thresholds
from fpa.night import load
from fpa.paths import DBT_DIR
from fpa.settings import last_due_month, report_due_at, service_levels

HECHI = ("451202", "金城江区", "河池市")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fpa(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fpa.cli", *args], capture_output=True, text=True, env=env
    )


@pytest.fixture(scope="module")
def clean_night(clean_inbox, tmp_path_factory):
    """The clean 2022-2023 inbox, loaded and published once."""
    warehouse = tmp_path_factory.mktemp("clean-night") / "wh" / "fpa.duckdb"
    result = load(clean_inbox, warehouse)
    assert result.published, result.summary()
    return warehouse, result


@pytest.fixture
def night(clean_night, clean_inbox, tmp_path):
    """A copy of the published warehouse folder and of its inbox, for one scenario."""
    src, _ = clean_night
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    shutil.copytree(src.parent, warehouse.parent)
    inbox = tmp_path / "inbox"
    shutil.copytree(clean_inbox, inbox)
    return inbox, warehouse


@pytest.mark.slow
def test_a_clean_night_publishes_and_records_its_gate(clean_night):
    warehouse, result = clean_night
    assert result.exit_code == 0 and result.gate is not None
    assert not result.gate.failed("blocking")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        runs = con.execute(
            "SELECT run_id, count(*), count(*) FILTER (WHERE severity = 'blocking') "
            "FROM marts.quality_results GROUP BY run_id"
        ).fetchall()
        units = con.execute(
            "SELECT sum(units) FROM marts.insurance_city_year WHERE year = 2023"
        ).fetchone()[0]
    configured = [e["severity"] for s in load_suites().values() for e in s["expectations"]]
    assert runs == [(result.run_id, len(configured), configured.count("blocking"))]
    assert units > 0
    assert os.stat(warehouse).st_mode & 0o777 == 0o400  # readers only


def test_the_service_levels_are_written_once_and_read_by_dbt_the_gate_and_the_alert():
    levels = service_levels()
    suites = yaml.safe_load(SUITES_FILE.read_text(encoding="utf-8"))
    assert not set(suites["thresholds"]) & set(levels)  # not copied into the suites
    limits = thresholds()
    assert all(limits[k] == str(v) for k, v in levels.items())
    (feeds,) = load_suites()["feeds"]["expectations"]
    assert f"{levels['insurer_late_after_hours']}小时" in feeds["description"]
    # dbt's sources take their freshness from the same vars, never a number of their own
    for path in (DBT_DIR / "models" / "staging").rglob("_*__sources.yml"):
        assert not re.search(r"count:\s*\d", path.read_text(encoding="utf-8")), path
    # the due time of the Python (bulletin, alert, the generator's truth)
    day = levels["report_due_day"]
    assert report_due_at(date(2024, 12, 1)) == datetime(2025, 1, day, 23, 59, 59, tzinfo=CST)
    assert last_due_month(datetime(2025, 1, day, 23, 59, 59, tzinfo=CST)) == date(2024, 12, 1)
    assert last_due_month(datetime(2025, 1, day, 23, 59, 58, tzinfo=CST)) == date(2024, 11, 1)


@pytest.mark.slow
def test_a_unit_mixup_is_blocked_then_allowed_then_rolled_back(night):
    inbox, warehouse = night
    before = sha(warehouse)
    # 河池市's first 2024 delivery keyed in 分 instead of 元: 100x the price of a unit, under
    # the parser's 1,000x row threshold, so only the gate's city-year check can see it
    write_policies(inbox, date(2024, 1, 5), HECHI, 40, Decimal("5000.00"))
    r = fpa("load", "--inbox", str(inbox), "--warehouse", str(warehouse))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "BLOCKING insurance_city_year.unit_premium_within_unit_factor_of_band" in r.stdout
    assert "city_name=河池市, year=2024" in r.stdout and "ratio_to_band=83.3" in r.stdout
    assert "NOT published" in r.stdout
    assert sha(warehouse) == before

    # a data engineer looks, accepts it (who / why / until) and re-runs
    (warehouse.parent / "allow_list.yml").write_text(
        "- suite: insurance_city_year\n"
        "  expectation: unit_premium_within_unit_factor_of_band\n"
        "  rows: [{city_name: 河池市, year: 2024}]\n"
        "  who: 数据组\n  why: 保险公司确认为分，已要求重发\n  until: 2099-01-01\n",
        encoding="utf-8",
    )
    r = fpa("load", "--inbox", str(inbox), "--warehouse", str(warehouse))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "published" in r.stdout and sha(warehouse) != before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        allowed = con.execute(
            "SELECT observed FROM marts.quality_results WHERE success "
            "AND expectation = 'unit_premium_within_unit_factor_of_band' "
            "AND observed LIKE 'allowed by 数据组%'"
        ).fetchall()
        units_2024 = con.execute(
            "SELECT units FROM marts.insurance_city_year "
            "WHERE year = 2024 AND city_code = '451200' AND product_code = 'JSGA'"
        ).fetchone()
    assert len(allowed) == 1 and units_2024 == (80,)

    r = fpa("rollback", "--warehouse", str(warehouse))
    assert r.returncode == 0, r.stderr
    assert sha(warehouse) == before
    # nothing new since: the next night keeps the version put back
    r = fpa("load", "--inbox", str(inbox), "--warehouse", str(warehouse))
    assert r.returncode == 0 and "nothing new" in r.stdout and sha(warehouse) == before


@pytest.mark.slow
def test_readers_holding_the_file_open_see_no_error_across_a_publish(night):
    inbox, warehouse = night
    old = duckdb.connect(str(warehouse), read_only=True)
    count = "SELECT count(*) FROM marts.load_audit"
    before = old.execute(count).fetchone()[0]
    write_policies(inbox, date(2024, 1, 5), HECHI, 10, Decimal("50.00"))
    result = load(inbox, warehouse)
    assert result.published, result.summary()
    assert old.execute(count).fetchone()[0] == before  # the old file, still whole
    # a new reader (another process: within one process DuckDB hands a path that is open
    # already the same instance) sees the new file
    new = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; print(duckdb.connect(sys.argv[1], "
            f"read_only=True).execute('{count}').fetchone()[0])",
            str(warehouse),
        ],
        capture_output=True,
        text=True,
    )
    assert new.returncode == 0 and int(new.stdout) == before + 1
    old.close()
    # dbt ran with paths relative to the builds folder: in this copied warehouse it reused the
    # parse saved by the night it was copied from instead of parsing the project again
    log = (warehouse.parent / "builds" / "dbt" / "logs" / "dbt.log").read_text(encoding="utf-8")
    last_invocation = log.rsplit("=" * 30, 1)[-1]
    models = len(list((DBT_DIR / "models").rglob("*.sql")))
    assert f"Found {models} models" in last_invocation
    assert "Unable to do partial parsing" not in last_invocation


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _running(pid: int) -> bool:
    """Neither gone nor a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_when(inbox: Path, warehouse: Path, ready, env: dict, alone: bool = False) -> list[int]:
    """SIGKILL the night at `ready`: its process group, or (alone) the CLI's process only, as a
    `kill`, the out-of-memory killer or a scheduler's timeout do. The CLI's children then."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fpa.cli",
            "load",
            "--inbox",
            str(inbox),
            "--warehouse",
            str(warehouse),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: dbt and GX die with it
        env=env,
    )
    deadline = time.monotonic() + 300
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before the point to kill it at"
    children = _children(proc.pid)
    if alone:
        proc.kill()
    else:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return children


@pytest.mark.slow
@pytest.mark.parametrize("during", ["dbt", "gate", "dbt, the CLI alone"])
def test_a_run_killed_leaves_the_published_file_and_the_next_run_recovers(night, during, tmp_path):
    """Killed during dbt or the gate, with its children (its process group) or alone: dbt's
    and GX's processes die with the CLI (fpa.warm), and the next run publishes."""
    inbox, warehouse = night
    before = sha(warehouse)
    # the runs' scratch folders, where this test alone sees them (fpa.scratch)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    write_policies(inbox, date(2024, 1, 5), HECHI, 10, Decimal("50.00"))
    builds = warehouse.parent / "builds"

    def dbt_running() -> bool:
        return (builds / "building.duckdb").exists()

    def gate_running() -> bool:  # the candidate is renamed to its run id once dbt is done
        return any(p.name[0].isdigit() for p in builds.glob("*.duckdb"))

    alone = during.endswith("alone")
    children = _kill_when(
        inbox, warehouse, gate_running if during == "gate" else dbt_running, env, alone
    )
    assert children, "dbt's process had not started"
    deadline = time.monotonic() + 5
    while any(map(_running, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    # before: a CLI killed alone left dbt building for the rest of its build, with the state
    # attached and the work database open
    assert not any(map(_running, children)), [
        Path(f"/proc/{c}/cmdline").read_bytes() for c in children if _running(c)
    ]
    assert sha(warehouse) == before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM marts.insurance_city_year").fetchone()[0] > 0
    if alone:  # with its children gone, what is left is what the "dbt" case recovers from
        return
    # a killed run cannot remove its scratch: dbt's child was parsing or building
    left = sorted(p.name for p in scratch.iterdir())
    if during == "dbt":
        assert any(name.startswith("fpa-dbt-parse-") for name in left), left

    r = fpa("load", "--inbox", str(inbox), "--warehouse", str(warehouse), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # the next run removed the dead run's folders, and its own on the way out
    assert list(scratch.iterdir()) == [], (left, list(scratch.iterdir()))
    assert sha(warehouse) != before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "SELECT units FROM marts.insurance_city_year "
            "WHERE year = 2024 AND city_code = '451200' AND product_code = 'JSGA'"
        ).fetchone() == (20,)


def _candidate_from(warehouse: Path, tmp_path: Path) -> Path:
    candidate = tmp_path / "candidate.duckdb"
    shutil.copy(warehouse, candidate)
    os.chmod(candidate, 0o644)
    return candidate


@pytest.mark.slow
def test_an_emptied_mart_a_published_id_number_and_a_raw_one_block(night, tmp_path):
    from datetime import datetime

    from fpa.clock import CST
    from fpa.gate import BIG_TABLE_ROWS, _published_text_view, run_gate
    from fpa.state import StatePaths

    _, warehouse = night
    candidate = _candidate_from(warehouse, tmp_path)
    leaked = "45120219850612011X"
    with duckdb.connect(str(candidate)) as con:
        con.execute("DELETE FROM marts.training_monthly")
        con.execute("UPDATE marts.load_audit SET reason = 'see ' || ? WHERE rowid = 0", [leaked])
        # a phone number in a column of codes of a big table, which the check passes over
        # when DuckDB's statistics bound every value below 11 characters (fpa.gate)
        (rows,) = con.execute("SELECT count(*) FROM marts.insurance_progress").fetchone()
        assert rows >= BIG_TABLE_ROWS
        con.execute("CREATE SCHEMA IF NOT EXISTS gate")
        _published_text_view(con)
        (view,) = con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'published_text'"
        ).fetchone()
        assert "'marts.insurance_progress' AS table_name, 'county_name'" in view
        assert "'marts.insurance_progress' AS table_name, 'county_code'" not in view
        con.execute(
            "UPDATE marts.insurance_progress SET county_code = '13812345678' WHERE rowid = 7"
        )
    with duckdb.connect(str(StatePaths(warehouse).db)) as con:  # an ID kept as a number
        con.execute(
            "UPDATE raw.insurer_policies SET person_key = 451202198506120112 WHERE rowid = 0"
        )
    result = run_gate(candidate, warehouse, "test-run", datetime.now(CST))
    blocking = {c.expectation: c.observed for c in result.failed("blocking")}
    assert result.blocked
    assert set(blocking) == {
        "no_table_emptied",
        "no_id_or_phone_published",
        "person_key_is_a_keyed_hash",
    }
    assert "table_name=marts.training_monthly" in blocking["no_table_emptied"]
    assert "marts.load_audit, column_name=reason" in blocking["no_id_or_phone_published"]
    found = blocking["no_id_or_phone_published"]
    assert "marts.insurance_progress, column_name=county_code" in found
    # the finding names where, never the number itself
    with duckdb.connect(str(candidate), read_only=True) as con:
        recorded = con.execute("SELECT string_agg(observed, ' ') FROM marts.quality_results")
        assert leaked not in recorded.fetchone()[0]


@pytest.mark.slow
def test_an_incremental_night_publishes_what_a_full_build_would(clean_inbox, tmp_path):
    """int_policies__current, int_claims__current and int_insurance__area_day are kept from
    night to night and updated for what arrived: the deliveries of November and December 2023,
    held back from the first night, touch policies written earlier (their changes and refunds)
    and claims of both years; a city's report of November comes with them. The second night's
    marts must equal a build of the same state from nothing, row for row."""
    from fpa.build import builds_dir, work_db

    inbox = tmp_path / "inbox"
    shutil.copytree(clean_inbox, inbox)
    held = tmp_path / "held"
    held.mkdir()
    late = sorted(inbox.glob("insurer/JS_*_20231[12]*"))
    assert len(late) == 4 * 4  # policies and claims, .csv and .ok, twice a month
    report = sorted(inbox.glob("reports/*2023年11月*"))[0]
    for p in [*late, report]:
        shutil.move(p, held / p.name)
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    assert load(inbox, warehouse).published
    for p in [*late, report]:
        shutil.move(held / p.name, p)
    second = load(inbox, warehouse)
    assert second.published and second.ingest.files["loaded"] == len(late) // 2 + 1
    assert second.build.selector == "nightly_from_last_build"  # a workbook came
    # dbt's child ends without the interpreter's teardown once DuckDB has checkpointed what dbt
    # wrote (fpa.build._leave): no write-ahead log is left, to be parted from its file when the
    # candidate is renamed
    assert sorted(builds_dir(warehouse).rglob("*.wal")) == []
    target = builds_dir(warehouse) / "dbt" / "target"
    for name in ("int_policies__current", "int_claims__current"):
        model = Path(f"fpa/models/intermediate/insurance/{name}.sql")
        changed = model.with_name(name.replace("current", "changed") + ".sql")
        # the night ran incrementally: only the keys of unseen files, deleted and inserted
        compiled = (target / "compiled" / changed).read_text()
        if name == "int_policies__current":
            # the files not taken in yet, their rows found past the history's row groups
            assert "not in (select file_sha256 from" in compiled
            assert "and received_at >= cast('" in compiled
        else:
            assert "not in (select distinct file_sha256" in compiled
        assert "delete from" in (target / "run" / model).read_text()
        # and its uniqueness test read the rows this night wrote (built_at the newest), not all
        tested = next((target / "compiled").rglob(f"unique_in_this_build_{name}_*.sql"))
        assert "where built_at = cast(" in tested.read_text()
        with duckdb.connect(str(work_db(warehouse)), read_only=True) as con:
            by_build = con.execute(
                f"SELECT count(*) FROM intermediate.{name} GROUP BY built_at ORDER BY built_at"
            ).fetchall()
        assert len(by_build) == 2 and 0 < by_build[1][0] < by_build[0][0], name

    # the night started from the first night's candidate (fpa.build.last_build): the to-date
    # marts merged by year, the seeds and views it held not written again, every test run
    assert (second.build.nodes["model", "success"], second.build.nodes["test", "pass"]) == (34, 81)
    # no seed, and no unit test (a per_night model's came back with it)
    assert not {"seed", "unit_test"} & {kind for kind, _ in second.build.nodes}
    for mart in (
        "marts/insurance/insurance_progress.sql",
        "dashboards/insurance_progress_trend.sql",
        "dashboards/insurance_progress_named.sql",
    ):
        assert "delete from" in (target / "run" / "fpa" / "models" / mart).read_text(), mart
    # the staging tests of every policy version read this night's (macros/get_where_subquery.sql)
    tests = list((target / "compiled").rglob("*_stg_insurer__pol*.sql"))
    assert len(tests) == 3 and all("and received_at >= cast('" in t.read_text() for t in tests), (
        tests
    )
    full = equals_a_build_from_nothing(warehouse, tmp_path / "from-nothing")
    # the policies merged night by night hold what every version computed at once holds: each
    # version's premium once, the same current version, the same files taken in
    with duckdb.connect(str(work_db(warehouse)), read_only=True) as con:
        con.execute(f"ATTACH '{work_db(full)}' AS whole (READ_ONLY)")
        for table, columns in (
            ("int_policies__current", "* EXCLUDE (built_at)"),
            ("int_policies__files", "*"),
        ):
            differ = con.execute(
                f"SELECT count(*) FROM ((SELECT {columns} FROM intermediate.{table} EXCEPT ALL "
                f"SELECT {columns} FROM whole.intermediate.{table}) UNION ALL "
                f"(SELECT {columns} FROM whole.intermediate.{table} EXCEPT ALL "
                f"SELECT {columns} FROM intermediate.{table}))"
            ).fetchone()[0]
            (rows,) = con.execute(f"SELECT count(*) FROM intermediate.{table}").fetchone()
            assert differ == 0 and rows > 0, (table, differ, rows)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        policies = "SELECT count(*) FROM marts.insurance_county_year WHERE year = 2023"
        assert con.execute(policies).fetchone()[0] > 0


def _refunds_of_last_year(extracts: list[Path], year: int) -> int:
    """退保 rows of policies written in `year` in these policy extracts (GB18030, or UTF-8)."""
    n = 0
    for f in extracts:
        raw = f.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gb18030")
        rows = list(csv.DictReader(io.StringIO(text)))
        n += sum(r["保单状态"] == "退保" and r["投保日期"].startswith(str(year)) for r in rows)
    return n


@pytest.mark.slow
def test_a_new_years_night_and_late_refunds_of_last_year_publish_what_a_full_build_would(
    clean_inbox, tmp_path
):
    """A night on the first delivery of a year (2023's first extracts, carrying a 退保 of a
    policy written in 2022), then a night on the next delivery, with more 退保 of 2022's
    policies: after each, the published marts equal a build of the same state from nothing, row
    for row."""
    inbox = tmp_path / "inbox"
    shutil.copytree(clean_inbox, inbox)
    held = tmp_path / "held"
    held.mkdir()
    for p in inbox.glob("insurer/JS_*_2023*"):
        shutil.move(p, held / p.name)
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    assert load(inbox, warehouse).published

    for day, equals in (("20230115", "new-year"), ("20230131", "late-refunds")):
        files = sorted(held.glob(f"JS_*_{day}.*"))
        assert len(files) == 4  # policies and claims, .csv and .ok
        refunds = _refunds_of_last_year(
            [f for f in files if "POLICY" in f.name and f.suffix == ".csv"], 2022
        )
        assert refunds > 0, day  # the day brings 退保 of last year's policies
        for p in files:
            shutil.move(p, inbox / "insurer" / p.name)
        night = load(inbox, warehouse)
        assert night.published and night.ingest.files["loaded"] == 2, night.summary()
        # no workbook since the last build: the nodes of the workbooks' sources are left as
        # that build wrote them, and what is published is still what a full build gives
        assert night.build.selector == "nightly_no_new_workbooks"
        assert night.build.nodes["model", "success"] == 32, night.build.summary()
        equals_a_build_from_nothing(warehouse, tmp_path / equals)


@pytest.mark.slow
def test_data_docs_render_offline(clean_night):
    warehouse, _ = clean_night
    docs = warehouse.parent / "quality" / "docs"
    pages = list(docs.rglob("*.html"))
    assert (docs / "index.html") in pages and len(pages) > 5
    remote = [
        (p.name, line.strip()[:80])
        for p in pages
        for line in p.read_text(encoding="utf-8").splitlines()
        if ("<script" in line or "stylesheet" in line or "<img" in line) and "https://" in line
    ]
    assert remote == []
    index = (docs / "index.html").read_text(encoding="utf-8")
    local = re.findall(r'(?:src|href)="(static/[^"]+)"', index)
    assert len(local) > 10 and all((docs / s).is_file() for s in local)
    # no subresource-integrity or CORS attribute: a browser refuses those on file:// pages
    assert "integrity=" not in index and "crossorigin" not in index


def test_dbt_is_given_absolute_paths_for_a_relative_warehouse(tmp_path, monkeypatch):
    """`fpa demo` passes demo/warehouse/fpa.duckdb: dbt would put a relative --target-path
    under dbt/ (its project), and the build's results would not be found."""
    from fpa.build import dbt_args, dbt_env

    monkeypatch.chdir(tmp_path)
    warehouse = Path("demo") / "warehouse" / "fpa.duckdb"
    args = dbt_args("build", warehouse)
    paths = [args[i + 1] for i, a in enumerate(args) if a in ("--target-path", "--log-path")]
    assert paths == [
        str(tmp_path / "demo/warehouse/builds/dbt/target"),
        str(tmp_path / "demo/warehouse/builds/dbt/logs"),
    ]
    assert all(Path(v).is_absolute() for v in dbt_env(Path("x.duckdb"), warehouse).values())
