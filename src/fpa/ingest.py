"""Land and parse: every complete file of the inbox, once, into the state database.

Each file is one transaction: its manifest entry, its audit row, its raw rows and its
quarantined rows are committed together or not at all, so a killed run leaves either all of a
file or none of it. A file already received (same name, same content) is skipped: running
twice changes nothing.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from fpa import landing
from fpa.clock import CST
from fpa.personal import PersonHasher, load_key
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.sources import insurer, reports, targets
from fpa.state import StatePaths, writer


@dataclass
class IngestResult:
    files: Counter = field(default_factory=Counter)  # by status
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


def ingest(inbox: Path, warehouse: Path, progress=None) -> IngestResult:
    paths = StatePaths(warehouse)
    started = datetime.now(CST)
    scan = landing.scan(inbox)
    result = IngestResult(waiting=scan.waiting)
    with writer(paths) as con:
        hasher = PersonHasher(load_key(paths.root))
        insurer.register_person_key(con, hasher)
        for i, received in enumerate(scan.complete):
            sha = received.sha256()
            if con.execute(
                "SELECT 1 FROM audit.load_audit WHERE file_name = ? AND file_sha256 = ?",
                [received.file_name, sha],
            ).fetchone():
                result.skipped += 1
                continue
            _one(con, paths, received, sha, hasher)
            if progress and i % 200 == 199:
                progress(f"{i + 1}/{len(scan.complete)} files")
        # statuses as they stand at the end: a report of this run may supersede another
        for status, files, loaded, quarantined in con.execute(
            """
                SELECT status, count(*), sum(rows_loaded), sum(rows_quarantined)
                FROM audit.load_audit WHERE processed_at >= ? GROUP BY status""",
            [started],
        ).fetchall():
            result.files[status] = files
            result.rows_loaded += int(loaded)
            result.rows_quarantined += int(quarantined)
    return result


def _one(
    con: duckdb.DuckDBPyConnection,
    paths: StatePaths,
    received: landing.Received,
    sha: str,
    hasher: PersonHasher,
) -> None:
    now = datetime.now(CST)
    con.begin()
    try:
        first = con.execute(
            "SELECT file_name FROM landing.manifest WHERE file_sha256 = ?", [sha]
        ).fetchone()
        if first:
            outcome = insurer.Outcome(
                "duplicate", Reason.DUPLICATE, f"{DESCRIPTIONS[Reason.DUPLICATE]}: {first[0]}"
            )
        else:
            landed = landing.archive(received, sha, paths.landing)
            con.execute(
                "INSERT INTO landing.manifest VALUES (?, ?, ?, ?, ?)",
                [sha, received.source, received.file_name, received.size, now],
            )
            outcome = _parse(con, received, landed, sha, hasher)
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
                now,
            ],
        )
        if received.source == "report" and outcome.status == "loaded":
            reports.settle_revisions(con, sha)
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _parse(
    con, received: landing.Received, landed: Path, sha: str, hasher: PersonHasher
) -> insurer.Outcome:
    try:
        if received.source in ("insurer_policy", "insurer_claim"):
            kind = received.source.removeprefix("insurer_")
            return insurer.parse(
                con,
                kind,
                landed,
                received.file_name,
                sha,
                landing.insurer_day(received.file_name),
                received.received_at,
                hasher,
            )
        if received.source == "report":
            return reports.parse(con, landed, received.file_name, sha, received.received_at)
        if received.source == "target":
            return targets.parse(con, landed, received.file_name, sha, received.received_at)
        raise insurer.Rejected(
            Reason.UNKNOWN_FILE,
            f"{received.file_name}: not an extract "
            "JS_POLICY_/JS_CLAIM_YYYYMMDD.csv, nor a workbook",
        )
    except insurer.Rejected as r:
        return insurer.Outcome("rejected", r.code, f"{DESCRIPTIONS[r.code]}: {r.detail}")
