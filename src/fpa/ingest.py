"""Land and parse: every complete file of the inbox, once, into the state database.

A file's manifest entry, audit row, raw rows and quarantined rows are committed together or not
at all, so a killed run leaves either all of a file or none of it. Insurer files are read in
batches (one DuckDB pass and one transaction for up to BATCH_BYTES of them: the per-file cost
of a query is what makes a naive loader slow), workbooks parsed one by one and committed in
groups; a worker thread transcodes the next batch or parses the next group while DuckDB
writes this one. A file already received (same name, same content) is skipped: running twice
changes nothing.
"""

import os
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import duckdb

from fpa import landing, scratch
from fpa.build import forget_increments
from fpa.clock import CST
from fpa.personal import PersonHasher, load_key
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.sources import insurer, reports
from fpa.sources.common import Outcome, Rejected
from fpa.sources.spreadsheet import Marker, Reader
from fpa.state import RowBuffer, StatePaths, insert_rows, locked, writer

BATCH_BYTES = 64 << 20  # of insurer CSVs read in one pass: ~6x that in memory
WORKBOOKS_PER_COMMIT = 200  # a commit costs more than a small workbook
STEPS_AHEAD = 2  # prepared by the worker while this thread writes one (files on disk, parsed rows)


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
        # a file under the same name, size and modification time as one checksummed before is
        # taken to be that file (rsync's test): only the others are read
        known = {
            (name, size, at): sha
            for name, size, at, sha in con.execute(
                "SELECT file_name, size, received_at, file_sha256 FROM audit.inbox_checksums"
            ).fetchall()
        }
        unknown = [r for r in scan.complete if _identity(r) not in known]
        # hashlib and file reads release the GIL: two threads checksum on both cores
        with ThreadPoolExecutor(max_workers=2) as pool:
            shas = pool.map(landing.Received.sha256, unknown)
            known |= zip(map(_identity, unknown), shas, strict=True)
        files = [(r, known[_identity(r)]) for r in scan.complete]
        seen = set(
            con.execute(
                "SELECT file_name, file_sha256 FROM audit.load_audit "
                "WHERE file_name IN (SELECT unnest(?))",
                [[received.file_name for received, _ in files]],
            ).fetchall()
        )
        new = [(r, sha) for r, sha in files if (r.file_name, sha) not in seen]
        result.skipped = len(files) - len(new)
        _process(con, paths, new, started, result, progress)
        if unknown:  # recorded once the files are processed: a failed night checksums again
            rows = [(*_identity(r), known[_identity(r)]) for r in unknown]
            columns = [list(c) for c in zip(*rows, strict=True)]
            con.execute(
                "INSERT OR REPLACE INTO audit.inbox_checksums "
                "SELECT unnest(?), unnest(?), unnest(?), unnest(?)",
                columns,
            )
    return result


def _identity(received: landing.Received) -> tuple:
    return received.file_name, received.size, received.received_at


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
                "SELECT source, file_name, file_sha256, received_at, reason_code, reason "
                "FROM audit.load_audit ORDER BY received_at, file_name"
            ).fetchall()
        earlier = paths.db.with_name(paths.db.name + ".before-reprocess")
        os.replace(paths.db, earlier)
        try:
            files = []
            for row in receipts:  # its landing copy; an unsafe entry (never landed) as it was
                files.append((landing.receipt(paths.landing, *row), row[2]))
            with writer(paths, lock=False) as con:
                _process(con, paths, files, started, result, progress)
        except BaseException:
            paths.db.unlink(missing_ok=True)
            os.replace(earlier, paths.db)
            raise
        earlier.unlink()
        forget_increments(warehouse)  # every raw row is new: the next build computes in full
    return result


