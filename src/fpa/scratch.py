"""The scratch folders of a run in the system's temporary directory, named with the process that
made them, and removed by a later run once that process is gone.

A run removes its own scratch on the way out, but a run killed (SIGKILL, the kernel's
out-of-memory killer, the machine's power, Airflow's timeout of a task) cannot: every such night
left its folders behind, and an ingest's holds the day's extracts transcoded to UTF-8 — the
deliveries' ID numbers in clear, outside the warehouse's state, for as long as /tmp lasts. The
process's number in the name tells a later run (any command that makes scratch) whose folder it
is: one whose process no longer exists, and that belongs to this account, is removed. A number
reused by another process keeps its folder until that one ends too: the safe way round.
"""

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_KIND = r"[a-z]+(?:-[a-z]+)*"
# fpa-<kind>-<pid>-<tempfile's 8 random characters: a-z, 0-9 and _>
_NAME = re.compile(rf"fpa-{_KIND}-(\d+)-[a-z0-9_]{{8}}")


def folder(kind: str) -> Path:
    """A new private folder (0700) for `kind` (letters and dashes), the caller's to remove."""
    if not re.fullmatch(_KIND, kind):
        raise ValueError(f"a scratch folder's kind is lowercase words and dashes, not {kind!r}")
    sweep()
    return Path(tempfile.mkdtemp(prefix=f"fpa-{kind}-{os.getpid()}-"))


@contextmanager
def temporary(kind: str) -> Iterator[Path]:
    """A scratch folder for the block, removed at its end (an exception's too)."""
    made = folder(kind)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def sweep(where: Path | None = None) -> list[Path]:
    """Remove the scratch folders whose process has ended and that belong to this account; the
    folders removed."""
    where = Path(where or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(where))
    except OSError:
        return removed
    for entry in entries:
        found = _NAME.fullmatch(entry.name)
        if not found or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        if _alive(int(found[1])):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another account's process: not ours to judge
    except OverflowError:
        return True  # no process can have that number: not a folder we made
    return True
