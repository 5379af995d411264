"""One night (`fpa load`): land -> parse -> build -> gate -> publish.

The whole night holds the state lock (an flock: a killed run leaves none behind). Every step
works on files of its own (the state database in transactions, a new candidate per run), so a
run that fails or is killed anywhere leaves the published file as it was, and the next run
starts over from what the state holds. Airflow's tasks call the same steps (`*_step`).

A night that does not publish says why and what gets past it (`NightResult.summary`): the
gate's failures with the command for each (fpa.gate), a failed build with the files new since
the last publication. `set_aside` takes a delivered file out (its raw rows deleted, its audit
row `rejected`/`set_aside`, its copy kept in landing); the decision is kept in set_aside.yml
beside the warehouse and applied again after the state is rebuilt from the archive.
Everything a night writes is its owner's only (fpa.paths.private_files).
"""

import getpass
import hashlib
import os
import shlex
import subprocess
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import yaml

from fpa import build as dbt_build
from fpa import child as forked
from fpa import gate as quality_gate
from fpa import publish as publication
from fpa import warm
from fpa.clock import CST
from fpa.ingest import IngestResult, ingest, reprocess
from fpa.paths import PROJECT_ROOT, private_dir, private_files, private_parent, write_private
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.state import StatePaths, hash_received, locked, writer

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
    warehouse: Path | None = None
    inbox: Path | None = None
    from_archive: bool = False
    # after a failed build: the files loaded since the last publication (name, checksum)
    new_files: list[tuple[str, str]] = field(default_factory=list)

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
            lines += self.way_out()
        return "\n".join(lines)

    def way_out(self) -> list[str]:
        """What gets a night that did not publish past its block, as commands to run."""
        if self.published or self.up_to_date or self.warehouse is None:
            return []
        if self.gate is not None:
            lines = self.gate.way_out(self.warehouse)
        elif self.build is not None and not self.build.success:
            lines = build_way_out(self.warehouse, self.new_files)
        else:
            return []
        return [*lines, f"then run the night again: {self.load_command()}"] if lines else []

    def load_command(self) -> str:
        wh = shlex.quote(str(self.warehouse))
        if self.from_archive or self.inbox is None:
            return f"fpa load --from-archive --warehouse {wh}"
        return f"fpa load --inbox {shlex.quote(str(self.inbox))} --warehouse {wh}"


def build_way_out(warehouse: Path, new_files: list[tuple[str, str]]) -> list[str]:
    """After a failed dbt build: the file to set aside when one file is new since the last
    publication, the files to choose from when a few are, else the project itself."""
    wh = shlex.quote(str(warehouse))
    log = dbt_build.builds_dir(warehouse) / "dbt" / "logs" / "dbt.log"
    if len(new_files) == 1:
        name = _shown(*new_files[0])
        return [
            f"the one file loaded since the last publication is {name}; to publish without it:",
            f"  fpa set-aside --warehouse {wh} --file {shlex.quote(name)} "
            f"--why {shlex.quote('dbt build failed with it')}",
        ]
    if 1 < len(new_files) <= quality_gate.FILES_NAMED * 2:
        shown = ", ".join(_shown(*f) for f in new_files)
        return [
            f"files loaded since the last publication: {shown}; to publish without the one "
            f"that fails the node above: fpa set-aside --warehouse {wh} --file FILE --why WHY",
        ]
    if new_files:
        return [
            f"{len(new_files)} files loaded since the last publication; the node and its "
            f"error are in {log}; then: fpa set-aside --warehouse {wh} --file FILE --why WHY"
        ]
    return [
        f"no file is new since the last publication: the dbt project itself fails (see {log}); "
        "the published file is as it was, nothing to roll back"
    ]


def _shown(name: str, sha: str) -> str:
    from fpa.personal import scrub

    return name if scrub(name) == name else sha[:16]


def new_files(paths: StatePaths) -> list[tuple[str, str]]:
    """(file name, checksum) of the files loaded since the last publication."""
    with duckdb.connect(str(paths.db), read_only=True) as con:
        since = quality_gate._last_publication(con) or datetime(1970, 1, 1, tzinfo=CST)
        return con.execute(
            "SELECT file_name, file_sha256 FROM audit.load_audit "
            "WHERE status = 'loaded' AND processed_at > ? ORDER BY processed_at, file_name",
            [since],
        ).fetchall()


