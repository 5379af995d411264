"""Each deviation of the source contracts, by name, on small hand-built deliveries with the
values written here: what loads, what is quarantined and why, what is rejected."""

import os
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from support.workbooks import NAME, act, activities, audit, book, load, reasons, train

from fpa import reference
from fpa.generate.workbooks import Sheet, xlsx_bytes
from fpa.ingest import ingest
from fpa.normalise.ids import check_digit
from fpa.personal import PersonHasher, load_key
from fpa.quarantine import Reason
from fpa.sources import insurer, reports
from fpa.sources.common import Rejected
from fpa.sources.insurer import CLAIM_COLUMNS, POLICY_COLUMNS, transcode
from fpa.sources.spreadsheet import Limits
from fpa.state import RowBuffer


def an_id(body: str = "45120219850612011") -> str:
    return body + check_digit(body)


def policy(
    no="GA2023450000001",
    units=2,
    premium="100.00",
    id_=None,
    county="金城江区",
    status="有效",
    changed="",
    written="2023-03-01",
    product="JSGA",
):
    return [
        no,
        product,
        "计生家庭关爱保险",
        written,
        "2023-03-02",
        "2024-03-01",
        str(units),
        premium,
        "测试甲",
        "身份证",
        id_ or an_id(),
        "13800000001",
        "河池市",
        county,
        "中国人寿河池分公司",
        status,
        changed,
    ]


def claim(no="LP2023450000001", paid="1860.50", id_=None, product="JSGA", policy_no="GA1"):
    return [
        no,
        policy_no,
        product,
        id_ or an_id(),
        "2023-02-11",
        "2023-02-13",
        "2023-03-01",
        "意外医疗",
        paid,
        "已结案",
        "金城江区",
    ]


def csv_file(
    inbox: Path,
    name: str,
    header,
    rows,
    money: int,
    encoding="gb18030",
    ok=True,
    trailer: str | None = None,
    when: float = 1.7e9,
) -> Path:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    total = sum(Decimal(r[money]) for r in rows)
    if trailer is None:
        trailer = f"TRAILER,{len(rows)},{total:.2f}"
    text = "\r\n".join(lines + ([trailer] if trailer else [])) + "\r\n"
    path = inbox / "insurer" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    os.utime(path, (when, when))
    if ok:
        path.with_suffix(".ok").touch()
    return path


# ---- insurer extracts --------------------------------------------------------------------------


def test_lower_case_x_is_normalised_and_counts_as_the_same_person(tmp_path):
    inbox = tmp_path / "in"
    upper = an_id()
    csv_file(
        inbox,
        "JS_POLICY_20230301.csv",
        POLICY_COLUMNS,
        [policy("GA1", id_=upper), policy("GA2", id_=upper.replace("X", "x"))],
        7,
    )
    with load(inbox, tmp_path) as con:
        keys = [r[0] for r in con.execute("SELECT person_key FROM raw.insurer_policies").fetchall()]
    key = PersonHasher(load_key(tmp_path / "wh" / "state"))(upper)
    assert keys == [key, key]


def test_a_wrong_check_digit_is_quarantined_and_masked(tmp_path):
    inbox = tmp_path / "in"
    good = an_id()
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    csv_file(
        inbox,
        "JS_POLICY_20230301.csv",
        POLICY_COLUMNS,
        [policy("GA1"), policy("GA2", id_=bad), policy("GA3")],
        7,
    )
    with load(inbox, tmp_path) as con:
        assert reasons(con) == [(3, "bad_id_checksum")]
        raw = con.execute("SELECT raw_row FROM audit.quarantine").fetchone()[0]
        assert audit(con)["insurer/JS_POLICY_20230301.csv"] == ("loaded", None, 3, 2, 1)
    assert bad not in raw and "451202************" in raw and "测试甲" not in raw


