"""Issue 22: never stuck, never leaking. Through real nights on a small 2023 inbox:

- what the warehouse writes (state, landing, candidates, logs, the published file and its folder)
  is its owner's only, and a folder an earlier version left readable is tightened;
- a link or special file in the inbox is never followed, read or landed: recorded `unsafe_file`;
- a file the contracts do not name, wherever it is and whatever its name, is recorded
  `unknown_file` and every night publishes, with it, after it and after it is gone;
- a blocked night names what blocks it and the one command that gets past it, and running that
  command and the night again publishes (set aside the file, or allow the rows);
- the admin password of `airflow standalone` is made owner-only and never written to its log.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from support.deliveries import write_policies
from support.nights import (
    audit,
    copy_night,
    fpa,
    loosen,
    mode,
    printed_commands,
    readable_by_others,
    run_printed,
)

from fpa.generate.inbox import generate
from fpa.night import load

HECHI = ("451202", "金城江区", "河池市")
PERSONAL = re.compile(r"(?<![0-9])([0-9]{17}[0-9Xx]|1[3-9][0-9]{9})(?![0-9])")
UNITS_2024 = (
    "SELECT coalesce(sum(units), 0) FROM marts.insurance_city_year "
    "WHERE year = 2024 AND city_code = '451200' AND product_code = 'JSGA'"
)


def published_sha(warehouse: Path) -> str:
    import hashlib

    return hashlib.sha256(warehouse.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A clean small inbox of 2023, loaded and published once into a new warehouse folder."""
    root = tmp_path_factory.mktemp("recovery")
    inbox = root / "inbox"
    generate(inbox, [2023], "small", 7, clean=True)
    warehouse = root / "wh" / "fpa.duckdb"
    result = load(inbox, warehouse)
    assert result.published, result.summary()
    return inbox, warehouse


@pytest.fixture
def night(base, tmp_path):
    return copy_night(base[1], base[0], tmp_path)


@pytest.mark.slow
def test_what_a_night_writes_is_its_owners_only(base):
    _, warehouse = base
    folder = warehouse.parent
    assert readable_by_others(folder) == []
    assert mode(folder) == 0o700  # the night made it
    assert mode(warehouse) == 0o400
    state = folder / "state"
    assert mode(state) == mode(state / "landing") == mode(folder / "builds") == 0o700
    assert mode(state / "state.duckdb") == mode(state / "hmac.key") == 0o600
    assert {mode(p) for p in (state / "landing").iterdir()} == {0o600}
    assert mode(folder / "builds" / "dbt" / "logs" / "dbt.log") == 0o600
    assert mode(folder / "quality" / "docs" / "index.html") == 0o600


@pytest.mark.slow
def test_a_dbt_child_started_before_the_umask_writes_private_files(night):
    """dbt's child started by a caller whose umask lets others read (a benchmark starts it
    first thing, as `fpa load` does): the files dbt creates are its owner's only all the same."""
    from fpa import warm

    inbox, warehouse = night
    write_policies(inbox, date(2024, 1, 5), HECHI, 10, Decimal("50.00"))
    before = os.umask(0o022)
    try:
        dbt = warm.start_dbt()
    finally:
        os.umask(before)
    result = load(inbox, warehouse, dbt_process=dbt)
    assert result.published, result.summary()
    target = warehouse.parent / "builds" / "dbt" / "target"
    assert mode(target / "run_results.json") == 0o600  # written anew by the child each build
    assert readable_by_others(warehouse.parent) == []