def new_run_id() -> str:
    return datetime.now(CST).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"


def inputs_digest(paths: StatePaths) -> str:
    """What a published file is a function of: the files received, the dbt project and the
    gate's configuration (an allow-list entry added after a blocked night included). Equal
    digests: a rebuild would publish the same thing."""
    h = hashlib.sha256()
    hash_received(h, paths.db)
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
    warehouse: Path, run_id: str, inputs: str, dbt_process=None, on_history_built=None
) -> dbt_build.BuildResult:
    """The candidate built from the inputs whose digest is `inputs`. The caller holds the
    state lock."""
    paths = StatePaths(warehouse)
    publication.sweep_builds(dbt_build.builds_dir(warehouse))
    built = dbt_build.build(warehouse, run_id, dbt_process, on_history_built)
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
    inbox: Path | None,
    warehouse: Path,
    progress=None,
    from_archive: bool = False,
    dbt_process: subprocess.Popen | None = None,
) -> NightResult:
    """One nightly run. from_archive: the backfill — the state is rebuilt from the landing
    archive alone (every file received since 2017, in order of arrival, through today's
    parsers), then built, judged and published whatever the last publication was.
    dbt_process: dbt's process, started by the caller before it imported this module
    (warm.start_dbt); ended here if the night does not use it."""
    # absolute from here on: dbt and GX resolve relative paths against folders of their own
    warehouse = warehouse.resolve()
    inbox = inbox.resolve() if inbox is not None else None
    paths = StatePaths(warehouse)
    result = NightResult(new_run_id(), warehouse=warehouse, inbox=inbox, from_archive=from_archive)
    with private_files(), warm.stopped_on_error(dbt_process), locked(paths):
        tighten(warehouse)
        # imports dbt while the files are read (its import, not the ingest, is what a small
        # night waits for)
        dbt_process = dbt_process or warm.start_dbt(warehouse)
        gx_process = None
        try:
            # the ingest in a child of its own: its memory is freed before dbt builds
            if from_archive:
                result.ingest = forked.run(reprocess_state, warehouse, progress, lock=False)
            elif inbox is not None:
                result.ingest = forked.run(ingest, inbox, warehouse, progress, lock=False)
                # a decision written by a `fpa set-aside` killed before its commit
                apply_set_asides(warehouse, strict=False)
            inputs = inputs_digest(paths)
            if not from_archive and is_up_to_date(warehouse, inputs):
                result.up_to_date = True
                return result

            # GX's import (3.5 s, 270 MB) overlaps the build: all of a night's, and on a build
            # from nothing what follows the models that read the whole history (their larger
            # memory limit leaves no room for it: dbt_project.yml, build_memory_limit)
            def start_gate() -> None:
                nonlocal gx_process
                gx_process = gx_process or quality_gate.warm_up()

            if not dbt_build.from_nothing(warehouse):
                start_gate()
            result.build = build_step(
                warehouse, result.run_id, inputs, dbt_process, on_history_built=start_gate
            )
            if not result.build.success:
                result.new_files = new_files(paths)
                return result
            result.gate = gate_step(
                warehouse, result.run_id, result.build.candidate, inputs, gx_process
            )
        finally:
            for child in (dbt_process, gx_process):  # those not used: the night ended early
                warm.stop(child)
        if result.gate.blocked:
            return result
        result.kept = publish_step(warehouse, result.run_id, result.build.candidate, inputs)
        result.published = True
    return result


def rollback(warehouse: Path) -> Path:
    paths = StatePaths(warehouse)
    with private_files(), locked(paths):
        previous = publication.rollback(warehouse)
        # the inputs as they stand: a load with nothing new keeps the version put back
        log_publication(
            paths, f"rollback-{new_run_id()}", "rolled back", inputs_digest(paths), previous.name
        )
    return previous


def docs_dir(warehouse: Path) -> Path:
    """Where the gate's Data Docs are rendered (beside the warehouse)."""
    return warehouse.resolve().parent / "quality" / "docs"


