"""The scale-out profile (docker-compose.yml, .env.example) run without Docker, as
tests/test_scaleout.py runs it: the compose file read with its `${VAR}` filled from
.env.example (fresh secrets where it leaves them empty), the container hosts replaced by loopback
ports, the container paths by folders (a named volume is one folder shared by the services that
mount it), each service's command a local process with the environment the compose file gives
it; Debian's PostgreSQL and Redis stand in for their images."""

import base64
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from fpa.orchestration.local import airflow_env
from fpa.paths import PROJECT_ROOT
from support.ports import free_port

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
# what .env.example leaves empty and a user may too: the local inbox; the contacts in the image
# (config/*_contacts.yml); the report's Monday 08:00; a mail server that takes mail without a
# login. Every other empty value is a secret to make up.
OPTIONAL = {
    "FPA_SFTP_CONN_ID",
    "FPA_FEEDBACK_CONTACTS",
    "FPA_BULLETIN_CONTACTS",
    "FPA_REPORT_CONTACTS",
    "FPA_WEEKLY_REPORT_CRONTAB",
    "FPA_SMTP_USER",
    "FPA_SMTP_PASSWORD",
}
# compose's interpolation: $$ is a literal $, ${VAR}, ${VAR:-default}, ${VAR:?message}
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::?([-?])([^}]*))?\}")


def env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


