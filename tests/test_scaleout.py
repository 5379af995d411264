"""The scale-out profile (docker-compose.yml, .env.example, Dockerfile), proved without Docker.

First what can be read: the file parses, every `${VAR}` is in .env.example, the variables it
sets are the ones the code reads, every service is health-checked or a one-shot step the others
wait for, the warehouse is written by one worker only.

Then what must run: there is no Docker engine here, so the services' own commands run as local
processes with the environments the compose file gives them — read from it, `${VAR}` filled
from .env.example (fresh secrets where it leaves them empty, as its comments tell a user), the
container hosts replaced by loopback ports, the container paths by temporary folders (a named
volume is one folder shared by the services that mount it; each Airflow service has its own
AIRFLOW_HOME, as each container has). Debian's PostgreSQL and Redis stand in for their images,
initialised by the profile's own docker/postgres-init.sh. One fpa_nightly run goes through the
Celery worker and publishes the truth; Superset on that metadata and cache answers a chart from
Redis the second time; superset-beat starts and the weekly report, a screenshot by Debian's
headless shell, arrives at a real SMTP server on loopback.
"""

import ast
import importlib.util
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import closing
from pathlib import Path
from unittest import mock

import duckdb
import pytest
import requests
import yaml
from support.mail import serving, subject_of, text_of
from support.nights import NIGHTLY_TASKS
from support.scaleout import (
    COMPOSE_FILE,
    OPTIONAL,
    VARIABLE,
    Site,
    airflow_service_env,
    db_url,
    env_example,
    raw_compose,
    run,
    start_postgres,
    start_redis,
    wait_for,
    with_venv,
)
from support.truth import KEYS, read_truth, same, text

from fpa.dashboards import bundle, reports, spec
from fpa.dashboards.service import Api, serve, stop
from fpa.orchestration.local import POOL
from fpa.paths import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "superset"
DUCKDB_QUEUE = POOL[0]  # the queue fpa_nightly's tasks go to is named as their pool
AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker-duckdb",
]


# --- what can be read -------------------------------------------------------------------------


def test_every_variable_is_in_env_example_and_every_secret_is_required():
    text_ = COMPOSE_FILE.read_text(encoding="utf-8")
    used = {m.group(1) for m in VARIABLE.finditer(text_) if m.group(1)}
    example = env_example()
    assert used - set(example) == set(), "set in docker-compose.yml, missing in .env.example"
    # what .env.example offers is used (the compose file or the init script reads it)
    init = (PROJECT_ROOT / "docker" / "postgres-init.sh").read_text(encoding="utf-8")
    assert {k for k in example if k not in used and f"${k}" not in init} == set()
    # a secret left empty stops `docker compose` with its name instead of starting without it
    empty = {k for k, v in example.items() if not v}
    for name in empty - OPTIONAL:
        assert f"${{{name}:?" in text_, name
    assert (PROJECT_ROOT / ".gitignore").read_text().count("/.env\n") == 1
    ignored = subprocess.run(["git", "check-ignore", ".env"], cwd=PROJECT_ROOT, capture_output=True)
    assert ignored.returncode == 0  # a user's .env is never committed


def test_every_service_is_health_checked_or_a_step_the_others_wait_for():
    services = raw_compose()["services"]
    one_shots = {n for n, s in services.items() if s.get("restart") == "no"}
    assert one_shots == {"airflow-init", "superset-init"}
    waited = set()
    for name, s in services.items():
        assert isinstance(s.get("environment", {}), dict), name
        for dep, how in s.get("depends_on", {}).items():
            assert dep in services, (name, dep)
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)
            else:
                assert how["condition"] == "service_completed_successfully" and dep in one_shots
                waited.add(dep)
        if name not in one_shots:
            assert set(s["healthcheck"]) >= {"test", "interval", "retries"}, name
    assert waited == one_shots
    # every Python service runs the project's own image, built by its Dockerfile with uv
    ours = {n for n, s in services.items() if s.get("build")}
    assert ours == set(services) - {"postgres", "redis"}
    assert {services[n]["image"] for n in ours} == {"fpa-warehouse:latest"}
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "uv sync --locked --no-dev" in dockerfile and "COPY pyproject.toml uv.lock" in dockerfile
    ignored = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {"demo", ".venv", ".env", ".git"} <= set(ignored)