def tighten(warehouse: Path) -> None:
    """What an earlier version wrote readable by others (0755 folders, 0644 files, a 0444
    published file) made its owner's only: the state, the candidates, the kept versions, the
    quality report. One stat per folder when they are tight already."""
    private_parent(warehouse)
    for folder in (StatePaths(warehouse).root, dbt_build.builds_dir(warehouse)):
        if folder.exists():
            private_dir(folder)
    private_dir(docs_dir(warehouse).parent)
    publication.tighten_published(warehouse)


# -- setting a delivered file aside -----------------------------------------------------------

SET_ASIDE_FILE = "set_aside.yml"  # beside the warehouse, with the allow list
# the raw tables, each keyed by the file its rows came from
RAW_TABLES = (
    "raw.insurer_policies",
    "raw.insurer_claims",
    "raw.reports",
    "raw.report_activities",
    "raw.report_trainings",
    "raw.targets",
    "raw.population",
)


class SetAsideRefused(ValueError):
    pass


@dataclass
class SetAside:
    file_name: str
    file_sha256: str
    rows_out: int  # raw rows that no longer count
    status_before: str


def set_aside_file(warehouse: Path) -> Path:
    return warehouse.parent / SET_ASIDE_FILE


def _decisions(warehouse: Path) -> list[dict]:
    path = set_aside_file(warehouse)
    if not path.exists():
        return []
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise SetAsideRefused(f"{path} is not readable YAML ({e}): mend it by hand first") from e
    if not isinstance(entries, list) or not all(isinstance(d, dict) for d in entries):
        raise SetAsideRefused(f"{path} is not a list of entries: mend it by hand first")
    return entries


def _write_decisions(warehouse: Path, entries: list[dict]) -> None:
    path = set_aside_file(warehouse)
    text = (
        "# Written by `fpa set-aside` (fpa.night): delivered files an operator took out. Each\n"
        "# one's audit row is `rejected` (set_aside) and its raw rows are deleted, again after\n"
        "# the state is rebuilt from the archive (`fpa load --from-archive`). --undo: one back.\n"
        + yaml.safe_dump(entries, allow_unicode=True, sort_keys=False)
    )
    write_private(path, text)


def _matching(con, file: str) -> list[tuple]:
    """The receipts FILE names: its name as audited, or the first 12+ hex digits of its
    checksum. A duplicate's content counts under its first name: that one is the file."""
    rows = con.execute(
        "SELECT file_name, file_sha256, status, reason_code, source FROM audit.load_audit "
        "WHERE file_name = ? OR (length(?) >= 12 AND starts_with(file_sha256, lower(?))) "
        "ORDER BY received_at, file_name",
        [file, file, file],
    ).fetchall()
    counted = [r for r in rows if r[2] != "duplicate"]
    return counted or rows


def set_aside(
    warehouse: Path, file: str, why: str, who: str | None = None, now: datetime | None = None
) -> list[SetAside]:
    """Take a delivered file out of the warehouse: in one transaction its audit row becomes
    `rejected` with reason `set_aside` and the operator's words (scrubbed of ID and phone
    numbers), its raw rows and quarantined rows are deleted (a report's earlier revision counts
    again), and the decision is kept in set_aside.yml. Its copy stays in landing. The next
    `fpa load` builds without it (the incremental models start afresh: rows went away)."""
    from fpa.personal import scrub

    warehouse = warehouse.resolve()
    paths = StatePaths(warehouse)
    why = scrub((why or "").strip())
    who = scrub((who or _login()).strip())
    if not why:
        raise SetAsideRefused("--why is needed: the audit says why the file was set aside")
    if not paths.db.exists():
        raise SetAsideRefused(f"no state at {paths.db}: nothing was received yet")
    now = now or datetime.now(CST)
    with private_files(), locked(paths):
        done = _set_aside_locked(warehouse, paths, file, why, who, now)
        dbt_build.forget_increments(warehouse)
    return done


def _set_aside_locked(warehouse, paths, file, why, who, now) -> list[SetAside]:
    with writer(paths, lock=False) as con:
        found = _matching(con, file)
        if not found:
            raise SetAsideRefused(
                f"no file {file!r} was received (the name as the load audit shows it, "
                "relative to the inbox, or the first 12+ digits of its sha256)"
            )
        decisions = _decisions(warehouse)
        for name, sha, *_ in found:
            if not any(
                d.get("file_name") == name and d.get("file_sha256") == sha for d in decisions
            ):
                decisions.append(
                    {"file_name": name, "file_sha256": sha, "who": who, "why": why,
                     "at": now.isoformat(timespec="seconds")}
                )  # fmt: skip
        _write_decisions(warehouse, decisions)  # first: a kill before the commit is redone
        return _apply(con, decisions, [(name, sha) for name, sha, *_ in found], now)


