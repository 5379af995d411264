"""sqlfluff (dbt templater, .sqlfluff) passes on every model and test of the dbt project."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fpa.build import dbt_env
from fpa.paths import PROJECT_ROOT
from fpa.state import StatePaths, writer

# sqlfluff's dbt templater compiles every model and test
pytestmark = [pytest.mark.slow]


def test_sqlfluff_passes_on_the_dbt_project(tmp_path):
    warehouse = tmp_path / "fpa.duckdb"
    with writer(StatePaths(warehouse)):  # the templater compiles against an (empty) state
        pass
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("sqlfluff")), "lint", "dbt/models", "dbt/tests"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **dbt_env(tmp_path / "lint.duckdb", warehouse)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "All Finished" in proc.stdout
