"""An incremental night against a build of the same state from nothing."""

import shutil
from pathlib import Path

import duckdb


def equals_a_build_from_nothing(warehouse: Path, elsewhere: Path) -> Path:
    """Every dbt table of the published file equals, row for row, a build of the same state
    from nothing (a copy of the warehouse folder without its incremental tables: the original
    keeps them for the next night). The copy's warehouse path."""
    from fpa.build import build, forget_increments

    copy = elsewhere / warehouse.parent.name / warehouse.name
    shutil.copytree(warehouse.parent, copy.parent)
    forget_increments(copy)
    full = build(copy, "full-build")
    assert full.success, full.failures
    with duckdb.connect(str(full.candidate), read_only=True) as con:
        con.execute(f"ATTACH '{warehouse}' AS published (READ_ONLY)")
        # dbt's tables (the gate adds its results at publication)
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = "
            "current_database() AND schema_name IN ('marts', 'dashboards')"
        ).fetchall()
        assert len(tables) >= 10
        for schema, table in tables:
            ours, theirs = f"published.{schema}.{table}", f"{schema}.{table}"
            differ = con.execute(
                f"SELECT count(*) FROM ((FROM {ours} EXCEPT ALL FROM {theirs}) "
                f"UNION ALL (FROM {theirs} EXCEPT ALL FROM {ours}))"
            ).fetchone()[0]
            assert (table, differ) == (table, 0)
    return copy
