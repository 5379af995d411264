"""Land and parse: every complete file of the inbox, once, into the state database.

A file's manifest entry, audit row, raw rows and quarantined rows are committed together or not
at all, so a killed run leaves either all of a file or none of it. Insurer files are read in
batches (one DuckDB pass and one transaction for up to BATCH_BYTES of them: the per-file cost
of a query is what makes a naive loader slow); workbooks one by one, committed in groups.
A file already received (same name, same content) is skipped: running twice changes nothing.
"""

import os
import tempfile
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from fpa import landing
from fpa.clock import CST
from fpa.personal import PersonHasher, load_key
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.sources import insurer, reports, targets
from fpa.state import StatePaths, locked, writer

BATCH_BYTES = 32 << 20  # of insurer CSVs read in one pass: ~20x that in memory
WORKBOOKS_PER_COMMIT = 200  # a commit costs more than a small workbook


@dataclass
class IngestResult:
    files: Counter = field(default_factory=Counter)  # by status, as they stand at the end
    rows_loaded: int = 0
    rows_quarantined: int = 0
    waiting: list[str] = field(default_factory=list)
    skipped: int = 0  # received before

    def summary(self) -> str:
        files = ", ".join(f"{n} {s}" for s, n in sorted(self.files.items())) or "no new files"
        return (
            f"files: {files}; rows: {self.rows_loaded:,} loaded, "
            f"{self.rows_quarantined:,} quarantined; {self.skipped} already received; "
            f"{len(self.waiting)} waiting for their .ok"
        )


def ingest(inbox: Path, warehouse: Path, progress=None, lock: bool = True) -> IngestResult:
    """Every complete file of the inbox not received before (lock=False: the caller, a whole
    night, holds the state lock already)."""
    paths = StatePaths(warehouse)
    started = datetime.now(CST)
    scan = landing.scan(inbox)
    result = IngestResult(waiting=scan.waiting)
    with writer(paths, lock=lock) as con:
        new = []
        for received in scan.complete:
            sha = received.sha256()
            if con.execute(
                "SELECT 1 FROM audit.load_audit WHERE file_name = ? AND file_sha256 = ?",
                [received.file_name, sha],
            ).fetchall():
                result.skipped += 1
            else:
                new.append((received, sha))
        _process(con, paths, new, started, result, progress)
    return result


def reprocess(warehouse: Path, progress=None, lock: bool = True) -> IngestResult:
    """Build the state anew from the landing archive alone (no inbox): every file received, in
    its order of arrival, under the names it came with — after a parser fix, say. The earlier
    state is kept until the new one is complete, and put back if anything fails."""
    paths = StatePaths(warehouse)
    if not paths.db.exists():
        raise FileNotFoundError(f"no state at {paths.db}: nothing was received yet")
    started = datetime.now(CST)
    result = IngestResult()
    with locked(paths) if lock else nullcontext():
        with duckdb.connect(str(paths.db), read_only=True) as old:
            receipts = old.execute(
                "SELECT source, file_name, file_sha256, received_at FROM audit.load_audit "
                "ORDER BY received_at, file_name"
            ).fetchall()
        earlier = paths.db.with_name(paths.db.name + ".before-reprocess")
        os.replace(paths.db, earlier)
        try:
            files = []
            for source, name, sha, received_at in receipts:
                copy = paths.landing / sha
                files.append(
                    (
                        landing.Received(
                            source, name, copy, received_at.astimezone(CST), copy.stat().st_size
                        ),
                        sha,
                    )
                )
            with writer(paths, lock=False) as con:
                _process(con, paths, files, started, result, progress)
        except BaseException:
            paths.db.unlink(missing_ok=True)
            os.replace(earlier, paths.db)
            raise
        earlier.unlink()
    return result


def _process(
    con, paths: StatePaths, new: list, started: datetime, result: IngestResult, progress
) -> None:
    insurer.register_person_key(con, PersonHasher(load_key(paths.root)))
    for kind in ("policy", "claim"):
        files = [x for x in new if x[0].source == f"insurer_{kind}"]
        for batch in _batches(files):
            _insurer_batch(con, paths, kind, batch)
            if progress:
                progress(f"insurer {kind}: {batch[-1][0].file_name}")
    workbooks = [x for x in new if not x[0].source.startswith("insurer_")]
    for i in range(0, len(workbooks), WORKBOOKS_PER_COMMIT):
        _workbooks(con, paths, workbooks[i : i + WORKBOOKS_PER_COMMIT])
    # statuses as they stand at the end: a report of this run may supersede another
    for status, files, loaded, quarantined in con.execute(
        "SELECT status, count(*), sum(rows_loaded), sum(rows_quarantined) "
        "FROM audit.load_audit WHERE processed_at >= ? GROUP BY status",
        [started],
    ).fetchall():
        result.files[status] = files
        result.rows_loaded += int(loaded)
        result.rows_quarantined += int(quarantined)


