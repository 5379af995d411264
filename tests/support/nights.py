"""Nights run on copies of a published warehouse folder: the command line as an operator runs
it, the load audit as the state keeps it, and the modes of everything a night wrote."""

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb

# fpa_nightly's tasks in order (dags/fpa_nightly.py); fpa_intraday runs the same but the first
# and the last behind its own first task
NIGHTLY_TASKS = [
    "pull_new_files",
    "land_and_parse",
    "needs_build",
    "build",
    "gate",
    "publish",
    "mail_feedback",
]


def fpa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fpa.cli", *args], capture_output=True, text=True)


def run_printed(line: str) -> subprocess.CompletedProcess:
    """A command exactly as a night printed it (`fpa …`, shell-quoted), run as `fpa`."""
    argv = shlex.split(line.strip())
    assert argv[0] == "fpa", line
    return fpa(*argv[1:])


def printed_commands(stdout: str, command: str) -> list[str]:
    """The lines of a night's summary that are a command (`fpa set-aside …`), as printed."""
    out = []
    for line in stdout.splitlines():
        text = line.strip()
        if text.startswith("then run the night again: "):
            text = text.removeprefix("then run the night again: ")
        if text.startswith(f"fpa {command} "):
            out.append(text)
    return out


def copy_night(src_warehouse: Path, src_inbox: Path, to: Path) -> tuple[Path, Path]:
    """A copy of a warehouse folder (modes kept) and of its inbox, for one scenario."""
    warehouse = to / "wh" / src_warehouse.name
    shutil.copytree(src_warehouse.parent, warehouse.parent, symlinks=True)
    inbox = to / "inbox"
    shutil.copytree(src_inbox, inbox, symlinks=True)
    return inbox, warehouse


def audit(warehouse: Path) -> dict[str, tuple]:
    """file_name -> (source, status, reason_code, reason), from the state."""
    state = warehouse.parent / "state" / "state.duckdb"
    with duckdb.connect(str(state), read_only=True) as con:
        return {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT file_name, source, status, reason_code, reason FROM audit.load_audit"
            ).fetchall()
        }


def readable_by_others(folder: Path) -> list[str]:
    """Every entry under folder (itself included) with a permission bit for group or others,
    as 'mode path'; links are not followed."""
    loose = []
    for root, dirs, files in os.walk(folder):
        for p in [root, *(os.path.join(root, n) for n in dirs + files)]:
            st = os.lstat(p)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                loose.append(f"{stat.S_IMODE(st.st_mode):o} {os.path.relpath(p, folder)}")
    return sorted(set(loose))


def loosen(warehouse: Path) -> None:
    """A warehouse folder as an earlier version left it: folders 0755, files 0644, the
    published file (and its versions, other names of the same files) 0444."""
    for root, _, files in os.walk(warehouse.parent):
        os.chmod(root, 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    os.chmod(warehouse, 0o444)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)