def test_premium_keyed_in_wan_yuan_either_way_is_quarantined_a_refund_is_not(tmp_path):
    inbox = tmp_path / "in"
    csv_file(
        inbox,
        "JS_POLICY_20230301.csv",
        POLICY_COLUMNS,
        [
            policy("GA1", units=2, premium="100.00"),
            policy("GA2", units=1, premium="500000.00"),  # 50 元 keyed as 万元 under a 元 header
            policy("GA3", units=2, premium="0.01"),  # 100 元 written in 万元
            policy("GA4", units=3, premium="-150.00", status="退保", changed="2023-03-01"),
            policy("GA5", units=1, premium="0.00", status="满期", changed="2023-03-01"),
        ],
        7,
    )
    with load(inbox, tmp_path) as con:
        assert reasons(con) == [(3, "premium_unit_mismatch"), (4, "premium_unit_mismatch")]
        assert con.execute("SELECT sum(premium_yuan) FROM raw.insurer_policies").fetchone()[
            0
        ] == Decimal("-50.00")


def test_claims_above_the_ceiling_are_quarantined_those_without_policy_load(tmp_path):
    inbox = tmp_path / "in"
    csv_file(
        inbox,
        "JS_CLAIM_20230301.csv",
        CLAIM_COLUMNS,
        [
            claim("LP1", "1860.50", policy_no="GA-NEVER-ARRIVED"),
            claim("LP2", "200000.01"),  # JSGA ceiling 200,000
            claim("LP3", "450000.00", product="JSTS"),
        ],
        8,
    )  # JSTS ceiling 500,000
    with load(inbox, tmp_path) as con:
        assert reasons(con) == [(3, "claim_above_ceiling")]
        assert con.execute(
            "SELECT claim_no, paid_yuan FROM raw.insurer_claims ORDER BY 1"
        ).fetchall() == [("LP1", Decimal("1860.50")), ("LP3", Decimal("450000.00"))]


def test_a_utf8_file_is_read_correctly(tmp_path):
    inbox = tmp_path / "in"
    csv_file(inbox, "JS_POLICY_20230301.csv", POLICY_COLUMNS, [policy("GA1")], 7, encoding="utf-8")
    with load(inbox, tmp_path) as con:
        assert con.execute(
            "SELECT county_name, county_code, status FROM raw.insurer_policies"
        ).fetchall() == [("金城江区", "451202", "有效")]


@pytest.mark.parametrize(
    "trailer, reason",
    [
        ("", "trailer_missing"),  # the transfer was cut before the trailer
        ("TRAILER,3,300.00", "trailer_mismatch"),  # a row lost
        ("TRAILER,2,300.00", "trailer_mismatch"),  # the money does not add up
    ],
)
def test_a_file_whose_trailer_is_missing_or_wrong_is_rejected_whole(tmp_path, trailer, reason):
    inbox = tmp_path / "in"
    csv_file(
        inbox,
        "JS_POLICY_20230301.csv",
        POLICY_COLUMNS,
        [policy("GA1"), policy("GA2")],
        7,
        trailer=trailer,
    )
    with load(inbox, tmp_path) as con:
        status, code, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
        assert (status, code) == ("rejected", reason)
        assert con.execute("SELECT count(*) FROM raw.insurer_policies").fetchone()[0] == 0


def test_a_file_without_its_ok_marker_waits(tmp_path):
    inbox = tmp_path / "in"
    csv_file(inbox, "JS_POLICY_20230301.csv", POLICY_COLUMNS, [policy("GA1")], 7, ok=False)
    result = ingest(inbox, tmp_path / "wh" / "fpa.duckdb")
    assert result.waiting == ["insurer/JS_POLICY_20230301.csv"] and not result.files


def test_regions_in_insurer_rows_short_old_prefixed_spaced_or_unknown(tmp_path):
    inbox = tmp_path / "in"
    csv_file(
        inbox,
        "JS_POLICY_20230301.csv",
        POLICY_COLUMNS,
        [
            policy("GA1", county="横县"),
            policy("GA2", county="河池市金城江区"),
            policy("GA3", county=" 宜州 "),
            policy("GA4", county="火星县"),
        ],
        7,
    )
    with load(inbox, tmp_path) as con:
        assert [
            r[0]
            for r in con.execute(
                "SELECT county_code FROM raw.insurer_policies ORDER BY line"
            ).fetchall()
        ] == ["450181", "451202", "451203"]
        assert reasons(con) == [(5, "unknown_region")]


