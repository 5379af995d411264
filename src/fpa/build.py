"""Build the dbt project into a candidate file (SHAPE.md: builds/<run id>.duckdb).

The candidate reads the state database attached read-only and holds the marts; it becomes the
published file only after the gate (fpa.publish). `fpa load` and Airflow's build task both call
`build`; Cosmos reads the same profile (dbt/profiles.yml) with the same two variables.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fpa.paths import DBT_DIR
from fpa.state import StatePaths

# the two paths dbt/profiles.yml reads
BUILD_FILE_VAR = "FPA_BUILD_FILE"
STATE_DB_VAR = "FPA_STATE_DB"


@dataclass
class BuildResult:
    candidate: Path
    success: bool = False
    nodes: Counter = field(default_factory=Counter)  # (resource type, status) -> n
    failures: list[str] = field(default_factory=list)  # readable, one per failed node
    seconds: float = 0.0

    def summary(self) -> str:
        kinds: dict[str, Counter] = {}
        for (kind, status), n in self.nodes.items():
            kinds.setdefault(kind, Counter())[status] += n
        parts = [
            f"{kind}s " + "/".join(f"{n} {s}" for s, n in sorted(c.items()))
            for kind, c in sorted(kinds.items())
        ]
        verdict = "ok" if self.success else f"FAILED ({len(self.failures)})"
        return f"dbt build {verdict} in {self.seconds:.1f} s: " + ", ".join(parts)


def builds_dir(warehouse: Path) -> Path:
    # absolute: dbt resolves a relative --target-path against the project, not the caller
    return warehouse.resolve().parent / "builds"


def dbt_env(candidate: Path, warehouse: Path) -> dict[str, str]:
    """What dbt/profiles.yml needs to build `candidate` from the state beside `warehouse`."""
    return {
        BUILD_FILE_VAR: str(candidate.resolve()),
        STATE_DB_VAR: str(StatePaths(warehouse).db.resolve()),
    }


def dbt_args(command: str | list[str], warehouse: Path) -> list[str]:
    """A dbt command line (`"build"`, `["source", "freshness"]`) for the warehouse's build."""
    target = builds_dir(warehouse) / "dbt"  # manifest, run_results, logs of the last build
    return [
        *([command] if isinstance(command, str) else command),
        "--project-dir",
        str(DBT_DIR),
        "--profiles-dir",
        str(DBT_DIR),
        "--target-path",
        str(target / "target"),
        "--log-path",
        str(target / "logs"),
        "--log-level",
        "warn",
        "--log-level-file",
        "info",
        "--no-use-colors",
    ]


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")  # the one installed with this package
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def build(warehouse: Path, run_id: str) -> BuildResult:
    """`dbt build` (seeds, models, data and unit tests) into builds/<run_id>.duckdb.

    dbt runs in its own process: dbt-duckdb keeps its database open for the life of the
    process, and the gate must open the candidate read-only afterwards. The caller holds the
    state lock, so nothing writes the state database while dbt reads it."""
    # dbt builds under one fixed name, renamed after: the profile then stays the same from run
    # to run, and dbt's partial parsing saves ~10 s a night
    workfile = builds_dir(warehouse) / "building.duckdb"
    candidate = builds_dir(warehouse) / f"{run_id}.duckdb"
    candidate.parent.mkdir(parents=True, exist_ok=True)
    for stale in (workfile, workfile.with_name(workfile.name + ".wal"), candidate):
        stale.unlink(missing_ok=True)
    result = BuildResult(candidate)
    args = dbt_args("build", warehouse)
    run_results = builds_dir(warehouse) / "dbt" / "target" / "run_results.json"
    run_results.unlink(missing_ok=True)
    started = time.monotonic()
    proc = subprocess.run(
        [dbt_executable(), *args],
        env={**os.environ, **dbt_env(workfile, warehouse)},
        capture_output=True,
        text=True,
    )
    result.seconds = time.monotonic() - started
    if workfile.exists():
        os.replace(workfile, candidate)
    if not run_results.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        result.failures.append(f"dbt could not run (exit {proc.returncode}): " + " / ".join(tail))
        return result
    for r in json.loads(run_results.read_text(encoding="utf-8"))["results"]:
        kind = r["unique_id"].split(".")[0]
        result.nodes[(kind, r["status"])] += 1
        if r["status"] in ("error", "fail"):
            name = r["unique_id"].split(".")[-1]
            message = (r.get("message") or r["status"]).strip().splitlines()
            result.failures.append(f"{kind} {name}: {message[0] if message else r['status']}")
    result.success = proc.returncode == 0 and not result.failures
    return result