def _process(
    con, paths: StatePaths, new: list, started: datetime, result: IngestResult, progress
) -> None:
    # the report kinds checked against their seeds before anything is read (in the reader's
    # process the error would reject every report as unreadable)
    reports.kinds()
    # the insurer's read pass keys every ID with it, in SQL (insurer.read_batch)
    PersonHasher(load_key(paths.root)).install(con)
    by_kind = {
        kind: [x for x in new if x[0].source == f"insurer_{kind}"] for kind in ("policy", "claim")
    }
    workbooks = [x for x in new if not x[0].source.startswith("insurer_")]
    # decided in the order the files are processed: the first of a content lands, the others
    # are its duplicates
    plan = _landing_plan(con, by_kind["policy"] + by_kind["claim"] + workbooks)
    marker = Marker(paths.root)
    crashed = marker.crashed()
    with scratch.temporary("ingest") as tmp, Reader() as reader:
        extracts, groups = [], []
        for kind, files in by_kind.items():
            for batch in _batches(plan[: len(files)]):
                extracts.append(
                    (
                        partial(_prepare, paths, kind, batch, Path(tmp)),
                        partial(_insurer_batch, con, kind, batch),
                    )
                )
            plan = plan[len(files) :]
        for i in range(0, len(plan), WORKBOOKS_PER_COMMIT):
            group = plan[i : i + WORKBOOKS_PER_COMMIT]
            groups.append(
                (
                    partial(_parse_workbooks, paths, group, reader, marker, crashed),
                    partial(_write_workbooks, con),
                )
            )
        _pipeline(_interleaved(extracts, groups), progress)
    marker.recorded()
    # statuses as they stand at the end: a report of this run may supersede another
    for status, files, loaded, quarantined in con.execute(
        "SELECT status, count(*), sum(rows_loaded), sum(rows_quarantined) "
        "FROM audit.load_audit WHERE processed_at >= ? GROUP BY status",
        [started],
    ).fetchall():
        result.files[status] = files
        result.rows_loaded += int(loaded)
        result.rows_quarantined += int(quarantined)


def _pipeline(steps: list, progress) -> None:
    """Each step is (work on files, work on the database): a worker thread does the files of
    the next step (archive, transcode, parse a workbook) while this thread does the database of
    this one, in order. DuckDB releases the GIL while it works, so the two share both cores;
    one stream for every kind of file, so no core waits where policies end and claims or
    workbooks begin. The worker keeps STEPS_AHEAD steps ready: a group of workbooks parsed
    between two batches of extracts leaves it the time of one batch for both."""
    with ThreadPoolExecutor(max_workers=1) as worker:
        ahead = deque(worker.submit(prepare) for prepare, _ in steps[:STEPS_AHEAD])
        for i, (_, apply) in enumerate(steps):
            ready = ahead.popleft().result()
            if i + STEPS_AHEAD < len(steps):
                ahead.append(worker.submit(steps[i + STEPS_AHEAD][0]))
            done = apply(ready)
            if progress and done:
                progress(done)


def _interleaved(extracts: list, groups: list) -> list:
    """The workbook groups spread evenly among the extracts' batches, each kind in its own
    order: a group is parsed in the reader's process while DuckDB reads a batch of extracts,
    where after the last batch its parse had nothing beside it (6 s at the end of ten years'
    backfill). Kinds touch tables of their own, so the state is the same in any such order."""
    steps, placed = [], 0
    for i, step in enumerate(extracts, 1):
        due = len(groups) * i // len(extracts)  # the groups due by the end of this batch
        steps += [step, *groups[placed:due]]
        placed = due
    return steps + groups[placed:]


def _landing_plan(con, files: list) -> list[tuple[landing.Received, str, str | None]]:
    """Each new file with, when its content was received before (or earlier in this run), the
    name that content first arrived under: one query for all the files."""
    first = dict(
        con.execute(
            "SELECT file_sha256, file_name FROM landing.manifest "
            "WHERE file_sha256 IN (SELECT unnest(?))",
            [[sha for _, sha in files]],
        ).fetchall()
    )
    plan = []
    for received, sha in files:
        plan.append((received, sha, first.get(sha)))
        first.setdefault(sha, received.file_name)
    return plan


def _batches(plan: list) -> list[list]:
    out, size = [[]], 0
    for item in plan:
        if out[-1] and size + item[0].size > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append(item)
        size += item[0].size
    return [b for b in out if b]


def _prepare(paths: StatePaths, kind: str, batch: list, tmp: Path) -> dict:
    """Files only, no database: archive each new content and transcode it; per sha256 its
    Prepared or Rejected."""
    out = {}
    for received, sha, first in batch:
        if first is not None:
            continue
        landed = landing.archive(received, sha, paths.landing)
        try:
            out[sha] = insurer.prepare(
                kind,
                landed,
                tmp,
                received.file_name,
                sha,
                landing.insurer_day(received.file_name),
                received.received_at,
            )
        except Rejected as r:
            out[sha] = r
    return out


