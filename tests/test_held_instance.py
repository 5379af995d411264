"""fpa.dashboards.held_instance without Superset: the engine Superset makes (SQLAlchemy's
NullPool, duckdb_engine, the bundle's connect arguments) on files fpa.publish swaps in. The same
behaviour through a real Superset: tests/test_superset_security.py, section 6."""

import os

import duckdb
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from fpa.dashboards import bundle, held_instance
from fpa.publish import publish


def _file(path, figure: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE figures AS SELECT {figure} AS n")


@pytest.fixture
def engine(tmp_path):
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    candidate = tmp_path / "candidate.duckdb"
    _file(candidate, 1)
    publish(candidate, warehouse)
    held_instance.install()
    args = bundle.database_doc()["extra"]["engine_params"]["connect_args"]
    engine = create_engine(f"duckdb:///{warehouse}", poolclass=NullPool, connect_args=args)

    def read() -> int:
        with engine.connect() as con:
            return con.execute(text("SELECT n FROM figures")).scalar()

    yield warehouse, engine, read
    engine.dispose()


def _night(tmp_path, warehouse, figure: int) -> None:
    candidate = tmp_path / f"candidate-{figure}.duckdb"
    _file(candidate, figure)
    publish(candidate, warehouse)  # the old file stays linked in versions/, as every night


def test_the_file_is_held_between_queries_and_a_new_one_read_by_the_next(engine, tmp_path):
    warehouse, _, read = engine
    assert read() == 1
    assert held_instance.held()[str(warehouse.resolve())] == held_instance.file_identity(warehouse)
    _night(tmp_path, warehouse, 2)
    assert read() == 2
    assert held_instance.held()[str(warehouse.resolve())] == held_instance.file_identity(warehouse)


def test_a_query_still_running_on_the_old_file_keeps_no_holder_of_it(engine, tmp_path):
    """DuckDB gives a connection opened beside one on the old file the old instance (so it was
    before): no holder is kept then, and once the old query's connection is closed the next
    query reads the new file and is held."""
    warehouse, eng, read = engine
    assert read() == 1
    running = eng.connect()
    running.execute(text("SELECT n FROM figures")).scalar()
    _night(tmp_path, warehouse, 2)
    assert read() == 1  # beside the running query: its instance
    assert str(warehouse.resolve()) not in held_instance.held()
    running.close()
    assert read() == 2
    assert held_instance.held()[str(warehouse.resolve())] == held_instance.file_identity(warehouse)


def test_a_forked_process_leaves_the_parents_instance_alone(engine, tmp_path):
    """A DuckDB instance is neither to be used nor closed across a fork (its threads stayed in
    the parent): a child that let go of the held connection crashed (SIGSEGV). The child leaves
    it, and reads; the parent's instance is untouched. (What a child forked after a query reads
    is DuckDB's cached instance, the parent's file: none of Superset's processes forks after a
    query, held_instance says so.)"""
    warehouse, eng, read = engine
    assert read() == 1
    _night(tmp_path, warehouse, 2)
    pid = os.fork()
    if pid == 0:  # the child: exits 0 when it could read
        code = 1
        try:
            eng.dispose(close=False)  # the parent's pool is the parent's (SQLAlchemy's advice)
            code = 0 if read() in (1, 2) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert read() == 2
    assert held_instance.held()[str(warehouse.resolve())] == held_instance.file_identity(warehouse)


def test_an_instance_whose_file_was_detached_is_let_go(engine):
    """Superset refuses a DETACH (below); should one reach DuckDB anyway, the held instance it
    emptied is let go and the next query reads the file."""
    warehouse, eng, read = engine
    assert read() == 1
    with eng.connect() as con:
        raw = con.connection.dbapi_connection
        raw.execute("SET search_path = 'temp.main'")
        raw.execute(f"DETACH {warehouse.stem}")
    assert read() == 1
    assert held_instance.held()[str(warehouse.resolve())] == held_instance.file_identity(warehouse)


@pytest.mark.parametrize(
    "sql",
    [
        "DETACH fpa",
        "SET search_path = 'temp.main'; DETACH fpa",
        "/* tidy up */ detach database if exists fpa",
    ],
)
def test_a_detach_is_refused_however_written(sql):
    with duckdb.connect() as con, pytest.raises(duckdb.PermissionException, match="DETACH"):
        held_instance.refuse_what_changes_the_instance(con, sql)


@pytest.mark.parametrize("sql", ["SELECT 1", "SET search_path = 'temp.main'", "SELEC oops"])
def test_what_leaves_the_instance_as_it_is_goes_through(sql):
    with duckdb.connect() as con:
        held_instance.refuse_what_changes_the_instance(con, sql)