def test_an_unknown_header_is_rejected_with_what_was_expected(tmp_path):
    inbox = tmp_path / "in"
    header = POLICY_COLUMNS[:-1] + ["备注"]
    csv_file(inbox, "JS_POLICY_20230301.csv", header, [policy("GA1")], 7)
    with load(inbox, tmp_path) as con:
        status, code, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
        reason = con.execute("SELECT reason FROM audit.load_audit").fetchone()[0]
    assert (status, code) == ("rejected", "unknown_layout") and "批改日期" in reason


def test_an_unreadable_csv_is_rejected_and_the_rest_of_its_batch_loads(tmp_path):
    inbox = tmp_path / "in"
    extra = policy("GA3")
    extra.append("一列太多")  # a field more than the header: not a readable CSV
    lf = csv_file(inbox, "JS_POLICY_20230301.csv", POLICY_COLUMNS, [policy("GA1")], 7)
    lf.write_bytes(lf.read_bytes().replace(b"\r\n", b"\n"))  # LF line ends read the same
    os.utime(lf, (1.7e9, 1.7e9))
    csv_file(inbox, "JS_POLICY_20230302.csv", POLICY_COLUMNS, [policy("GA2"), extra], 7)
    csv_file(
        inbox,
        "JS_POLICY_20230303.csv",
        POLICY_COLUMNS,
        [policy("GA4"), policy("GA5", county="火星县"), policy("GA6")],
        7,
        when=1.7e9 + 1,
    )
    with load(inbox, tmp_path) as con:
        got = audit(con)
        lines = con.execute(
            "SELECT policy_no, line FROM raw.insurer_policies ORDER BY policy_no"
        ).fetchall()
        assert reasons(con) == [(3, "unknown_region")]
    assert got["insurer/JS_POLICY_20230302.csv"][:2] == ("rejected", "unknown_layout")
    assert got["insurer/JS_POLICY_20230301.csv"] == ("loaded", None, 1, 1, 0)
    assert got["insurer/JS_POLICY_20230303.csv"] == ("loaded", None, 3, 2, 1)
    assert lines == [("GA1", 2), ("GA4", 2), ("GA6", 4)]


def test_a_row_without_an_id_number_is_quarantined(tmp_path):
    inbox = tmp_path / "in"
    csv_file(inbox, "JS_POLICY_20230301.csv", POLICY_COLUMNS, [policy("GA1", id_=" ")], 7)
    with load(inbox, tmp_path) as con:
        assert reasons(con) == [(2, "bad_id_checksum")]
        assert audit(con)["insurer/JS_POLICY_20230301.csv"] == ("loaded", None, 1, 0, 1)


def test_the_person_key_in_sql_is_the_keyed_hmac():
    hasher = PersonHasher(b"a key of the warehouse")
    ids = [an_id(), an_id("45120219850612012"), "", "身份证"]
    with duckdb.connect() as con:
        hasher.install(con)
        got = [con.execute(f"SELECT {hasher.sql('?')}", [i]).fetchone()[0] for i in ids]
        plan = str(con.execute(f"EXPLAIN SELECT {hasher.sql('?')}", [ids[0]]).fetchall())
    assert got == [hasher.reference(i) for i in ids] == [hasher(i) for i in ids]
    assert "6" * 40 not in plan and "\\" * 40 not in plan  # the pads stay out of plans


def test_a_small_file_takes_the_codec_and_a_days_policies_iconv(tmp_path, monkeypatch):
    """iconv is started for a file of ICONV_FROM_BYTES or more only: an iconv that always
    fails (/bin/false) rejects the large file and not the small one."""
    monkeypatch.setattr(insurer, "ICONV", shutil.which("false"))
    line = "GA1,金城江区\r\n"
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    rows = insurer.ICONV_FROM_BYTES // len(line.encode("gb18030"))
    for path, n in ((small, rows - 100), (large, rows)):
        text = "保单号,所属县区\r\n" + line * n + f"TRAILER,{n},0.00\r\n"
        path.write_bytes(text.encode("gb18030"))
    assert transcode(small, tmp_path / "out.csv") == ("gb18030", f"TRAILER,{rows - 100},0.00")
    with pytest.raises(Rejected):
        transcode(large, tmp_path / "out.csv")


