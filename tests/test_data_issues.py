"""marts.data_issues, marts.reporting_rates and report_completeness's due dates: the loop with
the data providers. Through real nights (`fpa.night.load`) on deliveries written here, an issue
opens, stays open under the same issue_id when the correction still has the problem, and is
resolved by the delivery that mends it; on the generator's messy inbox every reporting KPI and
every issue equals the generator's truth; the Chinese texts live in one seed that lists every
reason code there is."""

import csv
import os
import re
from datetime import date, datetime, timedelta

import duckdb
import pytest
import yaml
from support.equal_builds import equals_a_build_from_nothing
from support.extracts import arrival, broken, person, policy, policy_file
from support.personal_scan import in_clear
from support.truth import read_truth, truth_of
from support.workbooks import act, book, train

from fpa.clock import CST
from fpa.night import load
from fpa.paths import DBT_DIR, PROJECT_ROOT
from fpa.quarantine import DESCRIPTIONS, Reason

HECHI = "451200"
MAY = "河池市计生协2023年5月工作月报.xlsx"


def due(month: date) -> datetime:
    """KPIS.md: 23:59:59 CST on the 10th of the following month."""
    nxt = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime(nxt.year, nxt.month, 10, 23, 59, 59, tzinfo=CST)


def issues(warehouse) -> dict[tuple, dict]:
    """The published data issues by what the test knows of them: (kind, provider, month,
    reason_code) — unique among the deliveries written here."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cur = con.execute("SELECT * FROM marts.data_issues")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    out = {}
    for r in rows:
        key = (r["kind"], r["provider"], r["month"], r["reason_code"])
        assert key not in out or r["kind"] in ("report_missing", "report_late"), key
        out[key] = r
    return out


def night(inbox, warehouse):
    result = load(inbox, warehouse)
    assert result.published, result.summary()
    return issues(warehouse)


@pytest.mark.slow
def test_issues_open_stay_open_with_the_same_id_and_are_resolved_by_the_mending_delivery(
    tmp_path,
):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "wh" / "fpa.duckdb"
    may, june, july = date(2023, 5, 1), date(2023, 6, 1), date(2023, 7, 1)
    # night 1: 河池's May report names 秀峰区 (桂林市) on its second activity row (row 5: title,
    # 填报单位, header, rows); its June workbook is corrupt; July's never came. The insurer's
    # 1 June extract has a policy with a wrong check digit, its 2 June extract was cut short.
    book(inbox, MAY, [act(), act("秀峰区")], [train()], when=arrival(date(2023, 6, 5), 10))
    corrupt = inbox / "reports" / "河池市计生协2023年6月工作月报.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 not a whole workbook")
    os.utime(corrupt, (arrival(date(2023, 7, 5), 10),) * 2)
    bad_id = broken(person(3))
    policy_file(
        inbox,
        date(2023, 6, 1),
        [
            policy("GA2023450000001", date(2023, 6, 1), person(1)),
            policy("GA2023450000002", date(2023, 6, 1), person(2)),
            policy("GA2023450000003", date(2023, 6, 1), bad_id),
        ],
        arrival(date(2023, 6, 2)),
    )
    policy_file(
        inbox,
        date(2023, 6, 2),
        [policy("GA2023450000004", date(2023, 6, 2), person(4))],
        arrival(date(2023, 6, 3)),
        cut=True,
    )
    first = night(inbox, warehouse)
    row = first["row_quarantined", HECHI, may, "county_of_other_city"]
    assert (row["status"], row["file_name"], row["row_number"], row["field"]) == (
        "open",
        f"reports/{MAY}",
        5,
        "县（市、区）",
    )
    assert "「活动」表第5行" in row["reason"] and "秀峰区" in row["reason"]
    assert row["detected_at"] == datetime.fromtimestamp(arrival(date(2023, 6, 5), 10), CST)
    rejected = first["file_rejected", HECHI, june, "workbook_corrupt"]
    assert (rejected["status"], rejected["file_name"]) == ("open", f"reports/{corrupt.name}")
    missing = first["report_missing", HECHI, july, None]
    assert (missing["status"], missing["detected_at"], missing["resolved_at"]) == (
        "open",
        due(july),
        None,
    )
    insurer_row = first["row_quarantined", "insurer", date(2023, 6, 1), "bad_id_checksum"]
    assert (insurer_row["status"], insurer_row["row_number"], insurer_row["city_code"]) == (
        "open",
        4,  # header, two good policies, then the bad one
        HECHI,
    )
    assert bad_id not in insurer_row["reason"] and bad_id[:6] + "*" * 12 in insurer_row["reason"]
    cut = first["file_rejected", "insurer", date(2023, 6, 2), "trailer_missing"]
    assert cut["status"] == "open" and cut["city_code"] is None
    # June: the corrupt workbook is all 河池 sent for it, past its due date
    assert first["report_missing", HECHI, june, None]["status"] == "open"
    opened = {r["issue_id"] for r in first.values() if r["status"] == "open"}

    # night 2: the May correction (更正) still has 秀峰区, now on row 6; the insurer's next
    # extract has nothing to do with the bad policy
    book(
        inbox,
        "河池市计生协2023年5月工作月报更正.xlsx",
        [act(), act("宜州区"), act("秀峰区")],
        [train()],
        filled="2023年6月20日",
        when=arrival(date(2023, 6, 20), 10),
    )
    policy_file(
        inbox,
        date(2023, 6, 10),
        [policy("GA2023450000005", date(2023, 6, 10), person(5))],
        arrival(date(2023, 6, 11)),
    )
    second = night(inbox, warehouse)
    assert {r["issue_id"] for r in second.values() if r["status"] == "open"} == opened
    again = second["row_quarantined", HECHI, may, "county_of_other_city"]
    assert (again["issue_id"], again["status"], again["detected_at"]) == (
        row["issue_id"],
        "open",
        row["detected_at"],
    )
    # shown as the city delivered it last: the correction, its row
    assert (again["file_name"], again["row_number"]) == (
        "reports/河池市计生协2023年5月工作月报更正.xlsx",
        6,
    )

    # night 3: a second May correction without the row (the later 填报日期 counts), June's
    # report whole (on time), July's at last (late), the bad policy again with a good ID, the
    # 2 June extract whole
    mended_at = arrival(date(2023, 6, 28), 10)
    book(
        inbox,
        "河池市计生协2023年5月工作月报更正2.xlsx",
        [act(), act("宜州区")],
        [train()],
        filled="2023年6月27日",
        when=mended_at,
    )
    june_at, july_at = arrival(date(2023, 7, 8), 10), arrival(date(2023, 8, 20), 10)
    book(
        inbox,
        "河池市计生协2023年6月工作月报.xlsx",
        [act(date_="2023-06-10")],
        [train("2023-06-12", "2023-06-12")],
        title="河池市计生协2023年6月",
        filled="2023年7月8日",
        when=june_at,
    )
    book(
        inbox,
        "河池市计生协2023年7月工作月报.xlsx",
        [act(date_="2023-07-10")],
        [train("2023-07-12", "2023-07-12")],
        title="河池市计生协2023年7月",
        filled="2023年8月20日",
        when=july_at,
    )
    policy_at = arrival(date(2023, 6, 16))
    policy_file(
        inbox,
        date(2023, 6, 15),
        [policy("GA2023450000003", date(2023, 6, 1), person(3), changed=date(2023, 6, 15))],
        policy_at,
    )
    resent_at = arrival(date(2023, 6, 4))
    policy_file(
        inbox,
        date(2023, 6, 2),
        [policy("GA2023450000004", date(2023, 6, 2), person(4))],
        resent_at,
        name="JS_POLICY_20230602(1).csv",
    )
    third = night(inbox, warehouse)

    def when(ts):
        return datetime.fromtimestamp(ts, CST)

    resolved = {
        ("row_quarantined", HECHI, may, "county_of_other_city"): when(mended_at),
        ("file_rejected", HECHI, june, "workbook_corrupt"): when(june_at),
        ("row_quarantined", "insurer", date(2023, 6, 1), "bad_id_checksum"): when(policy_at),
        ("file_rejected", "insurer", date(2023, 6, 2), "trailer_missing"): when(resent_at),
    }
    for key, at in resolved.items():
        r = third[key]
        assert (r["issue_id"], r["status"], r["resolved_at"]) == (
            first[key]["issue_id"],
            "resolved",
            at,
        ), key
    # July's report: the same issue, now a late report, resolved when it came
    late = third["report_late", HECHI, july, None]
    assert (late["issue_id"], late["status"], late["resolved_at"], late["detected_at"]) == (
        missing["issue_id"],
        "resolved",
        when(july_at),
        due(july),
    )
    assert "晚于报送期限（2023年8月10日）10天" in late["reason"]
    # June's report came in time: no reporting issue for June any more
    assert ("report_missing", HECHI, june, None) not in third
    assert ("report_late", HECHI, june, None) not in third
    still_open = {r["issue_id"] for r in third.values() if r["status"] == "open"}
    gone = {first[k]["issue_id"] for k in resolved} | {
        missing["issue_id"],
        first["report_missing", HECHI, june, None]["issue_id"],
    }
    assert still_open == opened - gone
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rates = con.execute(
            "SELECT month, expected_reports, reports_received, reports_on_time "
            "FROM marts.reporting_rates WHERE city_code = ? AND month BETWEEN ? AND ? "
            "ORDER BY month",
            [HECHI, may, july],
        ).fetchall()
    # May: on 5 June; June: on 8 July; July: on 20 August, late
    assert rates == [(may, 1, 1, 1), (june, 1, 1, 1), (july, 1, 1, 0)]
    # the resolutions kept night by night (int_issues__policy_resolutions) are what every
    # version read at once finds
    equals_a_build_from_nothing(warehouse, tmp_path / "from-nothing")


# ---- the generator's messy inbox ---------------------------------------------------------------


def _key(r: dict) -> tuple:
    return (r["provider"], r["kind"], r["month"], r["file_name"], r["row_number"], r["reason_code"])


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.astimezone(CST).isoformat()
    return str(v)


def _build_window(small_night) -> tuple[datetime, datetime]:
    """When dbt ran (its run_started_at is the marts' "now"): after the night's start (its run
    id) and before the gate that judged the build."""
    warehouse, result = small_night
    start = datetime.strptime(result.run_id.split("-")[0], "%Y%m%dT%H%M%S").replace(tzinfo=CST)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (gate,) = con.execute("SELECT max(run_at) FROM marts.quality_results").fetchone()
    return start, gate


def _due_by_the_build(small_night, last: date) -> list[tuple[datetime, list[date]]]:
    """The months after `last` due by the build's "now", read once between the night's start
    and its gate: as at the start, and as at the gate (the same unless a due date passed
    between the two; then the build saw one of them)."""
    return [(moment, _months_due(moment, last)) for moment in _build_window(small_night)]


def _months_due(now: datetime, after: date) -> list[date]:
    months, m = [], after
    while True:
        m = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
        if due(m) >= now:
            return months
        months.append(m)


@pytest.mark.slow
def test_every_issue_of_the_messy_inbox_equals_the_truth(small_inbox, small_night):
    warehouse, _ = small_night
    truth = read_truth(small_inbox, "data_issues")
    # the generator's last month (its range ends in December)
    last = date.fromisoformat(max(t["month"] for t in read_truth(small_inbox, "reporting_rates")))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cur = con.execute("SELECT * FROM marts.data_issues")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, (_text(v) for v in r), strict=True)) for r in cur.fetchall()]
    reporting = ("report_missing", "report_late")
    within = [r for r in rows if r["kind"] not in reporting or r["month"] <= last.isoformat()]
    got = {_key(r): r for r in within}
    want = {_key(t): t for t in truth}
    assert len(got) == len(within) and set(got) == set(want)
    columns = [c for c in truth[0] if c not in ("provider", "kind", "month", "file_name")]
    wrong = [
        (k, c, got[k][c], want[k][c]) for k in want for c in columns if got[k][c] != want[k][c]
    ]
    assert wrong == []
    # every kind the generator plants is there, open and resolved
    kinds = {(t["kind"], t["status"]) for t in truth}
    assert kinds >= {
        ("file_rejected", "open"),
        ("file_rejected", "resolved"),
        ("row_quarantined", "open"),
        ("report_missing", "open"),
        ("report_late", "resolved"),
    }
    # after the generator's range nothing was delivered: every month due by the build is missing
    beyond = sorted(
        (r["provider"], r["month"], r["status"], r["detected_at"])
        for r in rows
        if r["kind"] in reporting and r["month"] > last.isoformat()
    )
    cities = sorted(
        c["city_code"]
        for c in csv.DictReader(open(DBT_DIR / "seeds" / "regions_cities.csv", encoding="utf-8"))
    )
    assert beyond in [
        sorted((c, m.isoformat(), "open", due(m).isoformat()) for c in cities for m in after)
        for _, after in _due_by_the_build(small_night, last)
    ]
    # no ID number or phone in clear (the gate's pattern), the masked ones are there
    text = "\n".join(v for r in rows for v in r.values())
    assert in_clear(text) == [] and "************" in text


@pytest.mark.slow
def test_reporting_rates_and_due_dates_equal_the_truth_and_expect_every_month_due(
    small_inbox, small_night
):
    warehouse, _ = small_night
    truth = read_truth(small_inbox, "reporting_rates")
    last = max(t["month"] for t in truth)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        got = {
            (str(m), c or ""): (e, r, o, rate, on)
            for m, c, e, r, o, rate, on in con.execute(
                "SELECT month, city_code, expected_reports, reports_received, reports_on_time, "
                "reporting_rate, reporting_rate_on_time FROM marts.reporting_rates"
            ).fetchall()
        }
        completeness = con.execute(
            "SELECT month, received, due_at, on_time FROM marts.report_completeness "
            "WHERE month > ?",
            [last],
        ).fetchall()
        (province_name,) = con.execute(
            "SELECT DISTINCT city_name FROM marts.reporting_rates WHERE city_code IS NULL"
        ).fetchone()
    for t in truth:
        e, r, o, rate, on = got[(t["month"], t["city_code"])]
        assert (e, r, o) == (
            int(t["expected_reports"]),
            int(t["reports_received"]),
            int(t["reports_on_time"]),
        )
        assert rate == pytest.approx(float(t["reporting_rate"]))
        assert on == pytest.approx(float(t["reporting_rate_on_time"]))
    assert province_name == "广西壮族自治区"
    # the province, 2024 (the year the small inbox has reports for): received / expected
    year = [t for t in truth if t["city_code"] == "" and t["month"].startswith("2024")]
    assert sum(int(t["reports_received"]) for t in year) < 14 * 12
    # after the range: the months due by the build, each expected and not received
    beyond = sorted(k for k in got if k[0] > last)
    seen = [
        moment
        for moment, after in _due_by_the_build(small_night, date.fromisoformat(last))
        if beyond == sorted((m.isoformat(), c) for m in after for c in [""] + _city_codes())
    ]
    assert seen, beyond
    start = seen[0]  # a "now" the build could have read
    assert all(got[k][:3] == ((14 if k[1] == "" else 1), 0, 0) for k in beyond)
    # report_completeness runs to the December of the build's year: due dates as the contract
    # says, nothing received, on_time false once due and unknown (NULL) before
    assert {m.year for m, *_ in completeness} == set(range(int(last[:4]) + 1, start.year + 1))
    for m, received, due_at, on_time in completeness:
        assert (received, due_at) == (False, due(m))
        assert on_time is (False if due(m) < start else None)


def _city_codes() -> list[str]:
    with open(DBT_DIR / "seeds" / "regions_cities.csv", encoding="utf-8") as f:
        return [c["city_code"] for c in csv.DictReader(f)]


def test_the_truth_of_the_reporting_holds_for_a_build_after_the_range(small_inbox):
    summary = yaml.safe_load((truth_of(small_inbox) / "summary.json").read_text(encoding="utf-8"))
    assert summary["reporting_complete_after"] == "2025-01-10T23:59:59+08:00"


# ---- the reason codes: one seed --------------------------------------------------------------


def test_the_reason_code_seed_lists_every_reason_once_with_its_english_and_chinese():
    with open(DBT_DIR / "seeds" / "reason_codes.csv", encoding="utf-8", newline="") as f:
        seed = list(csv.DictReader(f))
    assert list(seed[0]) == [
        "reason_code", "level", "description", "reason_zh", "action_zh", "label_zh"
    ]  # fmt: skip
    assert all(0 < len(r["label_zh"]) <= 12 for r in seed)  # a chart's axis label
    codes = [r["reason_code"] for r in seed]
    assert sorted(codes) == sorted(str(r) for r in Reason) and len(set(codes)) == len(codes)
    assert {r["reason_code"]: r["description"] for r in seed} == {
        str(k): v for k, v in DESCRIPTIONS.items()
    }
    # the Python's codes are the seed's, and every one the code names is there (a name the
    # seed lacks would fail only when that rare path runs)
    named = {
        m
        for f in (PROJECT_ROOT / "src").rglob("*.py")
        for m in re.findall(r"\bReason\.([A-Z_]+)\b", f.read_text(encoding="utf-8"))
    }
    assert named and named <= set(Reason.__members__)
    # dbt tests the quarantine's codes against the seed; no other list of them is written
    marts = yaml.safe_load(
        (DBT_DIR / "models" / "marts" / "quality" / "_quality__models.yml").read_text("utf-8")
    )
    quarantine = next(m for m in marts["models"] if m["name"] == "quarantine")
    column = next(c for c in quarantine["columns"] if c["name"] == "reason_code")
    assert column["data_tests"] == [
        {"relationships": {"arguments": {"to": "ref('reason_codes')", "field": "reason_code"}}}
    ]
    suites = (PROJECT_ROOT / "expectations" / "suites.yml").read_text("utf-8")
    assert not [
        r["reason_code"] for r in seed if r["level"] == "row" and r["reason_code"] in suites
    ]
    assert {r["level"] for r in seed} == {"row", "file"}
    for r in seed:
        assert r["reason_zh"] and r["action_zh"], r["reason_code"]
        # Chinese, and the only placeholders are the two data_issues fills in
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r["reason_zh"] + r["action_zh"])
        left = r["reason_zh"].replace("{field}", "").replace("{value}", "")
        assert "{" not in left and "}" not in left, r["reason_code"]
