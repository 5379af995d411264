"""`fpa demo` as a newcomer runs it (with the small scale to stay quick)."""

import subprocess
import sys

import pytest

from fpa.dashboards import spec

pytestmark = [pytest.mark.slow, pytest.mark.libreoffice, pytest.mark.superset]


def headlines(out: str) -> list[str]:
    return out.split("headline figures: published | truth\n", 1)[1].split("\n\n", 1)[0].split("\n")


def test_demo_writes_the_inbox_publishes_it_and_reuses_it(tmp_path):
    # a relative folder, as the README runs it (`uv run fpa demo` writes ./demo)
    # --no-serve: everything but the two servers (the Superset tests start theirs)
    cmd = [
        sys.executable, "-m", "fpa.cli", "demo", "--dir", "demo", "--scale", "small", "--no-serve"
    ]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "sample inbox written to" in first.stdout and "published (run" in first.stdout
    # every headline read back from the published file equals the truth, e.g. 河池市 2022 at
    # 1/100 of the published 283,754
    shown = headlines(first.stdout)
    assert len(shown) == 8
    assert all(line.split(": ", 1)[1].split(" | ")[0] == line.split(" | ")[1] for line in shown)
    units = next(line for line in shown if "河池市 2022 JSGA 承保份数" in line)
    assert 2700 < int(units.split(": ")[1].split(" | ")[0]) < 2900
    assert (tmp_path / "demo" / "warehouse" / "fpa.duckdb").is_file()
    assert (tmp_path / "demo" / "warehouse" / "quality" / "docs" / "index.html").is_file()
    # the bulletins of the newsletters' days, in place of the sentences typed by hand
    assert sorted(p.name for p in (tmp_path / "demo" / "bulletins").iterdir()) == sorted(
        f"{who}计生协统计通报_{day}.{x}"
        for who, day in (("自治区", "2020年8月31日"), ("河池市", "2022年12月31日"))
        for x in ("docx", "md", "pdf")
    )
    charts = sum(len(row) for d in spec.DASHBOARDS for row in d.rows)
    assert "fpa superset sync (" in first.stdout
    assert f"{charts} charts on {len(spec.DASHBOARDS)} dashboards" in first.stdout
    assert (tmp_path / "demo" / "superset" / "superset.db").is_file()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert second.returncode == 0 and "reused from" in second.stdout
    assert "nothing new since the last publication" in second.stdout
    assert "superset: up to date" in second.stdout
    assert headlines(second.stdout) == shown
