"""A run's scratch folders outlive a run that was killed; the next run removes them
(fpa.scratch)."""

import os
import subprocess

from fpa import scratch


def _named(where, kind, pid):
    made = where / f"fpa-{kind}-{pid}-abc_1234"
    made.mkdir()
    (made / "JS_POLICY_20240105.csv").write_text("a day's extract, in UTF-8\n")
    return made


def test_a_dead_process_s_folders_go_and_a_living_one_s_stay(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(scratch.tempfile, "tempdir", None)  # gettempdir reads TMPDIR again
    living = subprocess.Popen(["sleep", "60"])
    ended = subprocess.Popen(["true"])
    ended.wait()
    try:
        dead = [_named(tmp_path, "ingest", ended.pid), _named(tmp_path, "dbt-parse", ended.pid)]
        kept = [
            _named(tmp_path, "gate", living.pid),
            _named(tmp_path, "pdf", os.getpid()),
            tmp_path / f"fpa-ingest-{ended.pid}",  # not a name scratch makes
            tmp_path / "pytest-of-someone",
        ]
        for p in kept[2:]:
            p.mkdir()
        with scratch.temporary("ingest") as mine:
            assert mine.parent == tmp_path
            assert mine.name.startswith(f"fpa-ingest-{os.getpid()}-")
            assert oct(mine.stat().st_mode & 0o777) == "0o700"
            assert not any(p.exists() for p in dead)
            assert all(p.exists() for p in kept)
        assert not mine.exists()
        living.kill()
        living.wait()
        assert scratch.sweep() == [kept[0]]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept[1:])
    finally:
        living.kill()