def test_transcoding_across_chunks_is_the_whole_file_decoded(tmp_path, transcoder):
    line = "GA1,计生家庭关爱保险,金城江区,测试甲乙\r\n"
    text = "保单号,险种名称,所属县区,被保险人姓名\r\n" + line * 400_000 + "TRAILER,400000,0.00\r\n"
    src = tmp_path / "in.csv"
    src.write_bytes(text.encode("gb18030"))  # > 8 MiB: lines straddle the codec's chunks
    encoding, trailer = transcode(src, tmp_path / "out.csv")
    assert (encoding, trailer) == ("gb18030", "TRAILER,400000,0.00")
    assert (tmp_path / "out.csv").read_bytes().decode() == text[: -len("TRAILER,400000,0.00\r\n")]


@pytest.mark.parametrize("end", ["", "\r\n\r\n", "\n"])
def test_the_last_line_is_the_trailer_whatever_line_ends_follow(tmp_path, transcoder, end):
    src = tmp_path / "in.csv"
    src.write_bytes(f"保单号,所属县区\r\nGA1,金城江区\r\nTRAILER,1,0.00{end}".encode("gb18030"))
    assert transcode(src, tmp_path / "out.csv") == ("gb18030", "TRAILER,1,0.00")
    assert (tmp_path / "out.csv").read_bytes().decode() == "保单号,所属县区\r\nGA1,金城江区\r\n"


def test_a_file_neither_utf8_nor_gb18030_is_rejected(tmp_path, transcoder):
    src = tmp_path / "in.csv"
    # 0xFF starts no character in either encoding
    src.write_bytes("保单号,所属县区\r\nGA1,".encode("gb18030") + b"\xff\xfe\r\nTRAILER,1,0.00\r\n")
    with pytest.raises(Rejected) as e:
        transcode(src, tmp_path / "out.csv")
    assert (e.value.code, e.value.detail) == (Reason.ENCODING, "neither UTF-8 nor GB18030")


def test_a_utf8_file_is_read_as_utf8_by_either_path(tmp_path, transcoder):
    src = tmp_path / "in.csv"
    src.write_bytes("保单号,所属县区\r\nGA1,金城江区\r\nTRAILER,1,0.00\r\n".encode())
    assert transcode(src, tmp_path / "out.csv") == ("utf-8", "TRAILER,1,0.00")
    assert (tmp_path / "out.csv").read_bytes().decode() == "保单号,所属县区\r\nGA1,金城江区\r\n"


# ---- workbooks ---------------------------------------------------------------------------------


def test_the_example_report_forms(tmp_path):
    inbox = tmp_path / "in"
    book(
        inbox,
        NAME,
        [
            act(),
            act("宜州区", "5月20日", "200多", 200, 400, None),
            act(None, "2023年5月28日—29日", 35, 35, None, "1.2万"),
        ],
        [train(), train("2023-05-25", "2023-05-25", "约60", 3, "都安瑶族自治县")],
        totals={"活动情况统计表": {"参与人数": (355, True)}},
    )
    with load(inbox, tmp_path) as con:
        assert activities(con) == [
            (
                "451202",
                120,
                False,
                150,
                300,
                Decimal("2000.00"),
                date(2023, 5, 10),
                date(2023, 5, 10),
            ),
            ("451203", 200, True, 200, 400, None, date(2023, 5, 20), date(2023, 5, 20)),
            (None, 35, False, 35, None, Decimal("12000.00"), date(2023, 5, 28), date(2023, 5, 29)),
        ]
        assert con.execute(
            "SELECT county_code, trainees, trainees_approx, "
            "trainees * (ends_on - starts_on + 1) FROM raw.report_trainings "
            "ORDER BY row_number"
        ).fetchall() == [(None, 48, False, 96), ("451228", 60, True, 60)]
        assert con.execute(
            "SELECT city_code, month, filled_on, total_mismatches FROM raw.reports"
        ).fetchall() == [("451200", date(2023, 5, 1), date(2023, 6, 5), None)]