def test_one_worker_writes_the_warehouse_and_serves_its_queue():
    services = raw_compose()["services"]
    mounts = {
        (name, m.split(":")[1], m.endswith(":ro"))
        for name, s in services.items()
        for m in s.get("volumes", [])
        if m.startswith("warehouse:")
    }
    assert {(n, ro) for n, _, ro in mounts} == {
        ("airflow-worker-duckdb", False),
        ("superset-init", True),
        ("superset", True),
        ("superset-worker", True),
    }
    assert {path for _, path, _ in mounts} == {"/data/warehouse"}
    worker = services["airflow-worker-duckdb"]["command"]
    assert worker[worker.index("--queues") + 1] == DUCKDB_QUEUE
    assert worker[worker.index("--concurrency") + 1] == "1"
    general = services["airflow-worker"]["command"]
    assert general[general.index("--queues") + 1] == "default"
    dags = {p.name: p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "dags").glob("*.py")}
    assert dags["fpa_nightly.py"].count(f'"queue": "{DUCKDB_QUEUE}"') == 1
    assert dags["fpa_freshness.py"].count(f'"queue": "{DUCKDB_QUEUE}"') == 1
    assert "queue" not in dags["fpa_superset_refresh.py"]
    # the init step sets the pool exactly as the demo and the tests do
    init = services["airflow-init"]["command"][-1]
    assert f'airflow pools set {POOL[0]} {POOL[1]} "{POOL[2]}"' in init


def test_the_variables_set_are_the_ones_the_code_reads():
    # every option Airflow documents (its config.yml) and the celery provider's (the dict its
    # get_provider_info returns); read from the installed files: importing Airflow here would
    # take seconds
    def source(package: str, *parts: str) -> str:
        folder = Path(importlib.util.find_spec(package).submodule_search_locations[0])
        return folder.joinpath(*parts).read_text(encoding="utf-8")

    core = yaml.safe_load(source("airflow", "config_templates", "config.yml"))
    info = ast.parse(source("airflow", "providers", "celery", "get_provider_info.py"))
    celery = ast.literal_eval(next(n for n in ast.walk(info) if isinstance(n, ast.Return)).value)
    options = {
        (section, key)
        for described in (core, celery["config"])
        for section, body in described.items()
        for key in body.get("options", {})
    }
    services = raw_compose()["services"]
    names = {k for s in services.values() for k in s.get("environment", {})}
    airflow = sorted(n for n in names if n.startswith("AIRFLOW__"))
    assert len(airflow) > 15
    assert [n for n in airflow if tuple(n.lower().split("__")[1:]) not in options] == []
    code = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [
            *(PROJECT_ROOT / "src").rglob("*.py"),
            PROJECT_ROOT / "superset" / "superset_config.py",
        ]
    )
    ours = {
        n
        for name, s in services.items()
        if name != "postgres"
        for n in s.get("environment", {})
        if n.startswith(("FPA_", "SUPERSET_"))
    }
    known = {"SUPERSET_CONFIG_PATH"}  # Superset's own: where superset_config.py is
    assert sorted(n for n in ours - known if f'"{n}"' not in code) == []
    # the postgres image's own variables, and what the init script reads
    init = (PROJECT_ROOT / "docker" / "postgres-init.sh").read_text(encoding="utf-8")
    postgres = services["postgres"]["environment"]
    assert [n for n in postgres if not n.startswith("POSTGRES_") and f'"${n}"' not in init] == []
    superset = services["superset"]["environment"]
    assert superset["SUPERSET_CONFIG_PATH"] == "/app/superset/superset_config.py"
    assert {"SUPERSET_DATABASE_URI", "FPA_REDIS_URL", "SUPERSET_SECRET_KEY"} <= set(superset)
    scheduler = services["airflow-scheduler"]["environment"]
    assert scheduler["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert scheduler["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
        "http://airflow-apiserver:8080/"
    )