@pytest.mark.slow
def test_dbt_parses_while_the_night_reads_and_leaves_no_folder_behind(night, tmp_path, monkeypatch):
    """dbt's child given the warehouse parses the project before its job, in a private folder
    of its own (fpa.build._parse_ahead): the build uses that parse, the warehouse keeps the
    saved parse for the next night, and the folder is gone after the job, after a night with
    nothing new (the child ended early) and after a child ended while it waits. The parse's
    manifest is kept pickled, its owner's only: the next night's child reads it instead of
    parsing."""
    from fpa import build, warm

    inbox, warehouse = night
    scratch = tmp_path / "scratch"  # the children's temporary folders
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no parse of this code yet
    saved = warehouse.parent / "builds" / "dbt" / "target" / "partial_parse.msgpack"
    saved.unlink()  # parsed whole, saved again by the night
    write_policies(inbox, date(2024, 1, 5), HECHI, 10, Decimal("50.00"))
    result = load(inbox, warehouse, dbt_process=warm.start_dbt(warehouse))
    assert result.published, result.summary()
    assert result.build.parsed_ahead and not result.build.parse_cached
    assert saved.exists()
    assert list(scratch.glob("fpa-dbt-parse-*")) == []
    (pickled,) = build.parse_cache().parent.glob("manifest-*.pickle")
    assert mode(pickled) == 0o600

    again = load(inbox, warehouse, dbt_process=warm.start_dbt(warehouse))
    assert again.up_to_date
    assert list(scratch.glob("fpa-dbt-parse-*")) == []

    write_policies(inbox, date(2024, 1, 6), HECHI, 4, Decimal("50.00"))
    cached = load(inbox, warehouse, dbt_process=warm.start_dbt(warehouse))
    assert cached.published, cached.summary()
    assert cached.build.parsed_ahead and cached.build.parse_cached
    assert list(scratch.glob("fpa-dbt-parse-*")) == []

    pickled.unlink()  # so that the waiting child parses, and says when it has
    waiting = warm.start_dbt(warehouse)
    parsed = None
    for _ in range(600):  # the parse writes its timings last
        parsed = next(scratch.glob("fpa-dbt-parse-*/target/perf_info.json"), None)
        if parsed or waiting.poll() is not None:
            break
        time.sleep(0.1)
    assert parsed is not None, waiting.communicate()[0][-2000:]
    warm.stop(waiting)
    assert waiting.returncode == 128 + 15  # its own exit on SIGTERM, not a kill
    assert list(scratch.glob("fpa-dbt-parse-*")) == []


@pytest.mark.slow
def test_a_pickled_manifest_loads_as_the_parse_left_it(tmp_path, monkeypatch):
    """The project parsed whole, its lookups built (as a parse that changed files leaves them),
    kept and read back: every public field as parsed, and the lookups of the loaded manifest
    find what the parse's find (dbt's own pickling put each lookup one field off: the build
    read back failed to compile)."""
    from fpa import build

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no saved parse to start from
    for name, value in build._env(tmp_path / "b.duckdb", tmp_path / "w.duckdb", tmp_path).items():
        monkeypatch.setenv(name, value)
    parsed = build._parse(build.dbt_args(build.PARSE, tmp_path / "w.duckdb", into=tmp_path))
    assert parsed is not None
    lookups = ("ref_lookup", "source_lookup", "doc_lookup", "disabled_lookup", "metric_lookup")
    for lookup in lookups:
        getattr(parsed, lookup)
    path = build.manifest_cache({}, "a version")
    build._keep_manifest(parsed, path)
    loaded = build._cached_manifest(path)
    assert loaded is not None and loaded is not parsed
    # as dbt writes manifest.json (its FileHash of a file-less node equals nothing, itself included)
    assert loaded.writable_manifest().to_dict() == parsed.writable_manifest().to_dict()
    for lookup in lookups:
        assert type(getattr(loaded, lookup)) is type(getattr(parsed, lookup))
    found = loaded.ref_lookup.find("int_policies__current", None, None, loaded)
    assert found.unique_id == "model.fpa.int_policies__current"
    assert found == parsed.ref_lookup.find("int_policies__current", None, None, parsed)


def test_a_pickled_manifest_is_read_only_when_its_owner_alone_can_have_written_it(tmp_path):
    """A pickle runs code as it loads: one that another user could have written (the file or
    its folder writable by others) is not read, nor one cut short; the build parses instead."""
    import pickle

    from fpa import build

    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    path = folder / "manifest-x.pickle"
    path.write_bytes(pickle.dumps({"nodes": 3}))
    path.chmod(0o600)
    assert build._cached_manifest(path) == {"nodes": 3}
    path.chmod(0o620)
    assert build._cached_manifest(path) is None
    path.chmod(0o600)
    folder.chmod(0o777)
    assert build._cached_manifest(path) is None
    folder.chmod(0o700)
    path.write_bytes(pickle.dumps({"nodes": 3})[:-3])
    assert build._cached_manifest(path) is None
    assert build._cached_manifest(folder / "absent.pickle") is None