def test_header_synonyms_order_blank_column_and_wan_yuan(tmp_path):
    inbox = tmp_path / "in"
    header = [
        "序号",
        "县区",
        "活动时间",
        "活动名称",
        "活动类型",
        "所属项目",
        None,
        "参加人数",
        "服务人次",
        "资料（份）",
        "经费（万元）",
    ]
    row = [1, "金城江区", "2023-05-10", "x", "健康讲座", "青春健康", None, 80, 90, 10, 1.25]
    book(inbox, NAME, [row], [train()], act_header=header)
    with load(inbox, tmp_path) as con:
        assert activities(con) == [
            ("451202", 80, False, 90, 10, Decimal("12500.00"), date(2023, 5, 10), date(2023, 5, 10))
        ]


def test_two_row_header_renamed_sheets_hidden_rows_and_xls(tmp_path):
    inbox = tmp_path / "in"
    book(
        inbox,
        NAME.replace(".xlsx", ".xls"),
        [act(participants=10), act(participants=20)],
        [train()],
        sheets=("活动情况", "培训情况"),
        two_row=True,
        hidden=(1,),
        xls=True,
    )
    with load(inbox, tmp_path) as con:
        assert [r[1] for r in activities(con)] == [10, 20]  # the hidden row is data


def test_a_county_of_another_city_is_quarantined_the_rest_loads(tmp_path):
    inbox = tmp_path / "in"
    book(inbox, NAME, [act(), act("秀峰区"), act("宜州")], [train()])
    with load(inbox, tmp_path) as con:
        assert reasons(con) == [(5, "county_of_other_city")]
        assert [r[0] for r in activities(con)] == ["451202", "451203"]
        assert audit(con)[f"reports/{NAME}"] == ("loaded", None, 4, 3, 1)


def test_a_totals_row_that_disagrees_is_reported_not_fatal(tmp_path):
    inbox = tmp_path / "in"
    book(
        inbox,
        NAME,
        [act(participants=10), act(participants=20)],
        [train()],
        totals={"活动情况统计表": {"参与人数": (31, False)}},
    )
    with load(inbox, tmp_path) as con:
        mismatch = con.execute("SELECT total_mismatches FROM raw.reports").fetchone()[0]
        assert "participants: 合计 31 vs rows 30" in mismatch
        assert audit(con)[f"reports/{NAME}"][0] == "loaded"


def test_title_and_file_name_naming_different_months_reject_the_file(tmp_path):
    inbox = tmp_path / "in"
    book(inbox, NAME, [act()], [train()], title="河池市计生协2023年4月")
    with load(inbox, tmp_path) as con:
        assert audit(con)[f"reports/{NAME}"][:2] == ("rejected", "title_filename_mismatch")


def test_a_corrupt_workbook_is_rejected(tmp_path):
    inbox = tmp_path / "in"
    path = book(inbox, NAME, [act()], [train()])
    path.write_bytes(path.read_bytes()[:300])
    with load(inbox, tmp_path) as con:
        assert audit(con)[f"reports/{NAME}"][:2] == ("rejected", "workbook_corrupt")


