"""Superset's DuckDB instance of the published file, held open between queries.

Superset opens the published file for each query (NullPool), so that a night's os.replace is
seen by the next query. Opening a file when no connection to it is open in the process makes a
new DuckDB instance: ~19 ms of DuckDB 2.0 registering its functions, and ~6 ms to close it, a
third of a cold chart request. A connection opened while another is open on the same file
shares that one's instance (DuckDB's instance cache, 0.4 ms): so each Superset process holds one
connection open on the published file, and its queries' connections share that instance.

What a query sees does not change. Each connection first compares the file's inode with the
held one's: once a night has replaced the file, the held connection is closed, and the next
connection opened when none is left open on the old file opens the new one. (DuckDB's cache
keys an instance by the file's path: a connection opened beside a query still running on the
old file gets the old instance, with or without a held one.) A new holder is kept only when no
descriptor of the process is open on another file by that name: else its instance could be the
old one, held as the new. A DETACH, which would take the file from every query sharing the
instance, is refused before DuckDB sees it (refuse_what_changes_the_instance, called by
superset_config.py's execute); an instance that lost its file anyway is let go as well. A
process forked from the holder's holds nothing (see _before_connect).
"""

import copy
import os
import threading

_lock = threading.Lock()
# path -> ((device, inode), connection, the holding process)
_held: dict[str, tuple[tuple[int, int], object, int]] = {}


def install() -> None:
    """Hold the instance for every read-only DuckDB file a SQLAlchemy engine of this process
    connects to (Superset's warehouse database: bundle.database_doc)."""
    from duckdb_engine import Dialect
    from sqlalchemy import event

    # on DuckDB's dialect itself: a listener on SQLAlchemy's Engine or Dialect is never called
    # (DefaultDialect's own _has_events stays False)
    if not event.contains(Dialect, "do_connect", _before_connect):
        event.listen(Dialect, "do_connect", _before_connect)


def _before_connect(dialect, _record, cargs, cparams) -> None:
    """SQLAlchemy's do_connect: returns None, the connection is then opened as always."""
    path = cparams.get("database")
    if not cparams.get("read_only") or not path:
        return
    path = os.path.realpath(path)
    try:
        identity = file_identity(path)
    except OSError:  # no published file (yet): the connection fails as it would
        return
    with _lock:
        held = _held.get(path)
        if held and held[2] != os.getpid():
            # forked from the holder: a DuckDB instance is neither to be used nor closed across
            # a fork (its threads stayed in the parent; dropping the connection crashed the
            # child), so this process opens per query as before. None of Superset's forks after
            # a query: gunicorn's workers and Celery's prefork children each make their own.
            return
        if held and held[0] == identity and _attached(held[1], path):
            return
        if held:  # the file was replaced, or detached from the instance
            del _held[path]
            _close(held[1])
        # the same arguments as the query's connection: the cache gives an instance only to a
        # connection of the same configuration (dialect.connect pops some of them: a copy)
        holder = dialect.connect(*cargs, **copy.deepcopy(cparams))
        if _only_open_on(path, identity) and _attached(holder, path):
            _held[path] = (identity, holder, os.getpid())
        else:
            _close(holder)


# Statements no reader's query runs, refused before DuckDB sees them (superset_config.py's
# execute): they would change the instance every query of the process shares. DETACH is no
# setting (lock_configuration lets it through) and took the file from all of them.
REFUSED = frozenset({"DETACH"})


def refuse_what_changes_the_instance(cursor, query: str) -> None:
    """Raise duckdb.PermissionException for a statement of REFUSED in query, read by DuckDB's
    own parser (a comment, the case or a second statement hide nothing from it)."""
    import duckdb

    try:
        kinds = {statement.type.name for statement in cursor.extract_statements(query)}
    except duckdb.Error:  # not SQL DuckDB reads: running it says why
        return
    if refused := kinds & REFUSED:
        raise duckdb.PermissionException(
            f"{', '.join(sorted(refused))} is not allowed here: every query of this server "
            "shares the warehouse's database"
        )


def file_identity(path) -> tuple[int, int]:
    """(device, inode): what a night's os.replace changes and a path does not show."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def database_path(connection) -> str:
    """The file of a DuckDB connection's database, as DuckDB names it; raises when it has none
    (its file detached). A DuckDB connection or duckdb_engine's wrapper of one or of its cursor
    (whose execute returns nothing)."""
    connection.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    )
    return connection.fetchone()[0]


def _attached(connection, path: str) -> bool:
    """Is the file still the instance's database? SQL Lab can DETACH it (`SET search_path =
    'temp.main'; DETACH fpa`: no setting of DuckDB's forbids it), and a held instance would then
    fail every query after; it is let go instead, and the next connection opens the file anew
    once none is left open on the broken instance (under 0.5 ms a connection). Superset refuses a
    DETACH before DuckDB sees it (refuse_what_changes_the_instance): this is the second line."""
    try:
        return os.path.realpath(database_path(connection)) == path
    except Exception:  # noqa: BLE001 - no database at all: not attached
        return False


def _only_open_on(path: str, identity: tuple[int, int]) -> bool:
    """Is every descriptor of this process open on a file by that name (or by that name before
    it was replaced: the kernel then adds " (deleted)") open on this one?"""
    names = (path, f"{path} (deleted)")
    for fd in os.listdir("/proc/self/fd"):
        entry = f"/proc/self/fd/{fd}"
        try:
            if os.readlink(entry) in names and file_identity(entry) != identity:
                return False
        except OSError:  # closed meanwhile (the listing's own descriptor among them)
            continue
    return True


def _close(connection) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001, S110 - closing what is no longer used: nothing to report
        pass


def held() -> dict[str, tuple[int, int]]:
    """The files held, with their (device, inode): for tests."""
    with _lock:
        return {path: identity for path, (identity, _, _) in _held.items()}