@pytest.mark.slow
def test_a_parse_made_before_the_code_changed_is_not_used(night, monkeypatch):
    """The job names the project version it builds: a parse of another version (the code
    deployed while the night read its files) is not used, and dbt parses again."""
    from fpa import build, warm

    inbox, warehouse = night
    child = warm.start_dbt(warehouse)  # parses the code as it is
    monkeypatch.setattr(build, "project_digest", lambda: "another version")
    write_policies(inbox, date(2024, 1, 5), HECHI, 10, Decimal("50.00"))
    result = load(inbox, warehouse, dbt_process=child)
    assert result.published, result.summary()
    assert not result.build.parsed_ahead


@pytest.mark.slow
@pytest.mark.parametrize("ahead", [True, False], ids=["parsed-ahead", "parsed-with-the-job"])
def test_a_build_from_nothing_starts_the_gates_process_once_the_history_is_built(
    night, monkeypatch, ahead
):
    """A build from nothing keeps the memory the gate's process would take for the models that
    read the whole history (meta whole_history_memory); dbt's child says when the last of them
    is built, and the night starts the gate's process then, beside the rest of the build,
    not after it. Whether the child parsed ahead or not (a child not told the warehouse)."""
    from fpa import build, gate, warm

    inbox, warehouse = night
    build.forget_increments(warehouse)  # every incremental model is computed whole
    dbt = warm.start_dbt(warehouse if ahead else None)
    started = []
    real = gate.warm_up

    def warm_up():  # the gate's real process, and whether dbt was still building then
        started.append(dbt.poll() is None)
        return real()

    monkeypatch.setattr(gate, "warm_up", warm_up)
    write_policies(inbox, date(2024, 1, 5), HECHI, 10, Decimal("50.00"))
    result = load(inbox, warehouse, dbt_process=dbt)
    assert result.published, result.summary()
    assert 0 < result.build.history_built < result.build.seconds
    assert started == [True]
    assert result.build.parsed_ahead == ahead


@pytest.mark.slow
def test_a_warehouse_left_readable_is_tightened_by_the_next_night(night):
    inbox, warehouse = night
    folder = warehouse.parent
    leftover = folder / "builds" / "20240101T000000-1.duckdb"  # a blocked night's candidate
    shutil.copy(warehouse, leftover)
    loosen(warehouse)
    assert readable_by_others(folder) != []
    write_policies(inbox, date(2024, 1, 5), HECHI, 10, Decimal("50.00"))
    result = load(inbox, warehouse)
    assert result.published, result.summary()
    # all in it; the folder itself, which existed, is the operator's (it may be a home)
    assert readable_by_others(folder) == ["755 ."]
    assert mode(warehouse) == 0o400
    assert {mode(p) for p in (folder / "versions").iterdir()} == {0o400}


@pytest.mark.slow
def test_links_and_special_files_in_the_inbox_are_never_followed(night, tmp_path):
    inbox, warehouse = night
    key = warehouse.parent / "state" / "hmac.key"
    secret = key.read_bytes()
    # a link to the HMAC key posing as an extract (its .ok a real file) and as a report
    (inbox / "insurer" / "JS_POLICY_20240105.csv").symlink_to(key)
    (inbox / "insurer" / "JS_POLICY_20240105.ok").touch()
    (inbox / "reports" / "河池市计生协2024年1月工作月报.xlsx").symlink_to(key)
    # a linked folder holding a workbook, and a FIFO that would block whoever opened it
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "关爱保险指导性任务数_2024.xlsx").write_bytes(secret)
    (inbox / "targets" / "more").symlink_to(outside, target_is_directory=True)
    os.mkfifo(inbox / "reports" / "pipe.xlsx")
    unsafe = {
        "insurer/JS_POLICY_20240105.csv",
        "reports/河池市计生协2024年1月工作月报.xlsx",
        "targets/more",
        "reports/pipe.xlsx",
    }

    result = load(inbox, warehouse)
    assert result.published, result.summary()
    received = audit(warehouse)
    assert {n: received.get(n, ())[:3] for n in unsafe} == {
        n: ("unknown", "rejected", "unsafe_file") for n in unsafe
    }
    assert not any(n.startswith("targets/more/") for n in received)  # not descended
    landing = warehouse.parent / "state" / "landing"
    assert all(p.read_bytes() != secret for p in landing.iterdir())
    with duckdb.connect(str(warehouse), read_only=True) as con:
        shown = con.execute(
            "SELECT file_name, status, reason FROM marts.load_audit "
            "WHERE file_name IN (SELECT unnest(?))",
            [sorted(unsafe)],
        ).fetchall()
    assert len(shown) == 4 and all("never followed" in reason for _, _, reason in shown)

    # the state rebuilt from the archive: the entries never landed are rejected again
    again = load(None, warehouse, from_archive=True)
    assert again.published, again.summary()
    assert {n: audit(warehouse)[n][:3] for n in unsafe} == {n: received[n][:3] for n in unsafe}