@pytest.mark.parametrize(
    "first, second, current",
    [
        # (file suffix, 填报日期, arrival) of two reports for one month: which counts
        (("", "2023年6月5日", 1), ("（修订）", "2023年6月3日", 2), "（修订）"),  # the marked one
        (("更正", "2023年6月5日", 1), ("", "2023年6月9日", 2), "更正"),  # marked beats later
        (("", "2023年6月5日", 1), ("(1)", "2023年6月9日", 2), "(1)"),  # the later 填报日期
        (("", "2023年6月9日", 1), ("(1)", "2023年6月5日", 2), ""),  # … even if it came first
        (("", "2023年6月5日", 1), ("(1)", "2023年6月5日", 2), "(1)"),  # else the later arrival
    ],
)
@pytest.mark.parametrize("nights", [1, 2], ids=["one night", "a night each"])
def test_a_revised_report_replaces_the_earlier_one_entirely(
    tmp_path, first, second, current, nights
):
    inbox = tmp_path / "in"
    for (suffix, filled, when), n in ((first, 10), (second, 20)):
        book(
            inbox,
            NAME.replace(".xlsx", f"{suffix}.xlsx"),
            [act(participants=n)] * (n // 10),
            [train()],
            filled=filled,
            when=1.7e9 + when * 86400,
        )
        if nights == 2 and n == 10:
            ingest(inbox, tmp_path / "wh" / "fpa.duckdb")
    with load(inbox, tmp_path) as con:
        status = {k.removeprefix("reports/"): v[0] for k, v in audit(con).items()}
        rows = con.execute(
            "SELECT count(*) FROM raw.report_activities JOIN raw.reports "
            "USING (file_sha256) WHERE is_current"
        ).fetchone()[0]
        (reason,) = con.execute(
            "SELECT reason FROM audit.load_audit WHERE status = 'superseded'"
        ).fetchone()
    winner = NAME.replace(".xlsx", f"{current}.xlsx")
    assert status[winner] == "loaded"
    assert [v for k, v in status.items() if k != winner] == ["superseded"]
    assert reason.endswith(f": reports/{winner}")
    assert rows == (1 if current == first[0] else 2)


@pytest.fixture
def a_third_kind(monkeypatch):
    """The seeds with a third sheet kind, 会议 (meetings), that no reader reads."""
    sheets, tables = reference.report_sheets(), reference.report_kinds()
    monkeypatch.setattr(reference, "report_sheets", lambda: {**sheets, "会议": "meetings"})
    monkeypatch.setattr(
        reference, "report_kinds", lambda: {**tables, "meetings": "raw.report_meetings"}
    )
    reports.kinds.cache_clear()
    yield
    reports.kinds.cache_clear()


def test_a_sheet_kind_without_a_reader_is_an_error_not_trainings(tmp_path, a_third_kind):
    inbox = tmp_path / "in"
    path = book(inbox, NAME, [act()], [train()], sheets=("活动", "会议"))
    with pytest.raises(ValueError, match="meetings .*no reader"):
        reports.kinds()
    out = RowBuffer()
    with pytest.raises(ValueError, match="meetings"):
        reports.parse(out, path, f"reports/{NAME}", "0" * 64, datetime.now(), Limits())
    assert out.tables == {}
    # a night stops before reading anything: no report is rejected or loaded for it
    with pytest.raises(ValueError, match="meetings"):
        load(inbox, tmp_path)
    with duckdb.connect(str(tmp_path / "wh" / "state" / "state.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM audit.load_audit").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM raw.report_trainings").fetchone() == (0,)


def test_targets_with_a_short_city_name_and_a_formula_total(tmp_path):
    inbox = tmp_path / "in"
    cities = [
        "南宁市",
        "柳州市",
        "桂林市",
        "梧州市",
        "北海市",
        "防城港市",
        "钦州市",
        "贵港市",
        "玉林市",
        "百色市",
        "贺州市",
        "河池",
        "来宾市",
        "崇左市",
    ]
    rows = (
        [["2022年计生家庭关爱保险指导性任务数", None], ["市", "任务数（份）"]]
        + [[c, 1000 * (i + 1)] for i, c in enumerate(cities)]
        + [["合计", None]]
    )
    sheet = Sheet("任务数", rows, [(1, 1, 1, 2)], set(), {(17, 2): ("SUM(B3:B16)", 105000)})
    path = inbox / "targets" / "关爱保险指导性任务数_2022.xlsx"
    path.parent.mkdir(parents=True)
    path.write_bytes(xlsx_bytes([sheet], datetime(2022, 1, 14)))
    with load(inbox, tmp_path) as con:
        assert (
            con.execute(
                "SELECT target_units FROM raw.targets WHERE city_code = '451200'"
            ).fetchone()[0]
            == 12000
        )
        assert audit(con)["targets/关爱保险指导性任务数_2022.xlsx"] == ("loaded", None, 14, 14, 0)
