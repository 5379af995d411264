"""What every task needs: the paths it works on, and its failure put where the alert finds it."""

import functools
import json
import os
from pathlib import Path

import yaml


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


def contacts_from(var: str, default: Path) -> dict[str, list[str]]:
    """Who is mailed what: a YAML file (named in `var`, else `default`) of key -> addresses."""
    path = Path(os.environ.get(var) or default)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): [str(a) for a in (v or [])] for k, v in data.items()}


def sent_record(warehouse: Path, name: str) -> dict[str, list[str]]:
    """What a mail task recorded as sent (a JSON file beside the state): key -> values."""
    from fpa.state import StatePaths

    try:
        return json.loads((StatePaths(warehouse).root / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def write_sent_record(warehouse: Path, name: str, record: dict[str, list[str]]) -> None:
    """Written whole and owner-only after each mail that went out."""
    from fpa.paths import write_private
    from fpa.state import StatePaths

    text = json.dumps(record, ensure_ascii=False, sort_keys=True)
    write_private(StatePaths(warehouse).root / name, text)
