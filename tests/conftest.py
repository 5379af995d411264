import csv
import socket
from pathlib import Path

import pytest

from fpa.generate.inbox import generate

SEED = 7


@pytest.fixture(scope="session")
def small_inbox(tmp_path_factory) -> Path:
    """A small inbox with every deviation, 2017–2024 (the generator's default shape)."""
    out = tmp_path_factory.mktemp("small") / "inbox"
    generate(out, list(range(2017, 2025)), "small", SEED)
    return out


@pytest.fixture(scope="session")
def clean_inbox(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "inbox"
    generate(out, [2022, 2023], "small", SEED, clean=True)
    return out


def free_port() -> int:
    """A port nothing listens on, on loopback (for the servers the tests start)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def truth_of(inbox: Path) -> Path:
    return inbox.with_name(inbox.name + ".truth")


def read_truth(inbox: Path, table: str) -> list[dict[str, str]]:
    with open(truth_of(inbox) / f"{table}.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def small_night(small_inbox, tmp_path_factory):
    """One night (`fpa load`'s function) on the messy small inbox: (warehouse, result)."""
    from fpa.night import load

    warehouse = tmp_path_factory.mktemp("night") / "fpa.duckdb"
    result = load(small_inbox, warehouse)
    assert result.published, result.summary()
    return warehouse, result
