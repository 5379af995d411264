"""`fpa demo`: the system on this machine with embedded defaults.

The calibrated sample inbox is written (or reused), a nightly load (`fpa load`'s function)
publishes the warehouse from it, the headline figures are read back from the published file
beside what the generator's truth says they must be, Superset is synced (dashboards, roles, one
demo user per role) and then, unless --no-serve, Superset and Airflow run on 127.0.0.1 until
Ctrl-C, with one fpa_nightly run triggered so the DAG shows green.

What the demo writes is its owner's only (fpa.paths.private_files: the warehouse, Superset's
and Airflow's homes, their logs); the passwords are printed to the terminal, never logged.
"""

import csv
import json
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from fpa.clock import CST
from fpa.generate.inbox import default_truth_dir, generate, stderr_progress
from fpa.night import docs_dir

HEADLINES = [  # (what, table, filter, column)
    (
        "河池市 2022 JSGA 承保份数",
        "insurance_city_year",
        {"year": "2022", "product_code": "JSGA", "city_name": "河池市"},
        "units",
    ),
    (
        "河池市 2022 JSGA 保费收入 (元)",
        "insurance_city_year",
        {"year": "2022", "product_code": "JSGA", "city_name": "河池市"},
        "premium_yuan",
    ),
    (
        "河池市 2022 JSGA 完成率",
        "insurance_city_year",
        {"year": "2022", "product_code": "JSGA", "city_name": "河池市"},
        "completion_rate",
    ),
    (
        "河池市 2022 JSGA 赔付率",
        "insurance_city_year",
        {"year": "2022", "product_code": "JSGA", "city_name": "河池市"},
        "loss_ratio",
    ),
    (
        "全区 截至2020年8月31日 JSGA 承保份数",
        "insurance_progress",
        {"as_of_date": "2020-08-31", "product_code": "JSGA", "area_level": "province"},
        "units_to_date",
    ),
    (
        "钦州市 截至2020年8月31日 JSGA 保费收入 (元)",
        "insurance_progress",
        {
            "as_of_date": "2020-08-31",
            "product_code": "JSGA",
            "city_name": "钦州市",
            "area_level": "city",
        },
        "premium_to_date_yuan",
    ),
    (
        "浦北县 截至2020年8月31日 JSGA 承保份数",
        "insurance_progress",
        {"as_of_date": "2020-08-31", "product_code": "JSGA", "county_name": "浦北县"},
        "units_to_date",
    ),
    (
        "梧州市 截至2022年4月30日 JSGA 完成率",
        "insurance_progress",
        {
            "as_of_date": "2022-04-30",
            "product_code": "JSGA",
            "city_name": "梧州市",
            "area_level": "city",
        },
        "completion_rate_to_date",
    ),
]


