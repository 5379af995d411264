"""The session fixtures: the generated inboxes and one published night on the messy one. The
helpers the test modules share are in tests/support/ (no test module imports another)."""

from pathlib import Path

import pytest
from support.truth import SEED

from fpa.generate.inbox import generate
from fpa.sources import insurer


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


@pytest.fixture(scope="session")
def small_night(small_inbox, tmp_path_factory):
    """One night (`fpa load`'s function) on the messy small inbox: (warehouse, result)."""
    from fpa.night import load

    warehouse = tmp_path_factory.mktemp("night") / "fpa.duckdb"
    result = load(small_inbox, warehouse)
    assert result.published, result.summary()
    return warehouse, result


@pytest.fixture(params=["iconv", "codec"])
def transcoder(request, monkeypatch):
    """Both ways a GB18030 file is transcoded: glibc's iconv (here whatever the file's size:
    these tests' files are smaller than a day's policies, which alone take it), and Python's
    codec (a small file, or a machine without iconv). A UTF-8 file takes the codec either way."""
    if request.param == "codec":
        monkeypatch.setattr(insurer, "ICONV", None)
    else:
        assert insurer.ICONV, "iconv (Debian's libc-bin) is not on PATH"
        monkeypatch.setattr(insurer, "ICONV_FROM_BYTES", 0)
    return request.param
