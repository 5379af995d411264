"""Ingestion on the generator's messy inbox: every file's fate and every quarantined row equal
the truth exactly, nothing personal survives the parser, and running again changes nothing."""

import collections
import errno
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from support.readback import read_csv
from support.truth import SEED, read_truth

from fpa.generate.inbox import generate
from fpa.ingest import ingest

# an ID number or a mobile number standing alone (not inside a checksum's hex digits)
LOOKS_PERSONAL = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|1[3-9]\d{9})(?![0-9A-Za-z])")


@pytest.fixture(scope="module")
def loaded(small_inbox, tmp_path_factory) -> Path:
    warehouse = tmp_path_factory.mktemp("wh") / "fpa.duckdb"
    ingest(small_inbox, warehouse)
    return warehouse


def state(warehouse: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse.parent / "state" / "state.duckdb"), read_only=True)


def test_every_file_has_the_fate_the_truth_expects(small_inbox, loaded):
    with state(loaded) as con:
        got = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT file_name, status, coalesce(reason_code, ''), rows_received, rows_loaded, "
                "rows_quarantined, file_sha256 FROM audit.load_audit"
            ).fetchall()
        }
    want = {
        t["file_name"]: (
            t["status"],
            t["reason_code"],
            int(t["rows_received"]),
            int(t["rows_loaded"]),
            int(t["rows_quarantined"]),
            t["file_sha256"],
        )
        for t in read_truth(small_inbox, "files")
        if t["in_load_audit"] == "True"
    }
    assert got == want
    assert all(r[2] == r[3] + r[4] for r in got.values())  # received = loaded + quarantined
    waiting = [t["file_name"] for t in read_truth(small_inbox, "files") if t["status"] == "waiting"]
    assert waiting and not set(waiting) & set(got)


def test_every_quarantined_row_is_the_one_planted(small_inbox, loaded):
    with state(loaded) as con:
        got = collections.Counter(
            con.execute(
                "SELECT file_name, coalesce(sheet, ''), row_number, reason_code "
                "FROM audit.quarantine"
            ).fetchall()
        )
        reasons = con.execute(
            "SELECT count(*) FROM audit.quarantine WHERE reason = '' OR reason IS NULL"
        ).fetchone()[0]
    want = collections.Counter(
        (q["file_name"], q["sheet"], int(q["row_number"]), q["reason_code"])
        for q in read_truth(small_inbox, "quarantine")
    )
    assert got == want and reasons == 0


def test_activities_and_trainings_of_current_reports_equal_the_truth(small_inbox, loaded):
    with state(loaded) as con:
        acts = dict(
            ((m.isoformat(), c, k or "", t, p), (n, s, a))
            for m, c, k, t, p, n, s, a in con.execute("""
            SELECT a.month, a.city_code, a.county_code, activity_type, project, count(*),
                   sum(coalesce(participants, 0)),
                   sum(CASE WHEN participants_approx THEN participants ELSE 0 END)
            FROM raw.report_activities a JOIN raw.reports r USING (file_sha256)
            WHERE r.is_current GROUP BY ALL""").fetchall()
        )
        funds = con.execute("""SELECT sum(funds_yuan) FROM raw.report_activities
            JOIN raw.reports r USING (file_sha256) WHERE r.is_current""").fetchone()[0]
        days = con.execute("""SELECT sum(trainees * (ends_on - starts_on + 1)), sum(hours)
            FROM raw.report_trainings JOIN raw.reports r USING (file_sha256)
            WHERE r.is_current""").fetchone()
    truth = read_truth(small_inbox, "activities_monthly")
    want = {
        (t["month"], t["city_code"], t["county_code"], t["activity_type"], t["project"]): (
            int(t["activities"]),
            int(t["participants"]),
            int(t["approx_participants"]),
        )
        for t in truth
    }
    assert acts == want
    assert funds == sum(__import__("decimal").Decimal(t["funds_yuan"]) for t in truth)
    trainings = read_truth(small_inbox, "training_monthly")
    assert days[0] == sum(int(t["trainee_days"]) for t in trainings)
    assert float(days[1]) == sum(float(t["hours"]) for t in trainings)


