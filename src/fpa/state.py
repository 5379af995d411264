"""What the warehouse keeps between runs, beside the published file (SHAPE.md):

    <warehouse dir>/state/landing/<sha256>   every file received, once, named by its content
    <warehouse dir>/state/state.duckdb       manifest, audit, raw tables: the only writer's file
    <warehouse dir>/state/lock               held by the one process that writes

A second machine given the warehouse folder carries on where the first stopped. All of it is
its owner's only (folders 0700, files 0600: fpa.paths): the landing archive holds the files as
delivered, names and ID numbers in clear, and the HMAC key sits beside the state.
"""

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fpa import reference
from fpa.normalise.regions import alias_rows
from fpa.paths import private_dir, private_file
from fpa.personal import HEX_KEY_TO_INT
from fpa.settings import memory_limit

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS landing;
CREATE SCHEMA IF NOT EXISTS audit;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ref;

CREATE TABLE IF NOT EXISTS landing.manifest (
    file_sha256 VARCHAR PRIMARY KEY,
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,          -- the name it first arrived under
    size_bytes BIGINT NOT NULL,
    landed_at TIMESTAMPTZ NOT NULL
);
-- one row per file received: a name with a content (the same pair again is not a new receipt)
CREATE TABLE IF NOT EXISTS audit.load_audit (
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,    -- the file's arrival (its modification time)
    status VARCHAR NOT NULL,             -- loaded | rejected | duplicate | superseded
    reason_code VARCHAR,
    reason VARCHAR,
    rows_received INTEGER NOT NULL,
    rows_loaded INTEGER NOT NULL,
    rows_quarantined INTEGER NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (file_name, file_sha256)
);
-- each inbox file's SHA-256 by its name, size and modification time: a night reads only the
-- files it has not seen (checksumming the whole inbox again would cost every night more as the
-- years of deliveries pile up)
CREATE TABLE IF NOT EXISTS audit.inbox_checksums (
    file_name VARCHAR PRIMARY KEY,
    size BIGINT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    file_sha256 VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS audit.quarantine (
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    sheet VARCHAR,
    row_number INTEGER NOT NULL,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    raw_row JSON NOT NULL                -- personal data masked
);
CREATE TABLE IF NOT EXISTS raw.insurer_policies (
    file_sha256 VARCHAR NOT NULL, file_day DATE NOT NULL, line INTEGER NOT NULL,
    policy_no VARCHAR NOT NULL, product_code VARCHAR NOT NULL, product_name VARCHAR,
    written_on DATE NOT NULL, cover_start DATE, cover_end DATE,
    units INTEGER NOT NULL, premium_yuan DECIMAL(18, 2) NOT NULL,
    id_type VARCHAR, person_key UHUGEINT NOT NULL,  -- fpa.personal: keyed hash
    city_name VARCHAR, county_name VARCHAR, county_code VARCHAR NOT NULL,
    branch VARCHAR, status VARCHAR NOT NULL, changed_on DATE,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.insurer_claims (
    file_sha256 VARCHAR NOT NULL, file_day DATE NOT NULL, line INTEGER NOT NULL,
    claim_no VARCHAR NOT NULL, policy_no VARCHAR, product_code VARCHAR NOT NULL,
    person_key UHUGEINT NOT NULL, event_on DATE, reported_on DATE, settled_on DATE,
    cause VARCHAR, paid_yuan DECIMAL(18, 2) NOT NULL, status VARCHAR NOT NULL,
    county_name VARCHAR, county_code VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.reports (
    file_sha256 VARCHAR PRIMARY KEY, file_name VARCHAR NOT NULL,
    city_code VARCHAR NOT NULL, month DATE NOT NULL, filled_on DATE,
    marked_revision BOOLEAN NOT NULL, received_at TIMESTAMPTZ NOT NULL,
    is_current BOOLEAN NOT NULL,         -- the report that counts for its city and month
    total_mismatches VARCHAR             -- 合计 disagreeing with the rows (reported, not fatal)
);
CREATE TABLE IF NOT EXISTS raw.report_activities (
    file_sha256 VARCHAR NOT NULL, sheet VARCHAR NOT NULL, row_number INTEGER NOT NULL,
    city_code VARCHAR NOT NULL, month DATE NOT NULL, county_code VARCHAR,
    township VARCHAR, starts_on DATE, ends_on DATE, name VARCHAR,
    activity_type VARCHAR, project VARCHAR, organiser VARCHAR,
    participants INTEGER, participants_approx BOOLEAN NOT NULL,
    service_visits INTEGER, materials INTEGER, funds_yuan DECIMAL(18, 2), remarks VARCHAR
);
CREATE TABLE IF NOT EXISTS raw.report_trainings (
    file_sha256 VARCHAR NOT NULL, sheet VARCHAR NOT NULL, row_number INTEGER NOT NULL,
    city_code VARCHAR NOT NULL, month DATE NOT NULL, county_code VARCHAR,
    name VARCHAR, organiser VARCHAR, starts_on DATE, ends_on DATE,
    audience VARCHAR, trainees INTEGER, trainees_approx BOOLEAN NOT NULL,
    mode VARCHAR, hours DECIMAL(8, 2), remarks VARCHAR
);
CREATE TABLE IF NOT EXISTS raw.targets (
    file_sha256 VARCHAR NOT NULL, year INTEGER NOT NULL, city_code VARCHAR NOT NULL,
    target_units INTEGER NOT NULL, received_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.population (
    file_sha256 VARCHAR NOT NULL, year INTEGER NOT NULL, city_code VARCHAR NOT NULL,
    county_code VARCHAR NOT NULL, resident_population BIGINT NOT NULL,  -- persons
    received_at TIMESTAMPTZ NOT NULL
);
"""


@dataclass(frozen=True)
class StatePaths:
    warehouse: Path

    @property
    def root(self) -> Path:
        return self.warehouse.parent / "state"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def db(self) -> Path:
        return self.root / "state.duckdb"

    @property
    def lock(self) -> Path:
        return self.root / "lock"


class StateBusy(RuntimeError):
    pass


LOCK_GRACE_SECONDS = 2.0


@contextmanager
def locked(paths: StatePaths) -> Iterator[None]:
    """The one-writer lock. An flock: the kernel drops it when its holder dies, so a killed run
    never leaves a lock behind."""
    private_dir(paths.root)
    private_dir(paths.landing)
    fd = os.open(paths.lock, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
    try:
        # a run killed while it starts a child (the workbook reader) leaves the lock with the
        # forked child until that child's exec closes it: a moment, longer on a loaded
        # machine. A second of patience tells that apart from a run that is really writing.
        deadline = time.monotonic() + LOCK_GRACE_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as e:
                if time.monotonic() >= deadline:
                    raise StateBusy(f"another run is writing {paths.db}") from e
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


@contextmanager
def writer(paths: StatePaths, lock: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """The state database, for the one process that writes it (lock=False: the caller holds
    the lock already)."""
    with locked(paths) if lock else nullcontext():
        # DuckDB keeps the blocks it wrote cached up to its limit: unbounded, the ingest of a
        # long history grows with its tables
        con = duckdb.connect(str(paths.db), config={"memory_limit": memory_limit()})
        private_file(paths.db)  # DuckDB creates it under the umask, which may be the caller's
        # no progress bar: it wrote ANSI bars into the night's log on long statements
        con.execute("SET enable_progress_bar = false")
        try:
            con.execute(SCHEMA)
            _migrate(con)
            _refresh_reference(con)
            yield con
            con.execute("CHECKPOINT")
        finally:
            con.close()


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list) -> None:
    """Many rows in one statement (executemany runs one statement a row, each with its own
    overhead)."""
    if not rows:
        return
    columns = [list(c) for c in zip(*rows, strict=True)]
    con.execute(f"INSERT INTO {table} SELECT {', '.join(['unnest(?)'] * len(columns))}", columns)


class RowBuffer:
    """Rows bound for several tables, gathered from many small files and inserted table by
    table, one statement each (flush): a statement costs about what a city's monthly workbook
    costs to parse."""

    def __init__(self) -> None:
        self.tables: dict[str, list] = {}

    def add(self, table: str, rows: list) -> None:
        self.tables.setdefault(table, []).extend(rows)

    def extend(self, other: "RowBuffer") -> None:
        for table, rows in other.tables.items():
            self.add(table, rows)

    def flush(self, con: duckdb.DuckDBPyConnection) -> None:
        for table, rows in self.tables.items():
            insert_rows(con, table, rows)
        self.tables.clear()


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a state written by an earlier version up to SCHEMA. Person keys were the 64 hex
    digits of the HMAC; they are now its first 128 bits as an integer, which the hex holds:
    the same person keeps the same key. (A migration that rewrites raw rows must also drop the
    incremental models' tables, fpa.build.forget_increments: they see only new files. This one
    predates them: no warehouse has both.)"""
    for table in ("raw.insurer_policies", "raw.insurer_claims"):
        schema, name = table.split(".")
        (kind,) = con.execute(
            "SELECT data_type FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ? AND column_name = 'person_key'",
            [schema, name],
        ).fetchone()
        if kind == "VARCHAR":
            con.execute(
                f"ALTER TABLE {table} ALTER person_key TYPE UHUGEINT USING {HEX_KEY_TO_INT}"
            )


def _refresh_reference(con: duckdb.DuckDBPyConnection) -> None:
    """The seeds the parsers join against (regions and their aliases, product bands)."""
    con.execute(
        "CREATE OR REPLACE TABLE ref.region_names (name VARCHAR PRIMARY KEY, "
        "code VARCHAR, level VARCHAR, city_code VARCHAR)"
    )
    columns = [list(c) for c in zip(*alias_rows(), strict=True)]
    con.execute(
        "INSERT INTO ref.region_names SELECT unnest(?), unnest(?), unnest(?), unnest(?)", columns
    )
    # the product seed as dbt loads it into the candidate (same name, same columns): the gate's
    # queries join ref.products in either database
    con.execute(
        "CREATE OR REPLACE TABLE ref.products (product_code VARCHAR PRIMARY KEY, "
        "product_name VARCHAR, policy_prefix VARCHAR, unit_price_min_yuan DECIMAL(18, 2), "
        "unit_price_max_yuan DECIMAL(18, 2), claim_ceiling_yuan DECIMAL(18, 2))"
    )
    con.executemany(
        "INSERT INTO ref.products VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                p.code,
                p.name,
                p.policy_prefix,
                p.unit_price_min_yuan,
                p.unit_price_max_yuan,
                p.claim_ceiling_yuan,
            )
            for p in reference.products()
        ],
    )


def hash_received(h, db: Path, where: str = "true") -> None:
    """Feed the hash h every file received that `where` (SQL on audit.load_audit) keeps, with
    its content and status, in one order: what the builds are a function of besides the code
    (fpa.night.inputs_digest, fpa.build.workbooks_digest)."""
    with duckdb.connect(str(db), read_only=True) as con:
        for row in con.execute(
            f"SELECT file_name, file_sha256, status FROM audit.load_audit WHERE {where} "
            "ORDER BY ALL"
        ).fetchall():
            h.update(repr(row).encode())
