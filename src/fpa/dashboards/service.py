"""Superset as a process of ours: its environment, `sync` (provision.py in a child process, which
imports Superset once) and `serve` (gunicorn on loopback)."""

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fpa.dashboards import bundle
from fpa.paths import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "superset" / "superset_config.py"
DEFAULT_PORT = 8088


class SupersetError(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    what: str


def default_home(given: str | None = None) -> Path:
    """The given home, else FPA_SUPERSET_HOME, else the demo's."""
    home = given or os.environ.get("FPA_SUPERSET_HOME") or Path.cwd() / "demo" / "superset"
    return Path(home).resolve()


def environment(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(CONFIG),
        "FPA_SUPERSET_HOME": str(home),
        "FLASK_APP": "superset.app:create_app()",
        "SUPERSET_LOG_LEVEL": os.environ.get("SUPERSET_LOG_LEVEL", "warning"),
        "DO_NOT_TRACK": "1",
    }


def admin_password(home: Path) -> str:
    """SUPERSET_ADMIN_PASSWORD, or one made once for this home (the demo prints it)."""
    if pw := os.environ.get("SUPERSET_ADMIN_PASSWORD"):
        return pw
    path = home / "admin_password"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


def sync(
    warehouse: Path,
    home: Path,
    users: list[DemoUser] = (),
    folder: Path = bundle.BUNDLE_DIR,
    timeout: float = 600,
) -> dict:
    """Create or update the database connection, datasets, charts, dashboards, roles, row-level
    security (and the given users) from the committed bundle. Idempotent."""
    home.mkdir(parents=True, exist_ok=True)
    job = {
        "warehouse": str(Path(warehouse).resolve()),
        "bundle": str(folder),
        "admin": {"username": "admin", "password": admin_password(home)},
        "users": [u.__dict__ for u in users],
    }
    return _provision(home, job, timeout)


def _provision(home: Path, job: dict, timeout: float) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "fpa.dashboards.provision"],
        input=json.dumps(job),
        env=environment(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise SupersetError(f"superset {job.get('mode', 'sync')} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def refresh(home: Path, url: str | None = None, timeout: float = 300) -> dict:
    """After a publication: clear the chart-data cache, then (when Superset answers at url)
    compute every chart's saved query again as admin, so the first reader finds it warm."""
    out = _provision(home, {"mode": "clear_data_cache"}, timeout)
    if url:
        api = Api(url, "admin", admin_password(home))
        charts = api.get("/api/v1/chart/?q=(page_size:1000)")["result"]
        for c in charts:
            api.get(f"/api/v1/chart/{c['id']}/data/?force=true")
        out["warmed"] = len(charts)
    return out


class Api:
    """Superset's REST API as one user (a bearer token and, for writes, the CSRF token)."""

    def __init__(self, url: str, username: str, password: str):
        import requests

        self.url = url.rstrip("/")
        self.session = requests.Session()
        r = self.session.post(
            f"{self.url}/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db"},
            timeout=30,
        )
        if r.status_code != 200:
            raise SupersetError(f"login as {username} refused: {r.status_code} {r.text[:200]}")
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        self.session.headers["Referer"] = self.url

    def csrf(self) -> None:
        r = self.session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=30)
        self.session.headers["X-CSRFToken"] = r.json()["result"]

    def get(self, path: str, expect: int = 200):
        r = self.session.get(f"{self.url}{path}", timeout=120)
        if r.status_code != expect:
            raise SupersetError(f"GET {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def post(self, path: str, body: dict):
        return self.session.post(f"{self.url}{path}", json=body, timeout=120)


def serve(
    home: Path, port: int = DEFAULT_PORT, workers: int = 2, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """gunicorn with Superset's app on 127.0.0.1:port (`env`: settings of superset_config.py's
    beyond the process's own, e.g. FPA_SQLLAB_TIMEOUT); returns once /health answers."""
    import socket

    with socket.socket() as probe:  # another server there would answer our health check
        # as gunicorn binds: connections of a server just stopped (TIME_WAIT) are no obstacle,
        # a listening server is
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as e:
            raise SupersetError(f"127.0.0.1:{port} is in use ({e.strerror})") from e
    gunicorn = Path(sys.executable).with_name("gunicorn")
    out = open(home / "superset.log", "ab")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--worker-class", "gthread",
            "--threads", "4",
            "--timeout", "120",
            "--limit-request-line", "0",
            "superset.app:create_app()",
        ],
        env={**environment(home), **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc)
    except BaseException:  # never leave a server behind that the caller has no handle on
        stop(proc)
        raise
    return proc


def wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout: float = 180) -> None:
    """Until `url` (a health endpoint) answers 200, or `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SupersetError(f"superset exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SupersetError(f"superset did not answer on {url} within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