def _insurer_batch(con, kind: str, batch: list, prepared: dict) -> str:
    """One batch in one transaction: manifest, audit, quarantined and raw rows."""
    ready = [p for p in prepared.values() if isinstance(p, insurer.Prepared)]
    try:
        ready, outcomes = insurer.read_batch(con, kind, ready)  # outside the transaction
        con.begin()
        try:
            _manifest(con, [(r, sha) for r, sha, first in batch if first is None])
            outcomes.update(insurer.load_batch(con, kind, ready))
            _audit(
                con, [(r, sha, _outcome(prepared, outcomes, sha, first)) for r, sha, first in batch]
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        for p in prepared.values():
            if isinstance(p, insurer.Prepared):
                p.body.unlink(missing_ok=True)
    return f"insurer {kind}: {batch[-1][0].file_name}"


def _outcome(prepared: dict, outcomes: dict, sha: str, first: str | None) -> Outcome:
    if first is not None:
        return _duplicate(first)
    if isinstance(prepared[sha], Rejected):
        return _rejected(prepared[sha])
    return outcomes[sha]


def _duplicate(first: str) -> Outcome:
    return Outcome("duplicate", Reason.DUPLICATE, f"{DESCRIPTIONS[Reason.DUPLICATE]}: {first}")


def _audit(con, rows: list[tuple[landing.Received, str, Outcome]]) -> None:
    """Audit rows, one statement for many."""
    now = datetime.now(CST)
    insert_rows(
        con,
        "audit.load_audit",
        [
            (
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
                now,
            )
            for received, sha, outcome in rows
        ],
    )


def _manifest(con, landed: list[tuple[landing.Received, str]]) -> None:
    now = datetime.now(CST)
    insert_rows(
        con,
        "landing.manifest",
        [(sha, r.source, r.file_name, r.size, now) for r, sha in landed],
    )


def _rejected(r: Rejected) -> Outcome:
    return Outcome("rejected", r.code, f"{DESCRIPTIONS[r.code]}: {r.detail}")


def _parse_workbooks(
    paths: StatePaths, batch: list, reader: Reader, marker: Marker, crashed: dict
) -> tuple:
    """Files only, no database: workbooks one by one, in arrival order, each archived and parsed
    in the reader's process into one buffer of rows per table (a workbook rejected half-way
    adds nothing). The file being read is marked beside the state first: a run that dies on
    it leaves the mark, and the next run rejects the file unread (`crashed`)."""
    rows, audited, landed, reports_loaded = RowBuffer(), [], [], []
    for received, sha, first in batch:
        if received.unsafe:  # a link or special file: never opened, never landed (fpa.landing)
            unsafe = Rejected(Reason.UNSAFE_FILE, received.unsafe)
            audited.append((received, sha, _rejected(unsafe)))
            continue
        if first is not None:
            audited.append((received, sha, _duplicate(first)))
            continue
        landed.append((received, sha))
        copy = landing.archive(received, sha, paths.landing)
        if received.source not in landing.WORKBOOK_SOURCES.values():
            outcome = _rejected(
                Rejected(
                    Reason.UNKNOWN_FILE,
                    "not an extract JS_POLICY_/JS_CLAIM_YYYYMMDD.csv, nor a workbook under "
                    "reports/, targets/ or population/",
                )
            )
        elif sha in crashed:
            outcome = _rejected(
                Rejected(
                    Reason.READER_CRASHED,
                    "an earlier run stopped while reading it; if that run was stopped for "
                    "another reason, `fpa load --from-archive` reads it again",
                )
            )
        else:
            marker.reading(sha, received.file_name)
            parsed = reader.parse(
                received.source, copy, received.file_name, sha, received.received_at
            )
            marker.done()
            if parsed[0] == "rejected":
                outcome = _rejected(Rejected(Reason(parsed[1]), parsed[2]))
            else:
                _, tables, outcome = parsed
                for table, table_rows in tables.items():
                    rows.add(table, table_rows)
        audited.append((received, sha, outcome))
        if received.source == "report" and outcome.status == "loaded":
            reports_loaded.append(sha)
    return rows, audited, landed, reports_loaded


def _write_workbooks(con: duckdb.DuckDBPyConnection, parsed: tuple) -> str:
    """A group of parsed workbooks committed together: rows inserted table by table, then the
    revisions among them settled (one statement per table, not four per workbook: a statement
    costs about what parsing a workbook does, so per-workbook statements were most of the
    time)."""
    rows, audited, landed, reports_loaded = parsed
    con.begin()
    try:
        _manifest(con, landed)
        rows.flush(con)
        _audit(con, audited)
        reports.settle_revisions(con, reports_loaded)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return f"workbooks: {audited[-1][0].file_name}" if audited else ""