def _published(warehouse: Path, table: str, where: dict, column: str) -> str:
    import duckdb

    if not warehouse.exists():
        return "(not published)"
    sql = f"SELECT {column} FROM marts.{table} WHERE " + " AND ".join(
        f"{k}::VARCHAR = ?" for k in where
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(sql, list(where.values())).fetchall()
    if len(rows) != 1 or rows[0][0] is None:
        return "(none)"
    value = rows[0][0]
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _lookup(truth: Path, table: str, where: dict, column: str) -> str:
    with open(truth / f"{table}.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if all(row[k] == v for k, v in where.items()):
                return row[column]
    return "(none)"


FIRST_YEAR = 2017
SEED = 20240101


def demo_until(now: datetime | None = None) -> date:
    """The sample's last day: yesterday in Guangxi, as a night's deliveries would have it, so
    that the feeds are fresh and this year is this year."""
    return (now or datetime.now(CST)).astimezone(CST).date() - timedelta(days=1)


def _existing(inbox: Path, scale: str, until: date) -> dict | None:
    """The summary of an inbox this demo wrote before with the same settings, if whole."""
    truth = default_truth_dir(inbox)
    try:
        summary = json.loads((truth / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    settings = (summary.get("scale"), summary.get("until"), summary.get("seed"))
    if settings != (scale, str(until), SEED) or summary.get("clean") or not inbox.is_dir():
        return None
    return {**summary, "truth_dir": str(truth)}


def run_demo(workdir: Path, scale: str, serve: bool = True) -> int:
    from fpa.paths import private_files, private_parent

    with private_files():
        private_parent(workdir / "inbox")  # the demo's folder, when it makes it
        return _run_demo(workdir, scale, serve)


def _run_demo(workdir: Path, scale: str, serve: bool) -> int:
    t0 = time.monotonic()
    inbox = workdir / "inbox"
    warehouse = workdir / "warehouse" / "fpa.duckdb"
    until = demo_until()
    summary = _existing(inbox, scale, until)
    if summary is None:  # the truth is written last: a half-written inbox is written anew
        if warehouse.parent.exists():
            # the sample of another day replaces every file of the inbox; a warehouse that
            # loaded the old files is the demo's own, and would mix the two samples
            shutil.rmtree(warehouse.parent)
            print(f"fpa demo: a new sample (up to {until}): the demo's warehouse is built anew")
        years = list(range(FIRST_YEAR, until.year + 1))
        summary = generate(
            inbox, years, scale, SEED, force=True, progress=stderr_progress, until=until
        )
        made = f"written to {inbox} (up to {until})"
    else:
        made = f"reused from {inbox} (delete it to write it anew)"
    truth = Path(summary["truth_dir"])
    print(f"\nfpa demo: sample inbox {made} in {time.monotonic() - t0:.0f} s")
    print(
        f"  {summary['policy_rows']:,} policy rows, {summary['claim_rows']:,} claim rows, "
        + ", ".join(f"{n} {s}" for s, n in summary["files_by_status"].items())
        + " files"
    )
    print(f"  truth (what the warehouse must publish): {truth}")

    from fpa.night import load

    t1 = time.monotonic()
    night = load(inbox, warehouse, stderr_progress)
    print(f"\nfpa load --inbox {inbox} --warehouse {warehouse}  ({time.monotonic() - t1:.0f} s)")
    print("  " + night.summary().replace("\n", "\n  "))
    print("\nheadline figures: published | truth")
    for what, table, where, column in HEADLINES:
        want = _lookup(truth, table, where, column)
        if column.startswith(("completion_rate", "loss_ratio")) and want not in ("", "(none)"):
            want = f"{float(want):.4f}"
        print(f"  {what}: {_published(warehouse, table, where, column)} | {want}")
    print(f"\nquality report (Great Expectations Data Docs): {docs_dir(warehouse) / 'index.html'}")
    if night.exit_code != 0:
        return night.exit_code
    _bulletins(warehouse, workdir / "bulletins")
    users = _superset(workdir, warehouse)
    if not serve:
        print("\n--no-serve: Superset and Airflow not started (run `fpa demo` to start them)")
        return 0
    return _serve(workdir, inbox, warehouse, users, t0)


# the newsletters' days (examples/newsletters.md): what `fpa bulletin` writes in their place
BULLETINS = [("2020-08-31", "450000"), ("2022-12-31", "451200")]


def _bulletins(warehouse: Path, out: Path) -> None:
    from datetime import date

    from fpa import bulletin

    print("\nthe 统计通报 of the newsletters' days (fpa bulletin):")
    for day, area in BULLETINS:
        try:
            written = bulletin.write(warehouse, date.fromisoformat(day), area, out)
        except bulletin.BulletinRefused as e:  # a sample without that year
            print(f"  {day} {area}: {e}")
            continue
        names = ", ".join(p.name for p in written.paths)
        print(
            f"  {out}/: {names}" + (f" (no PDF: {written.pdf_error})" if written.pdf_error else "")
        )


def demo_users(home: Path) -> list:
    """One user per role, passwords made once for this demo and kept beside Superset's files."""
    import secrets

    from fpa.dashboards.provision import ENGINEER, LEADERSHIP, city_role
    from fpa.dashboards.service import DemoUser

    path = home / "demo_users.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    wanted = [
        ("leader", LEADERSHIP, "领导：所有看板，无 SQL Lab"),
        ("engineer", ENGINEER, "数据工程师：看板 + SQL Lab（只读）"),
        ("hechi", city_role("451200"), "河池市：只看河池市的行"),
    ]
    users = [
        DemoUser(name, saved.get(name) or secrets.token_urlsafe(9), role, what)
        for name, role, what in wanted
    ]
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({u.username: u.password for u in users}), encoding="utf-8")
    path.chmod(0o600)
    return users


def _superset(workdir: Path, warehouse: Path) -> list:
    """Sync Superset unless nothing it is made from changed since the demo last synced it."""
    import hashlib

    from fpa.dashboards.bundle import BUNDLE_DIR
    from fpa.dashboards.service import CONFIG, sync

    home = (workdir / "superset").resolve()
    users = demo_users(home)
    h = hashlib.sha256(str(warehouse.resolve()).encode())
    for p in sorted(BUNDLE_DIR.rglob("*.yaml")) + [CONFIG]:
        h.update(p.read_bytes())
    h.update(json.dumps([u.__dict__ for u in users]).encode())
    marker = home / "synced.sha256"
    if (home / "superset.db").exists() and marker.exists() and marker.read_text() == h.hexdigest():
        print(f"\nsuperset: up to date in {home} (bundle and users unchanged)")
        return users
    t = time.monotonic()
    done = sync(warehouse, home, users)
    marker.write_text(h.hexdigest())
    print(
        f"\nfpa superset sync ({time.monotonic() - t:.0f} s): {len(done['charts'])} charts on "
        f"{len(done['dashboards'])} dashboards, roles and row-level security, in {home}"
    )
    return users


def _serve(workdir: Path, inbox: Path, warehouse: Path, users: list, t0: float) -> int:
    import signal
    import subprocess

    from fpa.dashboards import service
    from fpa.orchestration import local

    home = (workdir / "superset").resolve()
    airflow_home = (workdir / "airflow").resolve()
    superset_url = f"http://127.0.0.1:{service.DEFAULT_PORT}"
    print("\nstarting Superset and Airflow on 127.0.0.1 (Ctrl-C stops both) ...")
    superset = service.serve(home, service.DEFAULT_PORT)
    airflow = local.standalone(
        airflow_home,
        FPA_INBOX=str(inbox.resolve()),
        FPA_WAREHOUSE=str(warehouse.resolve()),
        FPA_SUPERSET_HOME=str(home),
        FPA_SUPERSET_URL=superset_url,
    )
    try:
        airflow_url = f"http://127.0.0.1:{local.DEFAULT_PORT}"
        service.wait_healthy(f"{airflow_url}/api/v2/monitor/health", airflow, timeout=300)
        env = local.airflow_env(airflow_home)
        for _ in range(60):  # the DAG processor parses dags/ shortly after the start
            trig = subprocess.run(
                [local.airflow_executable(), "dags", "trigger", "fpa_nightly"],
                env=env, capture_output=True, text=True,
            )  # fmt: skip
            if trig.returncode == 0:
                break
            time.sleep(5)
        print(f"\nfpa demo: serving, {time.monotonic() - t0:.0f} s after the start")
        print(f"\nSuperset  {superset_url}/superset/dashboard/insurance/")
        print(f"  admin / {service.admin_password(home)}")
        for u in users:
            print(f"  {u.username} / {u.password}   ({u.what})")
        print(f"Airflow   {airflow_url}/dags/fpa_nightly  (one run triggered)")
        print(f"  admin / {local.admin_password(airflow_home)}")
        print("\nCtrl-C stops both.")
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except KeyboardInterrupt:
        pass
    finally:
        service.stop(superset)
        service.stop(airflow)
    return 0
