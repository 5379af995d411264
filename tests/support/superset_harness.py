"""Superset 6.1 for real, as the Superset test modules start it: the bundle synced by `fpa superset
sync`'s function into a fresh home (SQLite metadata), gunicorn on a free loopback port, and the
users of each role logging in through the REST API. Each module starts its own (a module-scoped
fixture around `running`)."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from fpa.dashboards.provision import ENGINEER, LEADERSHIP, city_role
from fpa.dashboards.service import Api, DemoUser, admin_password, serve, stop, sync
from support.ports import free_port

HECHI = "451200"  # 河池市
USERS = [
    DemoUser("leader", "leader-pw-1", LEADERSHIP, "leadership"),
    DemoUser("engineer", "engineer-pw-1", ENGINEER, "data engineer"),
    DemoUser("hechi", "hechi-pw-1", city_role(HECHI), "河池市 viewer"),
]


@contextmanager
def running(
    warehouse: Path, home: Path, workers: int = 2, env: dict[str, str] | None = None
) -> Iterator[dict]:
    """Sync the bundle into `home` and serve it; yields what the tests need to reach it."""
    t = time.monotonic()
    ids = sync(warehouse, home, USERS)
    print(f"first sync: {time.monotonic() - t:.1f} s")
    port = free_port()
    proc = serve(home, port, workers=workers, env=env)
    try:
        yield {
            "url": f"http://127.0.0.1:{port}",
            "home": home,
            "ids": ids,
            "warehouse": warehouse,
            "pid": proc.pid,  # gunicorn's master: its workers are its children
        }
    finally:
        stop(proc)


def login(superset: dict, username: str) -> Api:
    if username == "admin":
        return Api(superset["url"], "admin", admin_password(superset["home"]))
    pw = next(u.password for u in USERS if u.username == username)
    return Api(superset["url"], username, pw)


def marts(superset: dict, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(superset["warehouse"]), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()
