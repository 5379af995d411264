"""Airflow on this machine: the environment of the embedded default (SQLite metadata, loopback,
4 parallel tasks, no telemetry) that the demo and the tests share, and `standalone`."""

import os
import subprocess
import sys
from pathlib import Path

from fpa.paths import PROJECT_ROOT

DEFAULT_PORT = 8080


def airflow_executable() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        # standalone binds 0.0.0.0 and starts 32 workers by default; so would the scheduler's
        # health check server where one is enabled (the compose profile's)
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        **extra,
    }


POOL = ("fpa_duckdb", "1", "one writer of the DuckDB state at a time (fpa_nightly)")


def prepare(home: Path) -> None:
    """The metadata database, and the pool fpa_nightly's tasks run in: without it the scheduler
    never queues them (`airflow dags test` ignores pools, a real scheduler does not)."""
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(home)
    for cmd in (["db", "migrate"], ["pools", "set", *POOL]):
        r = subprocess.run([airflow_executable(), *cmd], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")


def standalone(home: Path, port: int = DEFAULT_PORT, **extra: str) -> subprocess.Popen:
    """`airflow standalone` (scheduler, API server, DAG processor, triggerer) on loopback, with
    the DAGs unpaused and the pool in place; its log in home/standalone.log."""
    prepare(home)
    env = airflow_env(
        home,
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        **extra,
    )
    log = open(home / "standalone.log", "ab")  # noqa: SIM115 - owned by the process
    return subprocess.Popen(
        [airflow_executable(), "standalone"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def admin_password(home: Path) -> str | None:
    """The password standalone generated for admin (simple auth manager)."""
    import json

    path = home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(path.read_text()).get("admin")
    except (OSError, ValueError):
        return None
