"""One night (`fpa load`): land -> parse -> build -> gate -> publish.

The whole night holds the state lock (an flock: a killed run leaves none behind). Every step
works on files of its own (the state database in transactions, a new candidate per run), so a
run that fails or is killed anywhere leaves the published file as it was, and the next run
starts over from what the state holds. Airflow's tasks call the same steps (`*_step`).
"""

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from fpa import build as dbt_build
from fpa import gate as quality_gate
from fpa import publish as publication
from fpa.clock import CST
from fpa.ingest import IngestResult, ingest, reprocess
from fpa.paths import PROJECT_ROOT
from fpa.state import StatePaths, locked

PUBLISHED = 0
BLOCKED = 1

PUBLISH_LOG_DDL = """
CREATE TABLE IF NOT EXISTS audit.publish_log (
    run_id VARCHAR NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL,
    action VARCHAR NOT NULL,        -- published | blocked | rolled back
    inputs VARCHAR NOT NULL,        -- digest of the data and the code the file was built from
    detail VARCHAR
)
"""


@dataclass
class NightResult:
    run_id: str
    ingest: IngestResult | None = None
    build: dbt_build.BuildResult | None = None
    gate: quality_gate.GateResult | None = None
    published: bool = False
    up_to_date: bool = False  # nothing new since the last publication: nothing done
    kept: Path | None = None  # where the replaced file went

    @property
    def exit_code(self) -> int:
        return PUBLISHED if self.published or self.up_to_date else BLOCKED

    def summary(self) -> str:
        lines = [self.ingest.summary()] if self.ingest else []
        if self.up_to_date:
            lines.append("nothing new since the last publication: the published file is as it was")
            return "\n".join(lines)
        if self.build:
            lines.append(self.build.summary())
            lines += [f"  FAILED {f}" for f in self.build.failures[:20]]
        if self.gate:
            lines.append(self.gate.verdict())
        if self.published:
            lines.append(f"published (run {self.run_id})")
        else:
            lines.append(f"NOT published (run {self.run_id}): the published file is unchanged")
        return "\n".join(lines)


def new_run_id() -> str:
    return datetime.now(CST).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"


def inputs_digest(paths: StatePaths) -> str:
    """What a published file is a function of: the files received, the dbt project and the
    gate's configuration (an allow-list entry added after a blocked night included). Equal
    digests: a rebuild would publish the same thing."""
    h = hashlib.sha256()
    with duckdb.connect(str(paths.db), read_only=True) as con:
        for row in con.execute(
            "SELECT file_name, file_sha256, status FROM audit.load_audit ORDER BY ALL"
        ).fetchall():
            h.update(repr(row).encode())
    code = dbt_build.project_files()
    code += [quality_gate.SUITES_FILE, quality_gate.EXPECTATIONS_DIR / quality_gate.ALLOW_LIST]
    # named by where they sit, not by absolute path: a checkout or a warehouse folder moved to
    # another machine has the same inputs
    named = [(f.relative_to(PROJECT_ROOT).as_posix(), f) for f in code]
    named.append(
        ("<warehouse>/" + quality_gate.ALLOW_LIST, paths.warehouse.parent / quality_gate.ALLOW_LIST)
    )
    for name, f in named:
        if f.is_file():
            h.update(name.encode() + f.read_bytes())
    return h.hexdigest()


def last_published_inputs(paths: StatePaths) -> str | None:
    with duckdb.connect(str(paths.db), read_only=True) as con:
        if not con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'audit' "
            "AND table_name = 'publish_log'"
        ).fetchall():
            return None
        row = con.execute(
            "SELECT action, inputs FROM audit.publish_log ORDER BY logged_at DESC LIMIT 1"
        ).fetchall()
    return row[0][1] if row and row[0][0] in ("published", "rolled back") else None


