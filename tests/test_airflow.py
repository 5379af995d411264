"""The nightly DAG on a real Airflow 3.1 (SQLite metadata, `airflow dags test`, no network):
it imports cleanly, runs end to end and publishes exactly the truth, and a stale feed mails an
alert to a real SMTP server on loopback."""

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import free_port, read_truth
from test_marts import BY_MONTH, KEYS, same, text

from fpa.orchestration.local import airflow_env, airflow_executable, prepare

AIRFLOW = airflow_executable()


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow")
    prepare(home)  # what the demo and a deployment run: db migrate, the pool
    return home


def test_the_dag_bag_imports_with_no_error(airflow_home):
    probe = (
        "import json, time; t = time.monotonic()\n"
        "from airflow.models.dagbag import DagBag\n"
        "b = DagBag(include_examples=False); s = time.monotonic() - t\n"
        "print(json.dumps({'errors': b.import_errors, 'seconds': s, 'dags': {d: {"
        "'tasks': b.dags[d].task_ids, 'schedule': str(b.dags[d].timetable.summary), "
        "'tz': str(b.dags[d].timezone), 'catchup': b.dags[d].catchup, "
        "'max_active_runs': b.dags[d].max_active_runs, "
        "'pools': sorted({t.pool for t in b.dags[d].tasks})} for d in b.dags}}))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe],
        env=airflow_env(airflow_home),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    bag = json.loads(r.stdout.strip().splitlines()[-1])
    assert bag["errors"] == {}
    nightly = bag["dags"]["fpa_nightly"]
    assert nightly["tasks"] == [
        "pull_new_files",
        "land_and_parse",
        "needs_build",
        "build",
        "gate",
        "publish",
    ]
    assert nightly["schedule"] == "0 2 * * *" and nightly["tz"] == "Asia/Shanghai"
    assert nightly["catchup"] is False and nightly["max_active_runs"] == 1
    assert set(bag["dags"]) == {
        "fpa_nightly",
        "fpa_intraday",
        "fpa_freshness",
        "fpa_superset_refresh",
    }
    # corrections within minutes: the nightly's own tasks behind a poll of the inbox, one run
    # at a time, in the DuckDB writer's pool
    intraday = bag["dags"]["fpa_intraday"]
    assert intraday["tasks"] == ["check_inbox", *nightly["tasks"][1:]]
    assert intraday["schedule"] == "*/5 * * * *" and intraday["tz"] == "Asia/Shanghai"
    assert intraday["catchup"] is False and intraday["max_active_runs"] == 1
    assert intraday["pools"] == ["fpa_duckdb"]
    # a real scheduler never queues a task whose pool does not exist (`dags test` ignores
    # pools): every pool a task names is there, and the DuckDB writer's has one slot
    listed = subprocess.run(
        [AIRFLOW, "pools", "list", "--output", "json"],
        env=airflow_env(airflow_home),
        capture_output=True,
        text=True,
    )
    pools = {p["pool"]: int(p["slots"]) for p in json.loads(listed.stdout)}
    assert pools["fpa_duckdb"] == 1 and nightly["pools"] == ["fpa_duckdb"]
    assert all(set(d["pools"]) <= set(pools) for d in bag["dags"].values())
    print(f"DagBag parse: {bag['seconds']:.2f} s")


@pytest.fixture(scope="module")
def nightly_run(airflow_home, small_inbox, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("airflow-wh") / "fpa.duckdb"
    env = airflow_env(airflow_home, FPA_INBOX=str(small_inbox), FPA_WAREHOUSE=str(warehouse))
    r = subprocess.run(
        [AIRFLOW, "dags", "test", "fpa_nightly"], env=env, capture_output=True, text=True
    )
    return warehouse, r


def test_the_nightly_dag_runs_end_to_end_and_publishes_the_truth(nightly_run, small_inbox):
    warehouse, r = nightly_run
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert "state=success" in log and "DagRun Finished: dag_id=fpa_nightly" in log
    for task in ("pull_new_files", "land_and_parse", "needs_build", "build", "gate", "publish"):
        assert f"task_id='{task}'" in log
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, keys in KEYS.items():
            truth = read_truth(small_inbox, table)
            columns = list(truth[0])
            # the monthly marts run to the build's year: the truth's months are compared
            last = max(t["month"] for t in truth) if table in BY_MONTH else None
            within = f" WHERE month <= '{last}'" if last else ""
            rows = con.execute(f"SELECT {', '.join(columns)} FROM marts.{table}{within}").fetchall()
            got = {tuple(text(r[columns.index(k)]) for k in keys): r for r in rows}
            want = {tuple(t[k] for k in keys): t for t in truth}
            assert set(got) == set(want), table
            assert not [
                (key, c)
                for key in want
                for i, c in enumerate(columns)
                if not same(c, got[key][i], want[key][c])
            ], table


def test_a_stale_feed_mails_an_alert(airflow_home, nightly_run):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    smtp = Controller(Keep(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        warehouse, _ = nightly_run
        env = airflow_env(
            airflow_home,
            FPA_INBOX=str(warehouse.parent / "inbox"),
            FPA_WAREHOUSE=str(warehouse),
            FPA_ALERT_TO="data@fpa.invalid",
            AIRFLOW_CONN_SMTP_DEFAULT=json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": port,
                    "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 10},
                }
            ),
        )
        r = subprocess.run(
            [AIRFLOW, "dags", "test", "fpa_freshness"], env=env, capture_output=True, text=True
        )
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        smtp.stop()
    assert received, (r.stdout + r.stderr)[-3000:]
    mail = received[0]
    body = (
        mail.get_payload(decode=True)
        if not mail.is_multipart()
        else b"".join(
            p.get_payload(decode=True) or b"" for p in mail.walk() if not p.is_multipart()
        )
    )
    body = body.decode("utf-8", "replace")
    assert "fpa_freshness.check_freshness failed" in mail["Subject"]
    assert mail["To"] == "data@fpa.invalid"
    # the generated deliveries end in 2024: both insurer feeds and the reports are late
    assert "insurer_policy: newest file 2025-01-01" in body and "service level 36 h" in body
    assert "reports: newest month 2024-12-01" in body
    assert "log:" in body and "fpa_freshness" in body