# --- what must run ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(clean_inbox):
    # postgres refuses to run as root: its folder is its own, outside pytest's (mode 700) tree
    root = Path(tempfile.mkdtemp(prefix="fpa-scaleout-"))
    with serving() as mailbox:
        # this site's .env: the mail server on loopback (no TLS there), and the weekly report due
        # every minute, so that it goes out as soon as superset-beat runs
        dot_env = {
            "FPA_SMTP_HOST": "127.0.0.1",
            "FPA_SMTP_PORT": str(mailbox.port),
            "FPA_SMTP_SECURITY": "none",
            "FPA_WEEKLY_REPORT_CRONTAB": "* * * * *",
        }
        site = Site(root, clean_inbox, dot_env)
        site.mailbox = mailbox
        try:
            start_postgres(site)
            start_redis(site)
            yield site
        finally:
            site.procs.stop_all()
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def profile(site):
    """What `docker compose up` starts: the two one-shot init steps side by side (Superset's
    needs no warehouse yet), then Airflow's services once its schema is there."""
    t0 = time.monotonic()
    superset_init = subprocess.Popen(
        site.command("superset-init"),
        env=with_venv({**os.environ, **site.env("superset-init")}),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        run(site.command("airflow-init"), airflow_service_env(site, "airflow-init"))
        print(f"airflow-init: {time.monotonic() - t0:.0f} s")
        for service in AIRFLOW_SERVICES:
            site.procs.start(service, site.command(service), airflow_service_env(site, service))
        yield {"superset_init": superset_init, "started": t0}
    finally:
        stop(superset_init)


@pytest.fixture(scope="module")
def nightly(site, profile):
    """fpa_nightly unpaused through the REST API: the scheduler starts the run of its latest
    02:00 (no catch-up) on the Celery worker; polled until it ends. (run, task instances)"""
    url = f"http://127.0.0.1:{site.port('airflow-apiserver:8080')}"
    api = requests.Session()

    def login():
        r = api.post(
            f"{url}/auth/token",
            json={"username": "admin", "password": site.values["AIRFLOW_ADMIN_PASSWORD"]},
            timeout=10,
        )
        return r.ok and r.json()["access_token"]

    token = wait_for("airflow api-server", login, 120, site.procs)
    up = time.monotonic() - profile["started"]
    api.headers["Authorization"] = f"Bearer {token}"
    dag = f"{url}/api/v2/dags/fpa_nightly"
    wait_for("fpa_nightly parsed", lambda: api.get(dag, timeout=10).ok, 120, site.procs)
    parsed = time.monotonic() - profile["started"]
    print(f"api-server up at {up:.0f} s, fpa_nightly parsed at {parsed:.0f} s")
    assert api.patch(dag, json={"is_paused": False}, timeout=10).ok
    t_run = time.monotonic()
    # each service's compose healthcheck, while the night runs
    checks = {
        service: subprocess.Popen(
            site.command(service, key="healthcheck"),
            env=airflow_service_env(site, service),
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for service in AIRFLOW_SERVICES
    }
    runs = wait_for(
        "the scheduled run",
        lambda: api.get(f"{dag}/dagRuns", timeout=10).json()["dag_runs"],
        60,
        site.procs,
    )
    run_id = runs[0]["dag_run_id"]

    def finished():
        state = api.get(f"{dag}/dagRuns/{run_id}", timeout=10).json()
        return state if state["state"] in ("success", "failed") else None

    dag_run = wait_for("the fpa_nightly run", finished, 300, site.procs, 2)
    tis = api.get(f"{dag}/dagRuns/{run_id}/taskInstances", timeout=10).json()["task_instances"]
    health = {}
    for service, proc in checks.items():
        out, _ = proc.communicate(timeout=120)
        health[service] = proc.returncode
        if proc.returncode:
            print(f"healthcheck of {service} failed:\n{out[-1500:]}")
    print(
        f"fpa_nightly run: {time.monotonic() - t_run:.0f} s, "
        f"{time.monotonic() - profile['started']:.0f} s from the start of the profile"
    )
    return {"run": dag_run, "runs": runs, "tasks": tis, "healthchecks": health}


@pytest.mark.scaleout
@pytest.mark.slow
def test_fpa_nightly_runs_on_the_celery_worker_and_publishes_the_truth(site, nightly, clean_inbox):
    worker_log = site.procs.tail("airflow-worker-duckdb", 6000)
    assert len(nightly["runs"]) == 1 and nightly["run"]["run_type"] == "scheduled"
    assert nightly["run"]["state"] == "success", worker_log
    tasks = {t["task_id"]: t for t in nightly["tasks"]}
    assert sorted(tasks) == sorted(NIGHTLY_TASKS)
    assert {t["state"] for t in tasks.values()} == {"success"}, (tasks, worker_log)
    # each ran on the worker that owns the warehouse: its queue, its pool
    assert {(t["queue"], t["pool"]) for t in tasks.values()} == {(DUCKDB_QUEUE, POOL[0])}
    assert {t["hostname"] for t in tasks.values()} == {socket.gethostname()}
    # the published file (the warehouse volume, written by the worker) equals the truth
    warehouse = Path(site.env("airflow-worker-duckdb")["FPA_WAREHOUSE"])
    assert warehouse.parent == site.root / "volumes" / "warehouse"
    truth = read_truth(clean_inbox, "insurance_city_year")
    columns, keys = list(truth[0]), KEYS["insurance_city_year"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(f"SELECT {', '.join(columns)} FROM marts.insurance_city_year").fetchall()
    got = {tuple(text(r[columns.index(k)]) for k in keys): r for r in rows}
    want = {tuple(t[k] for k in keys): t for t in truth}
    assert set(got) == set(want) and len(want) == 2 * 3 * 14  # 2022-2023, products, cities
    assert [
        (key, c)
        for key in want
        for i, c in enumerate(columns)
        if not same(c, got[key][i], want[key][c])
    ] == []
    # the run is in Postgres (Airflow's metadata database of the profile), each task's Celery
    # result too (the result backend; the last one may land just after the run's end)
    import psycopg2

    def metadata(sql: str, params=()) -> list[tuple]:
        with closing(psycopg2.connect(db_url(site, "AIRFLOW"))) as con, con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    assert metadata(
        "SELECT state FROM dag_run WHERE dag_id = 'fpa_nightly' AND run_id = %s",
        [nightly["run"]["dag_run_id"]],
    ) == [("success",)]
    done = "SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'"
    wait_for(
        "celery results", lambda: metadata(done) == [(len(NIGHTLY_TASKS),)], 30, site.procs, 0.5
    )


@pytest.mark.scaleout
@pytest.mark.slow
def test_the_airflow_healthchecks_pass(nightly):
    assert nightly["healthchecks"] == {service: 0 for service in AIRFLOW_SERVICES}


@pytest.fixture(scope="module")
def superset(site, profile, nightly):
    """superset-init's `fpa superset sync` (started with the profile), then Superset served on
    loopback with the superset service's environment, on the file the Airflow worker published."""
    out, _ = profile["superset_init"].communicate(timeout=300)
    assert profile["superset_init"].returncode == 0, out[-3000:]
    env = site.env("superset")
    home = Path(env["FPA_SUPERSET_HOME"])
    port = site.port("superset:8088")
    worker_env = with_venv({**os.environ, **site.env("superset-worker")})
    site.procs.start("superset-worker", site.command("superset-worker"), worker_env)
    with mock.patch.dict(os.environ, env):  # serve() starts gunicorn with this environment
        proc = serve(home, port, workers=1)  # one chart asked: one gunicorn worker is enough
    try:
        yield {"url": f"http://127.0.0.1:{port}", "home": home, "env": env, "worker": worker_env}
    finally:
        stop(proc)


@pytest.mark.scaleout
@pytest.mark.slow
def test_superset_answers_a_chart_from_the_redis_cache(site, superset):
    import psycopg2
    import redis

    env = superset["env"]
    with closing(psycopg2.connect(db_url(site, "SUPERSET"))) as con, con.cursor() as cur:
        cur.execute(
            "SELECT id FROM slices WHERE uuid::text = %s", [bundle.uid("chart", "ins_units")]
        )
        ((chart_id,),) = cur.fetchall()
        cur.execute("SELECT count(*) FROM slices")
        assert cur.fetchone()[0] == len(bundle.all_charts())
    # the metadata is in Postgres, the cache in Redis: nothing of either in the Superset home
    assert not (superset["home"] / "superset.db").exists()
    assert not (superset["home"] / "cache").exists()

    cache = redis.Redis.from_url(env["FPA_REDIS_URL"])
    assert cache.keys("fpa_data_*") == []
    api = Api(superset["url"], "admin", site.values["SUPERSET_ADMIN_PASSWORD"])
    first = api.get(f"/api/v1/chart/{chart_id}/data/")["result"][0]
    assert first["error"] is None and not first["is_cached"]  # computed on the file
    assert cache.keys("fpa_data_*"), "no chart data in Redis"
    second = api.get(f"/api/v1/chart/{chart_id}/data/")["result"][0]
    assert second["is_cached"] is True and second["data"] == first["data"]
    with duckdb.connect(env["FPA_WAREHOUSE"], read_only=True) as con:
        # the saved query, no dashboard filter: the province in the newest year, every product
        ((units,),) = con.execute(
            "SELECT sum(units) FROM marts.insurance_area_year WHERE area_level = 'province' "
            "AND is_newest_year"
        ).fetchall()
    assert abs(second["data"][0]["units_wan"] - units / 1e4) < 1e-9

    health = subprocess.run(
        site.command("superset", key="healthcheck"), env=with_venv(dict(os.environ))
    )
    assert health.returncode == 0
    # the Superset worker answers on its Celery queue in Redis (CELERY_CONFIG) as its
    # healthcheck asks: once its banner is out (its "ready" goes below Superset's log level),
    # retried as compose retries a healthcheck while a service starts
    ping = site.command("superset-worker", key="healthcheck")

    def pong() -> bool:
        out = subprocess.run(ping, env=superset["worker"], capture_output=True, text=True)
        return out.returncode == 0 and "pong" in out.stdout

    def started() -> bool:
        return "[queues]" in site.procs.tail("superset-worker")

    wait_for("superset-worker", started, 90, site.procs)
    wait_for("superset-worker's healthcheck", pong, 90, site.procs)


@pytest.mark.scaleout
@pytest.mark.slow
def test_the_weekly_report_arrives_by_mail(site, superset):
    """superset-beat started as compose starts it: on the next minute reports.scheduler finds the
    weekly report due (FPA_WEEKLY_REPORT_CRONTAB every minute here, as superset-init put it into
    the metadata), superset-worker's reports.execute has Debian's headless shell screenshot the
    dashboard as the report user and mails the PNG to the contacts file's list."""
    import psycopg2
    from PIL import Image

    (report,) = reports.weekly_reports()
    assert (report.slug, report.crontab, report.timezone) == (
        "insurance",
        reports.WEEKLY,
        "Asia/Shanghai",
    )  # this process has no .env: the Monday 08:00 of the code
    beat = site.procs.start(
        "superset-beat",
        site.command("superset-beat"),
        with_venv({**os.environ, **site.env("superset-beat")}),
    )
    t0 = time.monotonic()
    mailbox = site.mailbox
    wait_for("the weekly report's mail", lambda: mailbox.received, 150, site.procs)
    print(f"the weekly report arrived {time.monotonic() - t0:.0f} s after superset-beat started")
    health = subprocess.run(
        site.command("superset-beat", key="healthcheck"), env=with_venv(dict(os.environ))
    )
    os.killpg(beat.pid, signal.SIGTERM)  # no second one a minute later
    assert health.returncode == 0

    mail = mailbox.received[0]
    worker_log = site.procs.tail("superset-worker", 4000)
    assert subject_of(mail) == f"【计生协数据仓库】 {report.name}", (subject_of(mail), worker_log)
    assert [a.strip() for a in mail["To"].split(",")] == list(report.recipients)
    assert report.recipients == ("leadership@fpa.invalid",)  # config/report_contacts.yml
    assert mail["From"] == site.values["FPA_SMTP_MAIL_FROM"]
    # the link to the dashboard where the readers open Superset
    with closing(psycopg2.connect(db_url(site, "SUPERSET"))) as con, con.cursor() as cur:
        cur.execute("SELECT uuid::text FROM dashboards WHERE slug = %s", [report.slug])
        ((dashboard,),) = cur.fetchall()
        # the execution's log: working, then done without an error
        cur.execute(
            "SELECT l.state, l.error_message FROM report_execution_log l "
            "JOIN report_schedule s ON s.id = l.report_schedule_id WHERE s.name = %s "
            "ORDER BY l.end_dttm",
            [report.name],
        )
        assert cur.fetchall() == [("Working", None), ("Success", None)]
    public = site.values["FPA_SUPERSET_PUBLIC_URL"]
    assert f"{public}/superset/dashboard/{dashboard}/" in text_of(mail)
    # taken once every chart was drawn (fpa.dashboards.drawn), not when Superset's wait ended
    charts = sum(len(row) for row in spec.INSURANCE.rows)
    assert re.search(rf"drawn \({charts} charts, 0 of them an error\)", worker_log), worker_log

    (png,) = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    data = png.get_payload(decode=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "weekly_report.png").write_bytes(data)
    assert len(data) > 100_000  # measured ~270 KB for the insurance dashboard
    image = Image.open(io.BytesIO(data))
    image.load()
    # WEBDRIVER_WINDOW's width, the whole dashboard's height (4 rows of charts and the table)
    assert image.width == 1600 and image.height > 1500, image.size
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    pixels = image.width * image.height
    assert len(colours) > 500  # measured ~1200: the maps' shades, the bars, the text
    white = sum(c for c, rgb in colours if rgb == (255, 255, 255))
    assert white < 0.85 * pixels  # measured ~67 %: the cards are white, not the whole page
    # the charts drawn: coloured pixels (the maps' reds, the bars' blues), ~8 % measured; a
    # login page or spinners have next to none
    drawn = sum(c for c, rgb in colours if max(rgb) - min(rgb) > 60)
    assert drawn > 0.04 * pixels