def test_targets_are_loaded_for_2017_to_2023(small_inbox, loaded):
    with state(loaded) as con:
        got = {
            (str(y), c): str(t)
            for y, c, t in con.execute(
                "SELECT year, city_code, target_units FROM raw.targets"
            ).fetchall()
        }
    want = {
        (r["year"], r["city_code"]): r["target_units"]
        for r in read_truth(small_inbox, "insurance_city_year")
        if r["product_code"] == "JSGA" and r["target_units"]
    }
    assert got == want and max(y for y, _ in got) == "2023"


@pytest.mark.slow
def test_no_name_id_or_phone_survives_the_parser(small_inbox, loaded):
    ids, names, phones = set(), set(), set()
    for p in sorted((small_inbox / "insurer").glob("JS_POLICY_2024*.csv"))[:6]:
        c = read_csv(p)
        h = c["header"]
        for r in c["rows"]:
            ids.add(r[h.index("证件号码")].upper())
            names.add(r[h.index("被保险人姓名")])
            phones.add(r[h.index("联系电话")])
    data = (loaded.parent / "state" / "state.duckdb").read_bytes()
    assert not [i for i in list(ids)[:300] if i.encode() in data]
    assert not [p for p in list(phones)[:300] if p.encode() in data]
    with state(loaded) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'audit', 'landing')"
        ).fetchall()
        for schema, table in tables:
            cols = [c[0] for c in con.execute(f"DESCRIBE {schema}.{table}").fetchall()]
            for col in cols:
                values = {
                    str(v[0])
                    for v in con.execute(
                        f'SELECT DISTINCT "{col}" FROM {schema}.{table}'
                    ).fetchall()
                }
                assert not values & names, (table, col)
                assert not [v for v in values if LOOKS_PERSONAL.search(v)], (table, col)


def test_a_second_run_changes_nothing_and_a_new_day_adds_only_itself(tmp_path):
    inbox = tmp_path / "inbox"
    generate(inbox, [2024], "small", SEED)
    last = sorted(inbox.glob("insurer/JS_POLICY_2024123*.csv"))[0]  # the last regular day
    held = tmp_path / "held"
    held.mkdir()
    for p in (last, last.with_suffix(".ok")):
        shutil.copy2(p, held / p.name)
        p.unlink()
    warehouse = tmp_path / "wh" / "fpa.duckdb"

    def counts():
        with state(warehouse) as con:
            return con.execute(
                "SELECT (SELECT count(*) FROM raw.insurer_policies), "
                "(SELECT count(*) FROM audit.load_audit), "
                "(SELECT count(*) FROM audit.quarantine)"
            ).fetchone()

    first = ingest(inbox, warehouse)
    before = counts()
    again = ingest(inbox, warehouse)
    assert counts() == before and not again.files and again.skipped > 60
    for p in held.iterdir():
        shutil.copy2(p, inbox / "insurer" / p.name)
    night = ingest(inbox, warehouse)
    rows = len(read_csv(last)["rows"])
    after = counts()
    assert night.files == {"loaded": 1} and after[1] == before[1] + 1
    assert after[0] - before[0] == rows - night.rows_quarantined
    assert first.files["loaded"] > 60


def test_the_same_file_again_under_its_name_or_another_is_counted_once(tmp_path, small_inbox):
    inbox = tmp_path / "inbox" / "insurer"
    inbox.mkdir(parents=True)
    src = sorted(small_inbox.glob("insurer/JS_CLAIM_2023*.csv"))[3]
    for name in (src.name, "JS_CLAIM_20990101_resent.csv"):
        shutil.copy2(src, inbox / name)
        (inbox / name).with_suffix(".ok").touch()
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    result = ingest(tmp_path / "inbox", warehouse)
    assert result.files == {"loaded": 1, "duplicate": 1}
    with state(warehouse) as con:
        claims = con.execute("SELECT count(*) FROM raw.insurer_claims").fetchone()[0]
    assert claims == len(read_csv(src)["rows"]) - result.rows_quarantined


