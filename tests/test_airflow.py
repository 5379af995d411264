"""The nightly DAG on a real Airflow 3.1 (SQLite metadata, `airflow dags test`, no network):
it imports cleanly, runs end to end and publishes exactly the truth, and a stale feed mails an
alert to a real SMTP server on loopback."""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from unittest import mock

import duckdb
import pytest
from support.mail import serving as mail_server
from support.mail import subject_of, text_of
from support.nights import NIGHTLY_TASKS
from support.personal_scan import in_clear
from support.truth import BY_MONTH, KEYS, read_truth, same, text
from support.workbooks import act, book, train

from fpa import feedback, reference
from fpa.clock import CST
from fpa.orchestration.local import airflow_env, airflow_executable, prepare

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

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
    assert nightly["tasks"] == NIGHTLY_TASKS
    assert nightly["schedule"] == "0 2 * * *" and nightly["tz"] == "Asia/Shanghai"
    assert nightly["catchup"] is False and nightly["max_active_runs"] == 1
    assert set(bag["dags"]) == {
        "fpa_nightly",
        "fpa_intraday",
        "fpa_freshness",
        "fpa_superset_refresh",
        "fpa_bulletin",
    }
    monthly = bag["dags"]["fpa_bulletin"]
    assert monthly["schedule"] == "0 8 11 * *" and monthly["tz"] == "Asia/Shanghai"
    assert monthly["tasks"] == ["mail_bulletins"] and monthly["catchup"] is False
    # corrections within minutes: the nightly's own tasks behind a poll of the inbox, one run
    # at a time, in the DuckDB writer's pool
    intraday = bag["dags"]["fpa_intraday"]
    assert intraday["tasks"] == ["check_inbox", *nightly["tasks"][1:-1]]
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
def mailbox():
    with mail_server() as box:
        yield box


