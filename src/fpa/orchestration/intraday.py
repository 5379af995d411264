"""Corrections within minutes: a delivery that arrives during the day (a city's `…更正.xlsx`,
a late insurer extract) is loaded and published by fpa_intraday without waiting for 02:00.

fpa_intraday polls: every POLL_MINUTES its first task asks whether the inbox holds a complete
file the state has not received, and when nothing is new the run stops there — no ingest, no
build, no publication, no alert. The answer is cheap because ingest records every file it took
by name, size and modification time (audit.inbox_checksums, rsync's test): the inbox is walked
with lstat only (fpa.landing.scan) and compared with that table; no file is opened. A file the
state has seen under the same name, size and time is never new; anything else (a new name, a
file rewritten in place) is, and the run goes on through the nightly's own tasks (land, build,
gate, publish with the fpa_warehouse asset, so fpa_superset_refresh clears and warms Superset).

Why a poll and not an asset watcher or a deferrable sensor (measured in bench/README.md,
"Corrections within minutes"): Airflow 3.1 only lets a BaseEventTrigger drive an asset watcher,
and the file triggers it ships (FileDeleteTrigger, DirectoryFileDeleteTrigger) delete the file
they find — a city's delivery, here. A trigger of our own would run in the triggerer's event
loop, where "new" can only be told from the state's DuckDB file, which a night holds for
writing for minutes; and it fires again for the same file until a run has taken it in, so runs
would queue behind each other for one file. A deferrable sensor keeps a run open all day with
the same question to answer. The poll asks it in a task, in the pool `fpa_duckdb` (one slot),
so it never reads the state while a night writes it, and the empty run costs one task.

One writer at a time: every task is in the pool of one slot and takes the state lock, the DAG
has max_active_runs=1, and an intraday run does not start its work while an fpa_nightly run is
queued or running (the night takes in whatever arrived). Where the two still meet (a file that
arrives between the night's ingest and its publication, picked up by an intraday run started
just before 02:00), tasks.publish refuses a candidate whose inputs the state no longer has.

The insurer's SFTP server is not ours: the night pulls from it, and an intraday run pulls at
most every FPA_SFTP_INTRADAY_MINUTES (default 30: ~32 logins over a 16-hour day, next to the
288 of a pull on every poll), so a late insurer extract is on the dashboards within that plus a
run; the cities' corrections arrive in the local inbox and are seen on the next poll.
"""

import os
import time
from pathlib import Path

import duckdb

from fpa import landing
from fpa.orchestration import pull
from fpa.orchestration.common import paths_from_env, reported
from fpa.paths import private_files
from fpa.state import StateBusy, StatePaths, locked

DAG_ID = "fpa_intraday"
NIGHTLY = "fpa_nightly"
POLL_MINUTES = 5
# every 5 minutes: worst case 5 min to be seen + the run + Superset's refresh
# (bench/README.md), under the 10 minutes the cities are promised with minutes to spare
SCHEDULE = f"*/{POLL_MINUTES} * * * *"
SFTP_MINUTES_VAR = "FPA_SFTP_INTRADAY_MINUTES"
SFTP_MINUTES = 30
# when an intraday run last pulled from SFTP (its modification time): beside the state
SFTP_STAMP = "sftp_pulled_intraday"


def new_files(inbox: Path, warehouse: Path) -> list[str]:
    """The complete files of the inbox the state has not received (names as recorded), from
    the inbox's lstat and audit.inbox_checksums alone. Raises StateBusy while another process
    holds the state (a DuckDB reader is refused while a writer has the file)."""
    paths = StatePaths(warehouse)
    scan = landing.scan(inbox)
    if not scan.complete:
        return []
    with locked(paths):
        if not paths.db.exists():  # nothing received yet
            return [r.file_name for r in scan.complete]
        with duckdb.connect(str(paths.db), read_only=True) as con:
            known = set(
                con.execute(
                    "SELECT file_name, size, received_at FROM audit.inbox_checksums"
                ).fetchall()
            )
    return [r.file_name for r in scan.complete if (r.file_name, r.size, r.received_at) not in known]


def has_new_files(inbox: Path, warehouse: Path) -> bool:
    return bool(new_files(inbox, warehouse))


def sftp_due(warehouse: Path, now: float | None = None) -> bool:
    """Whether an intraday run may pull from SFTP: the last intraday pull is older than
    FPA_SFTP_INTRADAY_MINUTES (or there was none)."""
    minutes = float(os.environ.get(SFTP_MINUTES_VAR, SFTP_MINUTES))
    stamp = StatePaths(warehouse).root / SFTP_STAMP
    try:
        last = os.lstat(stamp).st_mtime
    except FileNotFoundError:
        return True
    return (time.time() if now is None else now) - last >= minutes * 60


def _pulled(warehouse: Path) -> None:
    stamp = StatePaths(warehouse).root / SFTP_STAMP
    stamp.parent.mkdir(parents=True, exist_ok=True)
    with private_files():
        stamp.touch()  # its modification time is the pull's


def nightly_active() -> int:
    """fpa_nightly's runs queued or running (asked of Airflow through the task's context)."""
    from airflow.sdk import get_current_context

    return get_current_context()["ti"].get_dr_count(dag_id=NIGHTLY, states=["queued", "running"])


@reported
def check_inbox() -> bool:
    """The intraday run's first task (a short circuit): True when the inbox holds a file the
    state has not received. False — the run stops, nothing published, nothing alerted — when
    nothing is new, while fpa_nightly runs, or while another process writes the state."""
    inbox, warehouse = paths_from_env()
    if nightly_active():
        print(f"{NIGHTLY} is running: it takes in what arrived")
        return False
    if os.environ.get(pull.SFTP_CONN_VAR):
        if sftp_due(warehouse):
            pull.pull_new_files()
            _pulled(warehouse)
        else:
            print(f"SFTP pulled less than {SFTP_MINUTES_VAR} minutes ago: local inbox only")
    started = time.perf_counter()
    try:
        new = new_files(inbox, warehouse)
    except StateBusy:
        print("another run is writing the state: it takes in what arrived, or the next poll")
        return False
    took = (time.perf_counter() - started) * 1000
    if not new:
        print(f"nothing new in {inbox} ({took:.0f} ms)")
        return False
    shown = ", ".join(new[:10]) + (f" and {len(new) - 10} more" if len(new) > 10 else "")
    print(f"{len(new)} new: {shown} ({took:.0f} ms)")
    return True