STRAYS = {
    "reports/河池市计生协2024年1月月报.docx": b"PK\x03\x04 a Word file",
    "insurer/readme.txt": b"extracts arrive at 01:30",
    "reports/说明\n备注.txt": b"a newline in the name",
    "reports/\x1b[31m红色.txt": b"an escape sequence in the name",
    "README.txt": b"at the top of the inbox",
    "reports/张三13912345678.docx": b"a phone number in the name",
    os.fsdecode(b"reports/\xc4\xe3\xba\xc3.txt"): b"a name in GBK bytes, not UTF-8",
}
RECORDED = {
    "reports/河池市计生协2024年1月月报.docx",
    "insurer/readme.txt",
    "reports/说明\\n备注.txt",
    "reports/\\x1b[31m红色.txt",
    "README.txt",
    "reports/张三139****5678.docx",
    "reports/\\xc4\\xe3\\xba\\xc3.txt",
}


@pytest.mark.slow
def test_stray_files_are_rejected_unknown_and_every_night_publishes(night):
    inbox, warehouse = night
    for name, data in STRAYS.items():
        (inbox / name).write_bytes(data)

    first = load(inbox, warehouse)
    assert first.published, first.summary()
    received = audit(warehouse)
    assert {n: received.get(n, ())[:3] for n in RECORDED} == {
        n: ("unknown", "rejected", "unknown_file") for n in RECORDED
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT file_name FROM marts.load_audit").fetchall()]
    assert RECORDED <= set(names)
    assert not any(re.search(r"[\x00-\x1f\x7f]", n) or PERSONAL.search(n) for n in names)

    # the next night, the strays still there, and a night after they are gone
    write_policies(inbox, date(2024, 1, 5), HECHI, 10, Decimal("50.00"))
    second = load(inbox, warehouse)
    assert second.published, second.summary()
    for name in STRAYS:
        (inbox / name).unlink()
    write_policies(inbox, date(2024, 1, 20), HECHI, 10, Decimal("50.00"), first_no=910000)
    third = load(inbox, warehouse)
    assert third.published, third.summary()
    assert {n: audit(warehouse)[n][:3] for n in RECORDED} == {n: received[n][:3] for n in RECORDED}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(UNITS_2024).fetchone() == (40,)


@pytest.fixture
def blocked(night):
    """A night blocked by the gate: 河池市's first 2024 extract keyed in 分 instead of 元 (100x
    a unit's price, under the parser's row threshold: only the gate's city-year check sees it).
    (inbox, warehouse, the published file's digest, what `fpa load` printed)."""
    inbox, warehouse = night
    before = published_sha(warehouse)
    write_policies(inbox, date(2024, 1, 5), HECHI, 40, Decimal("5000.00"))
    r = fpa("load", "--inbox", str(inbox), "--warehouse", str(warehouse))
    assert r.returncode == 1, r.stdout + r.stderr
    assert published_sha(warehouse) == before
    return inbox, warehouse, before, r.stdout


@pytest.mark.slow
def test_a_blocked_night_says_what_blocks_it_and_the_command_that_gets_past_it(blocked):
    inbox, warehouse, before, printed = blocked
    print(printed)  # the message, as an operator reads it (pytest -s)
    assert (
        "BLOCKING insurance_city_year.unit_premium_within_unit_factor_of_band "
        "on marts.insurance_city_year" in printed
    )
    assert "city_name=河池市, year=2024" in printed and "ratio_to_band=83.3" in printed
    assert "file(s) behind it" in printed and "insurer/JS_POLICY_20240105.csv" in printed
    assert not PERSONAL.search(printed)
    # the candidate it left for inspection is the owner's only
    assert {mode(p) for p in (warehouse.parent / "builds").glob("*.duckdb")} == {0o600}

    (set_aside,) = printed_commands(printed, "set-aside")
    assert "--file insurer/JS_POLICY_20240105.csv" in set_aside
    r = run_printed(set_aside)
    assert r.returncode == 0, r.stdout + r.stderr
    (again,) = printed_commands(printed, "load")
    r = run_printed(again)
    assert r.returncode == 0 and "published" in r.stdout, r.stdout + r.stderr
    assert published_sha(warehouse) != before
    source, status, code, reason = audit(warehouse)["insurer/JS_POLICY_20240105.csv"]
    assert (status, code) == ("rejected", "set_aside")
    assert "blocked insurance_city_year.unit_premium_within_unit_factor_of_band" in reason
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(UNITS_2024).fetchone() == (0,)  # its rows count nowhere
    with duckdb.connect(str(warehouse.parent / "state" / "state.duckdb"), read_only=True) as con:
        (sha,) = con.execute(
            "SELECT file_sha256 FROM audit.load_audit WHERE file_name = ?",
            ["insurer/JS_POLICY_20240105.csv"],
        ).fetchone()
    assert (warehouse.parent / "state" / "landing" / sha).exists()  # its copy is kept
    # the file is still in the inbox: the next night has nothing new and keeps it out
    r = run_printed(again)
    assert r.returncode == 0 and "nothing new" in r.stdout, r.stdout + r.stderr

    # and it can be brought back from its landing copy: it counts again
    name = "insurer/JS_POLICY_20240105.csv"
    r = fpa("set-aside", "--undo", "--warehouse", str(warehouse), "--file", name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert audit(warehouse)[name][1] == "loaded"


@pytest.mark.slow
def test_an_allowance_with_who_why_and_until_gets_past_the_block(blocked):
    inbox, warehouse, before, printed = blocked
    (allow,) = printed_commands(printed, "allow")
    assert "--row 'city_name=河池市,year=2024,product_code=JSGA'" in allow
    # an entry says who, why and until: refused without
    for placeholder, value, refusal in (
        ("--who WHO", "--who WHO", "for you to fill in"),  # as printed: who and why are yours
        ("--who WHO", "--who ''", "lacks who"),
        ("--why WHY", "--why ' '", "lacks why"),
        (re.search(r"--until \S+", allow)[0], "--until 2020-01-01", "in the past"),
        ("--expectation insurance_city_year.", "--expectation nosuch.", "no expectation"),
    ):
        r = run_printed(allow.replace(placeholder, value))
        assert r.returncode == 2 and refusal in r.stderr, (value, r.stderr)
    assert not (warehouse.parent / "allow_list.yml").exists()

    mine = allow.replace("--who WHO", "--who 数据组").replace("--why WHY", "--why 保险公司确认")
    r = run_printed(mine)
    assert r.returncode == 0, r.stdout + r.stderr
    assert mode(warehouse.parent / "allow_list.yml") == 0o600
    (again,) = printed_commands(printed, "load")
    r = run_printed(again)
    assert r.returncode == 0 and "published" in r.stdout, r.stdout + r.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(UNITS_2024).fetchone() == (80,)
        (observed,) = con.execute(
            "SELECT observed FROM marts.quality_results WHERE success "
            "AND expectation = 'unit_premium_within_unit_factor_of_band' "
            "AND observed LIKE 'allowed by 数据组%'"
        ).fetchone()
    assert "保险公司确认" in observed


def test_an_expired_or_incomplete_allowance_does_not_apply_and_the_verdict_says_so(tmp_path):
    from fpa.gate import Check, GateResult, _apply_allow_list, read_allow_list

    warehouse = tmp_path / "fpa.duckdb"
    (tmp_path / "allow_list.yml").write_text(
        "- {suite: insurance_city_year, expectation: unit_premium_within_unit_factor_of_band,\n"
        "   who: 数据组, why: 已核实, until: 2026-01-31, rows: [{city_name: 河池市}]}\n"
        "- {suite: insurance_city_year, expectation: completion_rate_only_with_target,\n"
        "   why: 无人负责, until: 2099-01-01}\n"
        # personal data is never allowed out, whoever writes it and however well argued
        "- {suite: personal_data, expectation: no_id_or_phone_published,\n"
        "   who: 数据组, why: 已核实, until: 2099-01-01}\n",
        encoding="utf-8",
    )
    today = date(2026, 2, 1)
    entries = read_allow_list(warehouse, today)
    assert entries.active == [] and len(entries.expired) == 1
    assert len(entries.problems) == 2 and "lacks who" in entries.problems[0]
    assert "personal data is never allowed out" in entries.problems[1]
    result = GateResult("run", datetime(2026, 2, 1, 3, 0), allow_problems=entries.problems)
    result.checks = [
        Check("insurance_city_year", e, "blocking", False, "1 row(s): city_name=河池市",
              rows=[{"city_name": "河池市"}], table="marts.insurance_city_year")
        for e in ("unit_premium_within_unit_factor_of_band", "completion_rate_only_with_target")
    ]  # fmt: skip
    _apply_allow_list(result, entries)
    assert result.blocked
    verdict = result.verdict()
    assert "expired on 2026-01-31" in verdict and "no longer applied" in verdict
    assert "entry 2: the entry for" in verdict and "not applied" in verdict
    # the day before it expired, the same entry applies
    entries = read_allow_list(warehouse, today - timedelta(days=2))
    result.checks[0].success = False
    _apply_allow_list(result, entries)
    assert result.checks[0].success and "allowed by 数据组" in result.checks[0].observed


@pytest.mark.slow
def test_a_failed_build_names_the_node_and_the_file_new_since_the_last_publication(night):
    """A parser letting a bad value through (planted in the raw rows of the night's one new
    file): dbt's test fails, the night names it and the file, and setting it aside publishes."""
    inbox, warehouse = night
    write_policies(inbox, date(2024, 1, 5), HECHI, 10, Decimal("50.00"))
    r = fpa("ingest", "--inbox", str(inbox), "--warehouse", str(warehouse))
    assert r.returncode == 0, r.stderr
    with duckdb.connect(str(warehouse.parent / "state" / "state.duckdb")) as con:
        con.execute(
            "UPDATE raw.insurer_policies SET status = '作废' WHERE file_sha256 IN "
            "(SELECT file_sha256 FROM audit.load_audit "
            "WHERE file_name = 'insurer/JS_POLICY_20240105.csv')"
        )
    r = fpa("load", "--inbox", str(inbox), "--warehouse", str(warehouse))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED test accepted_values of stg_insurer__policies.policy_status" in r.stdout
    assert "the one file loaded since the last publication is insurer/JS_POLICY_20240105.csv" in (
        r.stdout
    )
    (set_aside,) = printed_commands(r.stdout, "set-aside")
    assert run_printed(set_aside).returncode == 0
    (again,) = printed_commands(r.stdout, "load")
    r = run_printed(again)
    assert r.returncode == 0 and "published" in r.stdout, r.stdout + r.stderr


@pytest.mark.slow
def test_personal_data_in_a_published_table_names_the_file_to_set_aside(base, tmp_path):
    from fpa.clock import CST
    from fpa.gate import run_gate

    inbox, warehouse = copy_night(base[1], base[0], tmp_path)
    candidate = tmp_path / "candidate.duckdb"
    shutil.copy(warehouse, candidate)
    os.chmod(candidate, 0o600)
    leaked, file_name = "45120219850612011X", "reports/河池市计生协2023年5月工作月报.xlsx"
    with duckdb.connect(str(candidate)) as con:
        con.execute(
            "UPDATE marts.load_audit SET reason = '见 ' || ? WHERE file_name = ?",
            [leaked, file_name],
        )
    result = run_gate(candidate, warehouse, "test-run", datetime.now(CST))
    (check,) = result.failed("blocking")
    assert check.expectation == "no_id_or_phone_published" and check.files == [file_name]
    way_out = "\n".join(result.way_out(warehouse))
    assert f"--file {shlex.quote(file_name)}" in way_out and "fpa allow" not in way_out
    assert leaked not in result.verdict() + way_out


def test_the_airflow_admin_password_is_owner_only_and_never_logged(tmp_path):
    from fpa.orchestration import local

    home = tmp_path / "airflow"
    home.mkdir()
    log = local.log_file(home)
    log.write_text("Simple auth manager | Password for user 'admin': s3cretPassw0rdXY\n")
    os.chmod(log, 0o644)
    local.redact_log(log)
    assert "s3cretPassw0rdXY" not in log.read_text() and mode(log) == 0o600
    password = local.make_admin_password(home)
    assert mode(local.password_file(home)) == 0o600 and local.admin_password(home) == password
    # what the API server's workers and standalone do at start: found there, nothing printed
    code = (
        "from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import "
        "SimpleAuthManager as M; M().init(); print(M.get_passwords(M.get_users())['admin'])"
    )
    env = local.airflow_env(home, AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == [password]  # the same, and not printed by init
    assert local.make_admin_password(home) == password  # made once


def test_the_new_commands_have_help():
    for cmd in ("allow", "set-aside"):
        r = fpa(cmd, "--help")
        assert r.returncode == 0 and "usage: fpa" in r.stdout, cmd


def test_setting_aside_a_revised_report_brings_back_the_one_it_replaced(tmp_path):
    """A report's correction set aside: the earlier report counts for its city and month again,
    the correction's rows are gone, the operator's words kept without the phone number typed
    in them; --undo reads it again from its landing copy."""
    from fpa.ingest import ingest
    from fpa.night import set_aside, undo_set_aside

    inbox = tmp_path / "inbox"
    generate(inbox, [2023], "small", 7)  # with its deviations: corrected reports among them
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    ingest(inbox, warehouse)
    state = warehouse.parent / "state" / "state.duckdb"
    current = (
        "SELECT a.file_name, a.file_sha256, a.status FROM raw.reports r "
        "JOIN audit.load_audit a USING (file_sha256) WHERE r.city_code = ? AND r.month = ? "
        "AND r.is_current"
    )
    with duckdb.connect(str(state), read_only=True) as con:
        earlier, city, month = con.execute(
            "SELECT a.file_name, r.city_code, r.month FROM audit.load_audit a "
            "JOIN raw.reports r USING (file_sha256) WHERE a.status = 'superseded' "
            "ORDER BY a.file_name LIMIT 1"
        ).fetchone()
        correction, sha, _ = con.execute(current, [city, month]).fetchone()
    (done,) = set_aside(warehouse, correction, "重复报送，联系人 13912345678", who="数据组")
    assert done.rows_out > 0
    with duckdb.connect(str(state), read_only=True) as con:
        assert con.execute(current, [city, month]).fetchone() == (
            earlier,
            con.execute(
                "SELECT file_sha256 FROM audit.load_audit WHERE file_name = ?", [earlier]
            ).fetchone()[0],
            "loaded",
        )
        assert con.execute(
            "SELECT count(*) FROM raw.report_activities WHERE file_sha256 = ?", [sha]
        ).fetchone() == (0,)
    status, code, reason = audit(warehouse)[correction][1:]
    assert (status, code) == ("rejected", "set_aside")
    assert "数据组" in reason and "139****5678" in reason and "13912345678" not in reason

    undo_set_aside(warehouse, correction)
    assert audit(warehouse)[correction][1] == "loaded"
    with duckdb.connect(str(state), read_only=True) as con:
        assert con.execute(current, [city, month]).fetchone()[0] == correction


def test_fpa_load_while_another_run_writes_says_so_and_leaves_no_dbt_process(tmp_path):
    """`fpa load` starts dbt's process first thing (its import overlaps the night's own); when
    another run holds the state, the command says so and that process is ended, not left
    waiting for a job."""
    import uuid

    import psutil

    from fpa.state import StatePaths, locked

    inbox = tmp_path / "inbox"
    write_policies(inbox, date(2024, 3, 1), ("451202", "金城江区", "河池市"), 3, Decimal("50.00"))
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    mark = uuid.uuid4().hex
    env = {**os.environ, "FPA_TEST_MARK": mark}

    def marked() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter():
            try:
                if p.environ().get("FPA_TEST_MARK") == mark:
                    found.append(p)
            except psutil.Error:  # ended, or not ours to read
                pass
        return found

    with locked(StatePaths(warehouse)):
        out = subprocess.run(
            [sys.executable, "-m", "fpa.cli", "load", "--inbox", str(inbox),
             "--warehouse", str(warehouse)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "another run is writing" in out.stderr
    assert marked() == []
