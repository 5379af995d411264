"""The nightly tasks. Each takes the state lock for its step (the DAG also runs them in a pool of
one slot), returns a small JSON-able record for the next task, and raises on a failure so that
Airflow marks the task failed, retries it and alerts.

Every task is idempotent: ingest skips what was received, a build writes a new candidate, the
gate only reads it, and publish of a candidate already published is a no-op. What a task writes
is its owner's only (fpa.paths.private_files), as in `fpa load`; a task that blocks the night
says in its error what gets past it, as `fpa load` prints it.
"""

import functools
from pathlib import Path

from fpa import night
from fpa.ingest import ingest
from fpa.orchestration.common import paths_from_env, reported
from fpa.paths import private_files
from fpa.state import StatePaths, locked


class GateBlocked(RuntimeError):
    """The candidate failed a blocking expectation: nothing was published."""


class BuildFailed(RuntimeError):
    pass


def private(fn):
    """The task's files created owner-only (the worker's umask is Airflow's)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with private_files():
            return fn(*args, **kwargs)

    return run


@reported
@private
def land_and_parse() -> dict:
    inbox, warehouse = paths_from_env()
    paths = StatePaths(warehouse)
    with locked(paths):
        night.tighten(warehouse)
        result = ingest(inbox, warehouse, lock=False)
        night.apply_set_asides(warehouse, strict=False)
    print(result.summary())
    return {
        "files": dict(result.files),
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
    }


@reported
@private
def needs_build() -> bool:
    """False when nothing is new since the last publication: the rest of the night is skipped."""
    _, warehouse = paths_from_env()
    paths = StatePaths(warehouse)
    with locked(paths):
        up_to_date = night.is_up_to_date(warehouse, night.inputs_digest(paths))
    print("nothing new since the last publication" if up_to_date else "new inputs: building")
    return not up_to_date


@reported
@private
def build(run_id: str | None = None) -> dict:
    """`run_id`: Airflow passes the DAG run's id (a context key)."""
    _, warehouse = paths_from_env()
    paths = StatePaths(warehouse)
    with locked(paths):
        inputs = night.inputs_digest(paths)
        built = night.build_step(warehouse, safe(run_id), inputs)
        way_out = [] if built.success else night.build_way_out(warehouse, night.new_files(paths))
    print(built.summary())
    if not built.success:
        raise BuildFailed(
            "\n".join(["dbt build failed: " + "; ".join(built.failures[:10]), *way_out])
        )
    return {"candidate": str(built.candidate), "inputs": inputs}


@reported
@private
def gate(built: dict, run_id: str | None = None) -> dict:
    _, warehouse = paths_from_env()
    with locked(StatePaths(warehouse)):
        judged = night.gate_step(warehouse, safe(run_id), Path(built["candidate"]), built["inputs"])
    print(judged.verdict())
    if judged.blocked:
        way_out = judged.way_out(warehouse)
        if way_out:
            way_out.append("then clear this run of fpa_nightly (or run `fpa load`)")
        raise GateBlocked("\n".join([judged.verdict(), *way_out]))
    return {**built, "warnings": len(judged.failed("warning"))}


@reported
@private
def publish(judged: dict, run_id: str | None = None) -> dict:
    _, warehouse = paths_from_env()
    candidate = Path(judged["candidate"])
    with locked(StatePaths(warehouse)):
        if not candidate.exists():  # a retry after the rename: published already
            return {"published": str(warehouse), "kept": None}
        if night.inputs_digest(StatePaths(warehouse)) != judged["inputs"]:
            # files were taken in since this candidate was built (fpa_intraday and fpa_nightly
            # met at 02:00): published, it would hide them, or replace the newer file that the
            # run which took them in built from them and published. This one stops, skipped
            # (no asset event, no alert); a `fpa set-aside` meanwhile waits for the next build.
            from airflow.exceptions import AirflowSkipException

            raise AirflowSkipException(
                "the state has inputs this candidate was not built from: not published"
            )
        kept = night.publish_step(warehouse, safe(run_id), candidate, judged["inputs"])
    print(f"published {warehouse}")
    return {"published": str(warehouse), "kept": str(kept) if kept else None}


def safe(run_id: str | None) -> str:
    """An Airflow run id as a file name (a new one outside Airflow)."""
    if not run_id:
        return night.new_run_id()
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


@reported
def refresh_superset() -> dict:
    """The warehouse asset changed: Superset's cached chart data is of the previous file.
    Clears it and, when FPA_SUPERSET_URL answers, computes every chart again. Skipped where no
    Superset is configured (FPA_SUPERSET_HOME unset)."""
    import os

    from airflow.exceptions import AirflowSkipException

    from fpa.dashboards.service import refresh

    home = os.environ.get("FPA_SUPERSET_HOME")
    if not home:
        raise AirflowSkipException("no Superset configured (FPA_SUPERSET_HOME is not set)")
    return refresh(Path(home), os.environ.get("FPA_SUPERSET_URL"))
