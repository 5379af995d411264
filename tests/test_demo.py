"""`fpa demo` as a newcomer runs it (with the small scale to stay quick)."""

import subprocess
import sys


def test_demo_writes_the_inbox_shows_its_truth_and_reuses_it(tmp_path):
    cmd = [sys.executable, "-m", "fpa.cli", "demo", "--dir", str(tmp_path), "--scale", "small"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "sample inbox written to" in first.stdout
    # the figures shown are the truth's, e.g. 河池市 2022 at 1/100 of the published 283,754
    units = next(line for line in first.stdout.splitlines() if "河池市 2022 JSGA 承保份数" in line)
    assert 2700 < int(units.rsplit(":", 1)[1]) < 2900
    assert (tmp_path / "inbox" / "insurer").is_dir()
    assert (tmp_path / "inbox.truth" / "summary.json").is_file()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and "reused from" in second.stdout
    assert second.stdout.split("\n", 2)[2] == first.stdout.split("\n", 2)[2]