@pytest.mark.parametrize("kernel_copy", ["copy_file_range", "refused part-way"])
def test_the_landing_copy_is_the_file_byte_for_byte(
    tmp_path, small_inbox, monkeypatch, kernel_copy
):
    """The archive is what a reprocess reads: its copy equals the delivered file, whether the
    kernel copies it or refuses part-way (another file system on an old kernel) and the read/write
    loop starts over."""
    from fpa import landing

    src = sorted(small_inbox.glob("insurer/JS_POLICY_2023*.csv"))[5]
    if kernel_copy == "refused part-way":
        real = os.copy_file_range
        calls = []

        def refused(fd_in, fd_out, count, *args):
            calls.append(count)
            if len(calls) > 1:
                raise OSError(errno.EXDEV, "cross-device")
            return real(fd_in, fd_out, 1000)  # some bytes copied before the refusal

        monkeypatch.setattr(os, "copy_file_range", refused)
    received = landing.scan(small_inbox).complete
    received = next(r for r in received if r.file_name == f"insurer/{src.name}")
    (tmp_path / "landing").mkdir()
    sha = received.sha256()
    copy = landing.archive(received, sha, tmp_path / "landing")
    assert copy.read_bytes() == src.read_bytes() and copy.name == sha
    assert copy.stat().st_mode & 0o777 == 0o600
    if kernel_copy == "refused part-way":
        assert len(calls) == 2


@pytest.mark.parametrize(("extracts", "groups"), [(56, 9), (5, 2), (2, 7), (0, 3), (3, 0)])
def test_workbook_groups_are_spread_among_the_extracts_each_kind_in_its_order(extracts, groups):
    from fpa.ingest import _interleaved

    steps = _interleaved([("e", i) for i in range(extracts)], [("g", i) for i in range(groups)])
    assert [i for k, i in steps if k == "e"] == list(range(extracts))
    assert [i for k, i in steps if k == "g"] == list(range(groups))
    if extracts and groups:  # no run of extracts longer than an even share, none left at the end
        kinds = "".join(k for k, _ in steps)
        assert max(map(len, kinds.split("g"))) <= -(-extracts // groups)
        assert kinds.endswith("g") and (groups <= extracts) == ("gg" not in kinds)


def fpa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fpa.cli", *args], capture_output=True, text=True)


def test_cli_ingest_prints_the_summary(tmp_path, small_inbox):
    inbox = tmp_path / "inbox"
    shutil.copytree(small_inbox / "targets", inbox / "targets")
    r = fpa("ingest", "--inbox", str(inbox), "--warehouse", str(tmp_path / "wh" / "fpa.duckdb"))
    assert r.returncode == 0, r.stderr
    assert "files: 7 loaded; rows: 98 loaded, 0 quarantined" in r.stdout
    r = fpa(
        "ingest", "--inbox", str(tmp_path / "nowhere"), "--warehouse", str(tmp_path / "x.duckdb")
    )
    assert r.returncode == 2 and "no inbox" in r.stderr


def test_the_state_can_be_rebuilt_from_the_archive_without_the_inbox(loaded, tmp_path):
    copy = tmp_path / "wh"
    shutil.copytree(loaded.parent, copy)
    warehouse = copy / "fpa.duckdb"

    def snapshot():
        with state(warehouse) as con:
            return (
                sorted(
                    con.execute(
                        "SELECT file_name, file_sha256, received_at, status, "
                        "reason_code, rows_received, rows_loaded, rows_quarantined "
                        "FROM audit.load_audit"
                    ).fetchall()
                ),
                sorted(
                    con.execute(
                        "SELECT file_name, sheet, row_number, reason_code, raw_row "
                        "FROM audit.quarantine"
                    ).fetchall()
                ),
                con.execute(
                    "SELECT count(*), sum(premium_yuan), count(DISTINCT person_key) "
                    "FROM raw.insurer_policies"
                ).fetchone(),
                con.execute(
                    "SELECT count(*), sum(participants) FROM raw.report_activities "
                    "JOIN raw.reports USING (file_sha256) WHERE is_current"
                ).fetchone(),
            )

    before = snapshot()
    r = fpa("ingest", "--from-archive", "--warehouse", str(warehouse))
    assert r.returncode == 0, r.stderr
    assert snapshot() == before
    assert not (copy / "state" / "state.duckdb.before-reprocess").exists()