def _batches(files: list) -> list[list]:
    out, size = [[]], 0
    for received, sha in files:
        if out[-1] and size + received.size > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append((received, sha))
        size += received.size
    return [b for b in out if b]


def _audit(con, received: landing.Received, sha: str, outcome: insurer.Outcome) -> None:
    con.execute(
        "INSERT INTO audit.load_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            received.source,
            received.file_name,
            sha,
            received.received_at,
            outcome.status,
            str(outcome.reason_code) or None,
            outcome.reason or None,
            outcome.rows_received,
            outcome.rows_received - outcome.rows_quarantined,
            outcome.rows_quarantined,
            datetime.now(CST),
        ],
    )


def _land(
    con, paths: StatePaths, received: landing.Received, sha: str, pending: set[str]
) -> Path | None:
    """The archived copy of a new content; None (and a `duplicate` audit row) when the content
    was received before, under any name."""
    first = con.execute(
        "SELECT file_name FROM landing.manifest WHERE file_sha256 = ?", [sha]
    ).fetchone()
    if first or sha in pending:
        _audit(
            con,
            received,
            sha,
            insurer.Outcome(
                "duplicate",
                Reason.DUPLICATE,
                f"{DESCRIPTIONS[Reason.DUPLICATE]}: {first[0] if first else 'this run'}",
            ),
        )
        return None
    pending.add(sha)
    con.execute(
        "INSERT INTO landing.manifest VALUES (?, ?, ?, ?, ?)",
        [sha, received.source, received.file_name, received.size, datetime.now(CST)],
    )
    return landing.archive(received, sha, paths.landing)


def _rejected(r: insurer.Rejected) -> insurer.Outcome:
    return insurer.Outcome("rejected", r.code, f"{DESCRIPTIONS[r.code]}: {r.detail}")


def _insurer_batch(
    con: duckdb.DuckDBPyConnection, paths: StatePaths, kind: str, batch: list
) -> None:
    with tempfile.TemporaryDirectory(prefix="fpa-ingest-") as tmp:
        con.begin()
        try:
            pending: set[str] = set()
            prepared, by_sha = [], {}
            for received, sha in batch:
                landed = _land(con, paths, received, sha, pending)
                if landed is None:
                    continue
                by_sha[sha] = received
                try:
                    prepared.append(
                        insurer.prepare(
                            kind,
                            landed,
                            Path(tmp),
                            received.file_name,
                            sha,
                            landing.insurer_day(received.file_name),
                            received.received_at,
                        )
                    )
                except insurer.Rejected as r:
                    _audit(con, received, sha, _rejected(r))
            try:
                outcomes = insurer.load_batch(con, kind, prepared)
            except insurer.BatchUnreadable:  # find the unreadable file: one by one
                outcomes = {}
                for p in prepared:
                    try:
                        outcomes.update(insurer.load_batch(con, kind, [p]))
                    except insurer.Rejected as r:
                        outcomes[p.sha256] = _rejected(r)
            for sha, outcome in outcomes.items():
                _audit(con, by_sha[sha], sha, outcome)
            con.commit()
        except BaseException:
            con.rollback()
            raise


def _workbooks(con: duckdb.DuckDBPyConnection, paths: StatePaths, batch: list) -> None:
    """Workbooks one by one, in arrival order (a later report may supersede an earlier one),
    committed together."""
    con.begin()
    try:
        pending: set[str] = set()
        for received, sha in batch:
            landed = _land(con, paths, received, sha, pending)
            if landed is None:
                continue
            try:
                if received.source == "report":
                    outcome = reports.parse(
                        con, landed, received.file_name, sha, received.received_at
                    )
                elif received.source == "target":
                    outcome = targets.parse(
                        con, landed, received.file_name, sha, received.received_at
                    )
                else:
                    raise insurer.Rejected(
                        Reason.UNKNOWN_FILE,
                        f"{received.file_name}: not "
                        "an extract JS_POLICY_/JS_CLAIM_YYYYMMDD.csv, nor a "
                        "workbook under reports/ or targets/",
                    )
            except insurer.Rejected as r:
                outcome = _rejected(r)
            _audit(con, received, sha, outcome)
            if received.source == "report" and outcome.status == "loaded":
                reports.settle_revisions(con, sha)
        con.commit()
    except BaseException:
        con.rollback()
        raise
