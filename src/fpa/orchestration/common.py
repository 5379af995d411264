"""What every task needs: the paths it works on, and its failure put where the alert finds it."""

import functools
import os
from pathlib import Path


def paths_from_env() -> tuple[Path, Path]:
    """The inbox and the published file (WAREHOUSE.md: FPA_INBOX, FPA_WAREHOUSE)."""
    try:
        return Path(os.environ["FPA_INBOX"]).resolve(), Path(os.environ["FPA_WAREHOUSE"]).resolve()
    except KeyError as e:
        raise RuntimeError(f"{e.args[0]} is not set for the Airflow worker") from e


def reported(fn):
    """Put a task's exception into its context for the failure mail. A worker does this itself;
    `airflow dags test`'s in-process runner (3.1) calls the callbacks without it."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            from airflow.sdk import get_current_context

            get_current_context()["exception"] = e
            raise

    return run