def interpolate(value, values: dict[str, str]):
    if isinstance(value, dict):
        return {k: interpolate(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, values) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.groups()
        got = values.get(name, "")
        if op == "?" and not got:
            raise KeyError(f"{name} is required: {arg}")
        return got or (arg if op == "-" else "")

    return VARIABLE.sub(one, value)


def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


class Site:
    """Where the compose file's names are on this machine: its hosts on loopback ports, its
    named volumes as folders, its container paths as local ones."""

    def __init__(self, root: Path, inbox: Path, dot_env: dict[str, str] | None = None):
        """`dot_env`: what this site's .env says beyond .env.example's values (the test's mail
        server)."""
        values = env_example()
        for name, value in values.items():  # what .env.example tells a user to fill in
            if not value and name not in OPTIONAL:
                values[name] = (
                    base64.urlsafe_b64encode(os.urandom(32)).decode()
                    if name == "AIRFLOW_FERNET_KEY"
                    else secrets.token_hex(32)
                )
        values |= dot_env or {}
        self.values = values
        self.services = interpolate(raw_compose()["services"], values)
        self.root = root
        self.ports = {
            "postgres:5432": free_port(),
            "redis:6379": free_port(),
            "airflow-apiserver:8080": free_port(),
            "superset:8088": free_port(),
        }
        self.scheduler_health_port = free_port()
        self.binds = {values["FPA_INBOX_DIR"]: inbox}
        self.procs = Processes(root)

    def port(self, host: str) -> int:
        return self.ports[host]

    def _paths(self, service: str, home: Path | None) -> list[tuple[str, Path]]:
        pairs = [("/app", PROJECT_ROOT)]
        for mount in self.services[service].get("volumes", []):
            source, target = mount.split(":")[:2]
            if source in self.binds:
                local = self.binds[source]
            elif source.startswith((".", "/")):  # a file of the checkout
                local = PROJECT_ROOT / source
            else:  # a named volume
                local = self.root / "volumes" / source
                local.mkdir(parents=True, exist_ok=True)
            if home is not None and target.startswith("/opt/airflow/"):
                # a volume inside AIRFLOW_HOME (the shared logs): mounted there as a link
                link = home / target.removeprefix("/opt/airflow/")
                if not link.exists():
                    link.symlink_to(local, target_is_directory=True)
            else:
                pairs.append((target, local))
        if home is not None:
            pairs.append(("/opt/airflow", home))
        return sorted(pairs, key=lambda p: -len(p[0]))

    def _local(self, value: str, pairs) -> str:
        for host, port in self.ports.items():
            value = re.sub(rf"(?<=[/@]){re.escape(host)}(?=/|$)", f"127.0.0.1:{port}", value)
        for target, local in pairs:
            value = re.sub(rf"(?<![\w/.]){re.escape(target)}(?=/|$|[\s\"'])", str(local), value)
        return value

    def env(self, service: str, home: Path | None = None) -> dict[str, str]:
        pairs = self._paths(service, home)
        env = self.services[service].get("environment", {})
        return {k: self._local(str(v), pairs) for k, v in env.items()}

    def command(self, service: str, home: Path | None = None, key: str = "command") -> list[str]:
        pairs = self._paths(service, home)
        cmd = self.services[service][key]
        if key == "healthcheck":
            cmd = cmd["test"]
            cmd = ["sh", "-c", cmd[1]] if cmd[0] == "CMD-SHELL" else cmd[1:]
        cmd = [self._local(c, pairs) for c in cmd]
        # the healthchecks ask localhost inside their container
        for container, local in [
            ("8080", self.port("airflow-apiserver:8080")),
            ("8088", self.port("superset:8088")),
            ("8974", self.scheduler_health_port),
        ]:
            cmd = [c.replace(f"localhost:{container}/", f"127.0.0.1:{local}/") for c in cmd]
        return cmd


def with_venv(env: dict[str, str]) -> dict[str, str]:
    """The image's PATH (its virtual environment first), and the hostname the container's
    healthchecks name (Airflow and Celery both record this one)."""
    bin_dir = str(Path(sys.executable).parent)
    return {**env, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOSTNAME": socket.gethostname()}


class Processes:
    def __init__(self, logs: Path):
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append((name, proc))
        return proc

    def alive(self) -> None:
        dead = [(n, p.returncode) for n, p in self.running if p.poll() is not None]
        assert not dead, f"exited: {dead}\n{self.tail(dead[0][0])}"

    def tail(self, name: str, size: int = 3000) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-size:]

    def stop_all(self) -> None:
        """SIGTERM to every process group at once, then SIGKILL to what is left after 20 s."""
        for _, proc in self.running:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, proc in self.running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def run(cmd: list[str], env: dict[str, str], timeout: float = 300) -> str:
    r = subprocess.run(
        cmd, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert r.returncode == 0, f"{cmd[:4]}: {r.returncode}\n{(r.stdout + r.stderr)[-3000:]}"
    return r.stdout


def wait_for(what: str, check, timeout: float, procs: Processes, every: float = 1.0, errors=()):
    """check() until it returns something true; a connection refused means not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.alive()
        try:
            if result := check():
                return result
        except (OSError, requests.RequestException, *errors):
            pass
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def start_postgres(site: Site) -> None:
    pg_bin = Path(max(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4])))
    env = with_venv({**os.environ, **site.env("postgres")})
    data, sockets = site.root / "pgdata", site.root / "pgsock"
    sockets.mkdir()
    (site.root / "pgpass").write_text(env["POSTGRES_PASSWORD"])
    shutil.chown(site.root, "postgres")
    for p in (sockets, site.root / "pgpass"):
        shutil.chown(p, "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    # what the postgres image does on a new volume: the superuser with its password, password
    # logins over TCP (the services'), trust on the local socket (the init scripts')
    run(
        as_postgres
        + [f"{pg_bin}/initdb", "-D", str(data), "-U", env["POSTGRES_USER"], "-E", "UTF8"]
        + ["--no-locale", f"--pwfile={site.root / 'pgpass'}", "--auth-local=trust"]
        + ["--auth-host=scram-sha-256"],
        env,
    )
    site.procs.start(
        "postgres",
        as_postgres
        + [f"{pg_bin}/postgres", "-D", str(data), "-p", str(site.port("postgres:5432"))]
        + ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}"]
        # a throw-away server: no need to survive a power cut
        + ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        env,
    )
    env |= {"PGHOST": str(sockets), "PGPORT": str(site.port("postgres:5432"))}
    ready = site.command("postgres", key="healthcheck")
    wait_for(
        "postgres",
        lambda: subprocess.run(ready, env=env, capture_output=True).returncode == 0,
        60,
        site.procs,
        0.2,
    )
    run(["sh", str(PROJECT_ROOT / "docker" / "postgres-init.sh")], env)


def start_redis(site: Site) -> None:
    import redis

    env = {**os.environ, **site.env("redis")}
    cmd = site.command("redis")
    assert cmd[:2] == ["sh", "-c"] and "redis-server" in cmd[2]
    (site.root / "redis").mkdir()
    port = site.port("redis:6379")
    cmd[2] += f" --port {port} --bind 127.0.0.1 --dir {site.root / 'redis'}"
    site.procs.start("redis", cmd, env)
    client = redis.Redis("127.0.0.1", port, password=site.values["REDIS_PASSWORD"])
    wait_for("redis", client.ping, 30, site.procs, 0.2, (redis.ConnectionError,))


def airflow_service_env(site: Site, service: str) -> dict[str, str]:
    home = site.root / "airflow" / service  # each container's own AIRFLOW_HOME
    home.mkdir(parents=True, exist_ok=True)
    return with_venv(
        airflow_env(
            home,
            **{
                **site.env(service, home),
                # loopback ports in place of the container's
                "AIRFLOW__API__PORT": str(site.port("airflow-apiserver:8080")),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(
                    site.scheduler_health_port
                ),
                # one DAG at a time here: fpa_freshness (hourly) would start at once and take
                # the warehouse's one slot; the test unpauses fpa_nightly itself
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                # capacity, not configuration: each API worker process loads all of Airflow,
                # and this 2-core machine runs the whole profile
                "AIRFLOW__API__WORKERS": "1",
            },
        )
    )


def db_url(site: Site, which: str) -> str:
    v = site.values
    return (
        f"postgresql://{v[f'{which}_DB_USER']}:{v[f'{which}_DB_PASSWORD']}"
        f"@127.0.0.1:{site.port('postgres:5432')}/{v[f'{which}_DB_NAME']}"
    )
