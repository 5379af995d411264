"""Airflow on this machine: the environment of the embedded default (SQLite metadata, loopback,
4 parallel tasks, no telemetry) that the demo and the tests share, and `standalone`.

AIRFLOW_HOME holds the metadata database, airflow.cfg (with the secret keys Airflow generates
into it), the admin password and the logs: it and all in it are its owner's only (0700/0600),
and Airflow runs under that umask. The admin password is made here, into the file the simple
auth manager reads, before standalone starts: standalone then does not echo it into its output
(standalone.log), and `fpa demo` prints it to the terminal only.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from fpa.paths import PRIVATE_UMASK, PROJECT_ROOT, private_dir, write_private

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
    private_dir(home)
    env = airflow_env(home)
    for cmd in (["db", "migrate"], ["pools", "set", *POOL]):
        r = subprocess.run(
            [airflow_executable(), *cmd],
            env=env,
            capture_output=True,
            text=True,
            umask=PRIVATE_UMASK,  # airflow.cfg, with its generated secret keys, is written here
        )
        if r.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")


def standalone(home: Path, port: int = DEFAULT_PORT, **extra: str) -> subprocess.Popen:
    """`airflow standalone` (scheduler, API server, DAG processor, triggerer) on loopback, with
    the DAGs unpaused and the pool in place; its log in home/standalone.log."""
    prepare(home)
    make_admin_password(home)
    env = airflow_env(
        home,
        AIRFLOW__API__PORT=str(port),
        # the task runners report to the API server's execution API: its default URL names port
        # 8080, so on any other port every task failed with "connection refused"
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        **extra,
    )
    path = log_file(home)
    redact_log(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # a log an earlier version left 0644
    try:
        return subprocess.Popen(
            [airflow_executable(), "standalone"],
            env=env,
            stdout=fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=PRIVATE_UMASK,
        )
    finally:
        os.close(fd)  # the child has its own copy


def log_file(home: Path) -> Path:
    return home / "standalone.log"


def password_file(home: Path) -> Path:
    """Where the simple auth manager keeps the passwords it generated (its default name)."""
    return home / "simple_auth_manager_passwords.json.generated"


# 16 characters of the simple auth manager's own alphabet (no 0/O, 1/l/I)
_ALPHABET = "abcdefghkmnpqrstuvwxyzABCDEFGHKMNPQRSTUVWXYZ23456789"


def make_admin_password(home: Path) -> str:
    """The admin password, made once (0600) in the file the auth manager reads: found there,
    neither standalone nor the API server's workers print it."""
    path = password_file(home)
    known = admin_password(home)
    if known:
        os.chmod(path, 0o600)
        return known
    password = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    write_private(path, json.dumps({"admin": password}) + "\n")
    return password


_PASSWORD_LINE = re.compile(rb"(Password for user '[^']*': )\S+")


def redact_log(path: Path) -> None:
    """A standalone.log written before the password was made here holds it in clear (the auth
    manager printed it): redacted in place."""
    if not path.exists():
        return
    text = path.read_bytes()
    if _PASSWORD_LINE.search(text):
        write_private(path, _PASSWORD_LINE.sub(rb"\1(redacted)", text))


def admin_password(home: Path) -> str | None:
    """The admin password of the simple auth manager (made by make_admin_password)."""
    try:
        return json.loads(password_file(home).read_text()).get("admin")
    except (OSError, ValueError, AttributeError):
        return None
