"""Write-audit-publish, the last step: a candidate that passed the gate becomes the published file
by one atomic rename; the file it replaces is kept in versions/ for `fpa rollback`.

Readers (Superset) open the published file read-only per query. A rename never changes a file
under an open connection: the old inode lives on until its last reader closes it, and the next
query opens the new one. A run killed anywhere before the rename leaves the published file as
it was; a candidate it left behind is swept by the next run.

The published file is its owner's only and read-only (0400): Superset runs as the same user
(here and in the compose profile's image), and a stray writer fails loudly. Its folder, when the
warehouse creates it, and versions/ are 0700.
"""

import os
from datetime import datetime
from pathlib import Path

import duckdb

from fpa.clock import CST
from fpa.paths import private_dir, private_parent

PUBLISHED_MODE = 0o400  # the owner reads (Superset runs as the same user); no one writes
VERSIONS_KEPT = 5  # published files kept for rollback, besides the current one
BUILDS_KEPT = 3  # candidates kept for inspection (failed ones included)
# what the candidate holds only to build the marts: views over the state database (which a
# reader never has attached) and the gate's working tables
WORK_SCHEMAS = ("staging", "intermediate", "gate")


class NothingToRollBack(RuntimeError):
    pass


def versions_dir(warehouse: Path) -> Path:
    return warehouse.parent / "versions"


def finalise(candidate: Path) -> None:
    """Leave in the candidate only what readers need, checkpointed into one file (no WAL)."""
    con = duckdb.connect(str(candidate))
    try:
        for schema in WORK_SCHEMAS:
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    wal = candidate.with_name(candidate.name + ".wal")
    if wal.exists():  # a clean close leaves none; a WAL beside a renamed file would be lost
        raise RuntimeError(f"{wal} left after CHECKPOINT and close")


def publish(candidate: Path, warehouse: Path) -> Path | None:
    """Swap the candidate in; returns where the replaced file was kept (None on a first run)."""
    private_parent(warehouse)
    kept = None
    if warehouse.exists():
        kept = versions_dir(warehouse) / f"{_stamp()}.duckdb"
        private_dir(kept.parent)
        os.link(warehouse, kept)  # a second name for the same bytes: no copy, no window
    os.chmod(candidate, PUBLISHED_MODE)
    _fsync(candidate)
    os.replace(candidate, warehouse)
    _fsync(warehouse.parent)
    _prune(versions_dir(warehouse), "*.duckdb", VERSIONS_KEPT)
    return kept


def rollback(warehouse: Path) -> Path:
    """Put back the newest kept version; the file it replaces goes to versions/rolled-back/,
    out of the rollback chain (so a second rollback goes one further back)."""
    versions = sorted(versions_dir(warehouse).glob("*.duckdb"))
    if not versions:
        raise NothingToRollBack(f"no earlier version of {warehouse} is kept")
    previous = versions[-1]
    if warehouse.exists():
        aside = versions_dir(warehouse) / "rolled-back" / f"{_stamp()}.duckdb"
        private_dir(aside.parent)
        os.link(warehouse, aside)
        _prune(aside.parent, "*.duckdb", VERSIONS_KEPT)
    os.chmod(previous, PUBLISHED_MODE)  # kept by an earlier version, perhaps 0444
    os.replace(previous, warehouse)
    _fsync(warehouse.parent)
    return previous


def tighten_published(warehouse: Path) -> None:
    """What an earlier version left readable by others: the published file (0444; its kept
    versions are other names of the same files) and versions/."""
    if warehouse.exists():
        os.chmod(warehouse, PUBLISHED_MODE)
    if versions_dir(warehouse).exists():
        private_dir(versions_dir(warehouse))


def sweep_builds(builds: Path, keep: int = BUILDS_KEPT) -> None:
    """Candidates of earlier runs (killed, blocked or published-by-rename-already-gone)."""
    _prune(builds, "*.duckdb", keep)
    for wal in builds.glob("*.duckdb.wal"):
        if not wal.with_suffix("").exists():
            wal.unlink()


def _prune(folder: Path, pattern: str, keep: int) -> None:
    for old in sorted(folder.glob(pattern))[:-keep] if keep else sorted(folder.glob(pattern)):
        old.unlink()


def _stamp() -> str:
    return datetime.now(CST).strftime("%Y%m%dT%H%M%S%f")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