def log_publication(paths: StatePaths, run_id: str, action: str, inputs: str, detail: str):
    with duckdb.connect(str(paths.db)) as con:
        con.execute(PUBLISH_LOG_DDL)
        con.execute(
            "INSERT INTO audit.publish_log VALUES (?, ?, ?, ?, ?)",
            [run_id, datetime.now(CST), action, inputs, detail],
        )
        con.execute("CHECKPOINT")


def is_up_to_date(warehouse: Path, inputs: str) -> bool:
    """Published, and nothing new since: a rebuild would publish the same thing."""
    return warehouse.exists() and last_published_inputs(StatePaths(warehouse)) == inputs


def build_step(
    warehouse: Path, run_id: str, inputs: str, dbt_process=None
) -> dbt_build.BuildResult:
    """The candidate built from the inputs whose digest is `inputs`. The caller holds the
    state lock."""
    paths = StatePaths(warehouse)
    publication.sweep_builds(dbt_build.builds_dir(warehouse))
    built = dbt_build.build(warehouse, run_id, dbt_process)
    if not built.success:
        log_publication(paths, run_id, "blocked", inputs, "dbt build failed")
    return built


def gate_step(
    warehouse: Path, run_id: str, candidate: Path, inputs: str, gx_process=None
) -> quality_gate.GateResult:
    judged = quality_gate.run_gate(
        candidate, warehouse, run_id, datetime.now(CST), docs_dir(warehouse), gx_process
    )
    if judged.blocked:
        log_publication(StatePaths(warehouse), run_id, "blocked", inputs, "quality gate")
    return judged


def publish_step(warehouse: Path, run_id: str, candidate: Path, inputs: str) -> Path | None:
    publication.finalise(candidate)
    kept = publication.publish(candidate, warehouse)
    log_publication(StatePaths(warehouse), run_id, "published", inputs, "")
    return kept


def load(
    inbox: Path | None, warehouse: Path, progress=None, from_archive: bool = False
) -> NightResult:
    """One nightly run. from_archive: the backfill — the state is rebuilt from the landing
    archive alone (every file received since 2017, in order of arrival, through today's
    parsers), then built, judged and published whatever the last publication was."""
    # absolute from here on: dbt and GX resolve relative paths against folders of their own
    warehouse = warehouse.resolve()
    inbox = inbox.resolve() if inbox is not None else None
    paths = StatePaths(warehouse)
    result = NightResult(new_run_id())
    with locked(paths):
        dbt_process = dbt_build.warm_up()  # imports dbt while the files are read
        gx_process = None
        try:
            if from_archive:
                result.ingest = reprocess(warehouse, progress, lock=False)
            elif inbox is not None:
                result.ingest = ingest(inbox, warehouse, progress, lock=False)
            inputs = inputs_digest(paths)
            if not from_archive and is_up_to_date(warehouse, inputs):
                result.up_to_date = True
                return result
            gx_process = quality_gate.warm_up()  # imports GX while dbt builds
            result.build = build_step(warehouse, result.run_id, inputs, dbt_process)
            if not result.build.success:
                return result
            result.gate = gate_step(
                warehouse, result.run_id, result.build.candidate, inputs, gx_process
            )
        finally:
            for child in (dbt_process, gx_process):  # those not used: the night ended early
                if child is not None and child.poll() is None:
                    child.kill()
                    child.wait()
        if result.gate.blocked:
            return result
        result.kept = publish_step(warehouse, result.run_id, result.build.candidate, inputs)
        result.published = True
    return result


def rollback(warehouse: Path) -> Path:
    paths = StatePaths(warehouse)
    with locked(paths):
        previous = publication.rollback(warehouse)
        # the inputs as they stand: a load with nothing new keeps the version put back
        log_publication(
            paths, f"rollback-{new_run_id()}", "rolled back", inputs_digest(paths), previous.name
        )
    return previous


def docs_dir(warehouse: Path) -> Path:
    """Where the gate's Data Docs are rendered (beside the warehouse)."""
    return warehouse.resolve().parent / "quality" / "docs"