def _apply(con, decisions: list[dict], only: list[tuple[str, str]] | None, now: datetime):
    """The decisions (those of `only`, when given) applied to the state in one transaction;
    a receipt set aside already is left as it is."""
    from fpa.sources.reports import settle_revisions

    done = []
    con.begin()
    try:
        for d in decisions:
            key = (d.get("file_name"), d.get("file_sha256"))
            if only is not None and key not in only:
                continue
            row = con.execute(
                "SELECT status, reason_code FROM audit.load_audit "
                "WHERE file_name = ? AND file_sha256 = ?",
                list(key),
            ).fetchone()
            if row is None or row[1] == Reason.SET_ASIDE:
                continue
            status, _ = row
            reason = (
                f"{DESCRIPTIONS[Reason.SET_ASIDE]} ({d.get('who')}, "
                f"{str(d.get('at', ''))[:10]}): {d.get('why')}"
            )
            con.execute(
                "UPDATE audit.load_audit SET status = 'rejected', reason_code = ?, reason = ?, "
                "rows_received = 0, rows_loaded = 0, rows_quarantined = 0, processed_at = ? "
                "WHERE file_name = ? AND file_sha256 = ?",
                [str(Reason.SET_ASIDE), reason, now, *key],
            )
            out = 0
            if status in ("loaded", "superseded"):  # its content's rows are this receipt's
                settle_revisions(con, [key[1]])  # before its report row goes: the city-month
                for table in RAW_TABLES:
                    (n,) = con.execute(
                        f"DELETE FROM {table} WHERE file_sha256 = ?", [key[1]]
                    ).fetchone()
                    out += n if table != "raw.reports" else 0  # its rows: activities, trainings
            con.execute(
                "DELETE FROM audit.quarantine WHERE file_name = ? AND file_sha256 = ?", list(key)
            )
            done.append(SetAside(key[0], key[1], out, status))
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return done


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's user with no name
        return f"uid {os.getuid()}"


def apply_set_asides(warehouse: Path, strict: bool = True) -> list[SetAside]:
    """Every decision of set_aside.yml applied to the state (after a reprocess, or one a
    killed `fpa set-aside` wrote but did not commit). The caller holds the state lock. Not
    strict (a night's check for a decision not committed): a file mangled by hand is left for
    the next `fpa set-aside` to refuse, the state keeps what it applied."""
    try:
        decisions = _decisions(warehouse)
    except SetAsideRefused:
        if strict:
            raise
        return []
    if not decisions:
        return []
    with writer(StatePaths(warehouse), lock=False) as con:
        done = _apply(con, decisions, None, datetime.now(CST))
    if done:
        dbt_build.forget_increments(warehouse)
    return done


def reprocess_state(warehouse: Path, progress=None, lock: bool = True) -> IngestResult:
    """The state rebuilt from the landing archive (fpa.ingest.reprocess), and the files set
    aside set aside again (lock=False: the caller holds the state lock)."""
    with private_files():
        with locked(StatePaths(warehouse)) if lock else nullcontext():
            result = reprocess(warehouse, progress, lock=False)
            apply_set_asides(warehouse)
    return result


def undo_set_aside(warehouse: Path, file: str, progress=None) -> list[dict]:
    """Forget the decision to set FILE aside and rebuild the state from the archive, where its
    copy was kept: it counts again from the next `fpa load`."""
    warehouse = warehouse.resolve()
    decisions = _decisions(warehouse)
    undone = [
        d
        for d in decisions
        if d.get("file_name") == file
        or (len(file) >= 12 and str(d.get("file_sha256", "")).startswith(file.lower()))
    ]
    if not undone:
        raise SetAsideRefused(f"{file!r} is not set aside ({set_aside_file(warehouse)})")
    with private_files(), locked(StatePaths(warehouse)):
        _write_decisions(warehouse, [d for d in decisions if d not in undone])
        reprocess(warehouse, progress, lock=False)
        apply_set_asides(warehouse)
    return undone