@pytest.fixture(scope="module")
def contacts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("contacts") / "contacts.yml"
    path.write_text(
        "insurer: [insurer@test.invalid]\n"
        + "".join(f'"{c.code}": [c{c.code}@test.invalid]\n' for c in reference.cities()),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def nightly_run(airflow_home, small_inbox, tmp_path_factory, mailbox, contacts):
    warehouse = tmp_path_factory.mktemp("airflow-wh") / "fpa.duckdb"
    env = airflow_env(
        airflow_home,
        FPA_INBOX=str(small_inbox),
        FPA_WAREHOUSE=str(warehouse),
        FPA_FEEDBACK_CONTACTS=str(contacts),
        AIRFLOW_CONN_SMTP_DEFAULT=mailbox.connection(),
    )
    r = subprocess.run(
        [AIRFLOW, "dags", "test", "fpa_nightly"], env=env, capture_output=True, text=True
    )
    mails = list(mailbox.received)
    mailbox.received.clear()
    return warehouse, r, mails


def test_the_nightly_dag_runs_end_to_end_and_publishes_the_truth(nightly_run, small_inbox):
    warehouse, r, _ = nightly_run
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert "state=success" in log and "DagRun Finished: dag_id=fpa_nightly" in log
    for task in NIGHTLY_TASKS:
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


def test_a_stale_feed_mails_an_alert(airflow_home, nightly_run, mailbox):
    warehouse, _, _ = nightly_run
    env = airflow_env(
        airflow_home,
        FPA_INBOX=str(warehouse.parent / "inbox"),
        FPA_WAREHOUSE=str(warehouse),
        FPA_ALERT_TO="data@fpa.invalid",
        AIRFLOW_CONN_SMTP_DEFAULT=mailbox.connection(),
    )
    r = subprocess.run(
        [AIRFLOW, "dags", "test", "fpa_freshness"], env=env, capture_output=True, text=True
    )
    received = mailbox.wait()
    assert received, (r.stdout + r.stderr)[-3000:]
    mail = received.pop(0)
    body = text_of(mail)
    assert "fpa_freshness.check_freshness failed" in mail["Subject"]
    assert mail["To"] == "data@fpa.invalid"
    # the generated deliveries end in 2024: both insurer feeds and the reports are late
    assert "insurer_policy: newest file 2025-01-01" in body and "service level 36 h" in body
    assert "reports: newest month 2024-12-01" in body
    assert "log:" in body and "fpa_freshness" in body


def open_issues(warehouse: Path) -> dict[str, set[str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT provider, issue_id FROM marts.data_issues WHERE status = 'open'"
        ).fetchall()
    out: dict[str, set[str]] = {}
    for provider, issue_id in rows:
        out.setdefault(provider, set()).add(issue_id)
    return out


def attachment(mail, tmp: Path) -> tuple[str, set[str], str]:
    """The mail's workbook: its name, the issue ids of its 问题清单 and all its text."""
    from openpyxl import load_workbook

    (part,) = [p for p in mail.walk() if p.get_filename()]
    path = tmp / part.get_filename()
    path.write_bytes(part.get_payload(decode=True))
    wb = load_workbook(path, read_only=True)
    rows = list(wb["问题清单"].iter_rows(values_only=True))
    assert rows[0][0] == "问题编号"
    cells = [str(v) for ws in wb for r in ws.iter_rows(values_only=True) for v in r if v]
    return path.name, {r[0] for r in rows[1:]}, "\n".join(cells)


def test_the_night_mails_each_provider_its_open_issues_and_then_only_what_changed(
    nightly_run, airflow_home, mailbox, contacts, tmp_path
):
    """The published night mailed every provider with open issues (the messy inbox has some
    for the insurer and for cities) its workbook: the issue rows equal its open rows of
    marts.data_issues; no ID number or phone in clear in any mail or attachment. The next mail
    goes only to a provider whose issues changed."""
    from fpa.orchestration import feedback_mail
    from fpa.orchestration.alerts import SMTP_CONN_ID

    warehouse, r, mails = nightly_run
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    issues = open_issues(warehouse)
    assert "insurer" in issues and len(issues) > 2
    to = {m["To"]: m for m in mails}
    assert len(mails) == len(to)
    want = {("insurer@test.invalid" if p == "insurer" else f"c{p}@test.invalid"): p for p in issues}
    assert set(to) == set(want)
    names = feedback.providers()
    day = datetime.now(CST).strftime("%Y%m%d")
    for address, mail in to.items():
        provider = want[address]
        name, ids, text = attachment(mail, tmp_path)
        sep = "_" if provider == "insurer" else ""
        assert name == f"{names[provider]}{sep}数据问题清单_{day}.xlsx"
        assert ids == issues[provider], provider
        body = text_of(mail)
        assert f"{len(ids)}个问题尚未解决" in body and names[provider] in subject_of(mail)
        assert in_clear(text) == [] and in_clear(body) == [] and in_clear(subject_of(mail)) == []
    # the same warehouse again: nothing changed, nothing mailed
    env = dict(
        FPA_FEEDBACK_CONTACTS=str(contacts),
        AIRFLOW_CONN_SMTP_DEFAULT=mailbox.connection(),
    )
    send = feedback_mail.smtp_send(SMTP_CONN_ID)
    with mock.patch.dict(os.environ, airflow_env(airflow_home, **env)):
        assert set(feedback_mail.deliver(warehouse, send).values()) == {"unchanged"}
        # one city's issue resolved (as the state records a mail): only that city hears of it
        city = next(p for p in sorted(issues) if p != "insurer")
        record = feedback_mail.sent(warehouse)
        record[city] = sorted(record[city] + ["0" * 32])
        feedback_mail._record(warehouse, record)
        done = feedback_mail.deliver(warehouse, send)
    assert done[city] == "mailed"
    assert {v for p, v in done.items() if p != city} == {"unchanged"}
    (mail,) = mailbox.wait()
    mailbox.received.clear()
    assert mail["To"] == f"c{city}@test.invalid"
    assert "新增0个，已解决1个" in subject_of(mail)


@pytest.mark.libreoffice
def test_the_monthly_bulletins_are_written_and_mailed_to_each_area(
    nightly_run, airflow_home, mailbox, tmp_path
):
    """fpa_bulletin's run of 11 January 2025: the province's and every city's 统计通报 as of 31
    December 2024 in bulletins/ beside the warehouse, each mailed (PDF and Word) to its own
    list; the PDF's text holds the figures of the published marts. A retry mails nobody twice.
    A run whose month the warehouse does not reach yet fails, and the failure mails the
    engineers."""
    warehouse, _, _ = nightly_run
    contacts = tmp_path / "bulletin_contacts.yml"
    contacts.write_text(
        '"450000": [leaders@test.invalid]\n'
        + "".join(f'"{c.code}": [b{c.code}@test.invalid]\n' for c in reference.cities()),
        encoding="utf-8",
    )
    env = airflow_env(
        airflow_home,
        FPA_INBOX=str(warehouse.parent / "inbox"),
        FPA_WAREHOUSE=str(warehouse),
        FPA_BULLETIN_CONTACTS=str(contacts),
        FPA_ALERT_TO="data@fpa.invalid",
        AIRFLOW_CONN_SMTP_DEFAULT=mailbox.connection(),
    )

    def run(logical: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [AIRFLOW, "dags", "test", "fpa_bulletin", logical],
            env=env,
            capture_output=True,
            text=True,
        )

    mailbox.received.clear()
    r = run("2025-01-11T08:00:00+08:00")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    mails = mailbox.wait(15)
    to = {m["To"]: m for m in mails}
    assert set(to) == {"leaders@test.invalid"} | {
        f"b{c.code}@test.invalid" for c in reference.cities()
    }
    stems = {"自治区", *(c.name for c in reference.cities())}
    written = sorted(p.name for p in (warehouse.parent / "bulletins").iterdir())
    assert written == sorted(
        f"{s}计生协统计通报_2024年12月31日.{x}" for s in stems for x in ("docx", "md", "pdf")
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        units = con.execute(
            "SELECT units_to_date FROM marts.insurance_progress WHERE as_of_date = '2024-12-31' "
            "AND product_code = 'JSGA' AND area_level = 'county' AND county_code = '451202'"
        ).fetchone()[0]
    mail = to["b451200@test.invalid"]
    assert "河池市计生协统计通报（截至2024年12月31日）" in subject_of(mail)
    parts = {p.get_filename(): p.get_payload(decode=True) for p in mail.walk() if p.get_filename()}
    assert set(parts) == {f"河池市计生协统计通报_2024年12月31日.{x}" for x in ("pdf", "docx")}
    pdf = tmp_path / "hechi.pdf"
    pdf.write_bytes(parts["河池市计生协统计通报_2024年12月31日.pdf"])
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    text = "".join(text.split())  # pdftotext spaces Latin runs apart from Chinese, and wraps
    assert "金城江区" in text and f"{units}份" in text
    # a retry of the same month: written again, mailed to nobody twice
    mailbox.received.clear()
    r = run("2025-01-11T08:00:00+08:00")
    assert r.returncode == 0 and "mail_bulletins" in r.stdout + r.stderr
    assert "as of 2024-12-31: already_mailed" in r.stdout + r.stderr
    assert mailbox.wait(1, seconds=3) == []
    # a month the warehouse does not reach: no bulletin, an alert
    r = run("2025-03-11T08:00:00+08:00")
    assert r.returncode != 0 or "state=failed" in r.stdout + r.stderr
    (alert,) = mailbox.wait(1)
    mailbox.received.clear()
    assert "fpa_bulletin.mail_bulletins failed" in alert["Subject"]
    assert "2025年2月28日" in text_of(alert) or "2025-02-28" in text_of(alert)


def test_a_correction_during_the_day_is_published_by_the_intraday_poll(
    airflow_home, nightly_run, small_inbox, tmp_path
):
    """fpa_intraday on the night's warehouse: a poll with nothing new stops at its first task
    (nothing built or published); 河池's corrected December report placed in the inbox is taken
    in and published by the next poll, with no command typed; the poll after it is empty again.
    (Last in the module: it publishes a new version of the night's warehouse.)"""
    warehouse, _, _ = nightly_run
    inbox = tmp_path / "inbox"
    shutil.copytree(small_inbox, inbox)  # file times kept: the state has seen every one
    env = airflow_env(airflow_home, FPA_INBOX=str(inbox), FPA_WAREHOUSE=str(warehouse))

    def poll() -> str:
        r = subprocess.run(
            [AIRFLOW, "dags", "test", "fpa_intraday"], env=env, capture_output=True, text=True
        )
        log = r.stdout + r.stderr
        assert r.returncode == 0, log[-3000:]
        return log

    published = warehouse.stat().st_mtime_ns
    log = poll()
    assert "nothing new in" in log and warehouse.stat().st_mtime_ns == published
    book(
        inbox,
        "河池市计生协2024年12月工作月报（更正）.xlsx",
        [act(date_="2024-12-10", participants=77)],
        [train(start="2024-12-15", end="2024-12-16")],
        title="河池市计生协2024年12月",
        filled="2025年1月5日",
        when=time.time(),
    )
    log = poll()
    assert "1 new: reports/河池市计生协2024年12月工作月报（更正）.xlsx" in log
    assert warehouse.stat().st_mtime_ns != published
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "SELECT sum(activities), sum(participants) FROM marts.activities_monthly "
            "WHERE city_code = '451200' AND month = DATE '2024-12-01'"
        ).fetchone() == (1, 77)
    assert "nothing new in" in poll()
