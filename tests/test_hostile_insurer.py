"""Insurer extracts that bend or break the contract's CSV (§1): RFC 4180 quoting anywhere, a
byte-order mark, a stray quote, a header or trailer that is a data row. Each case on real
DuckDB through fpa.ingest: what loads, and that a rejected file's reason says where and what,
never with a person's name, ID number or phone. And personal.scrub, the last defence of every
reason and of free text set aside."""

import csv
import io
import os
import re
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from support.workbooks import load

from fpa.generate import people
from fpa.personal import scrub
from fpa.quarantine import Reason
from fpa.sources import insurer
from fpa.sources.common import Outcome, Rejected
from fpa.sources.insurer import CLAIM_COLUMNS, POLICY_COLUMNS, transcode

# the gate's personal_data expectation (expectations/suites.yml), as Python's re
GATE = re.compile(r"(^|[^0-9A-Za-z])([0-9]{17}[0-9Xx]|1[3-9][0-9]{9})([^0-9A-Za-z]|$)")
LAYOUT = "not the layout the contract describes"
BOMS = {"utf-8": b"\xef\xbb\xbf", "gb18030": b"\x84\x31\x95\x33"}  # U+FEFF in each
UNREADABLE = f"{LAYOUT}: not a readable CSV"
STRAY = 'unterminated quoted field (a stray ")'


def persons(n: int, first: int = 0) -> list[tuple[str, str, str]]:
    """(name, ID number, mobile) of n fake persons of 金城江区 (451202), from the generator."""
    keys = np.arange(first, first + n)
    bodies = people.id_bodies(np.full(n, 451202), keys)
    checks = people.check_codes(bodies)
    ids = [f"{b}{'0123456789X'[c]}" for b, c in zip(bodies, checks, strict=True)]
    names = [str(v) for v in people.name_codes(keys)]
    prefixes, rests = people.phone_parts(keys)
    phones = [f"{p}{r:08d}" for p, r in zip(prefixes.astype(str), rests, strict=True)]
    return list(zip(names, ids, phones, strict=True))


def policy(i: int, person: tuple[str, str, str], units: int = 2, **cells) -> list[str]:
    name, id_, phone = person
    row = {
        "保单号": f"GA2023451202{i:06d}",
        "险种代码": "JSGA",
        "险种名称": "计生家庭关爱保险",
        "投保日期": "2023-03-01",
        "保险起期": "2023-03-02",
        "保险止期": "2024-03-01",
        "份数": str(units),
        "保费": f"{units * 50}.00",
        "被保险人姓名": name,
        "证件类型": "身份证",
        "证件号码": id_,
        "联系电话": phone,
        "所属市": "河池市",
        "所属县区": "金城江区",
        "出单机构": "中国人寿河池分公司",
        "保单状态": "有效",
        "批改日期": "",
    } | cells
    return [row[c] for c in POLICY_COLUMNS]


def claim(i: int, person: tuple[str, str, str], paid: str = "1860.50", **cells) -> list[str]:
    row = {
        "赔案号": f"LP2023451202{i:06d}",
        "保单号": f"GA2023451202{i:06d}",
        "险种代码": "JSGA",
        "被保险人证件号码": person[1],
        "出险日期": "2023-02-11",
        "报案日期": "2023-02-13",
        "结案日期": "2023-03-01",
        "出险原因": "意外医疗",
        "赔付金额": paid,
        "赔案状态": "已结案",
        "所属县区": "金城江区",
    } | cells
    return [row[c] for c in CLAIM_COLUMNS]


def line(fields: list[str], quoted: bool) -> str:
    """One CSV record as the insurer would write it: every field quoted, or only those that
    must be (a comma, a quote, a line break)."""
    out = io.StringIO()
    csv.writer(
        out, lineterminator="\r\n", quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL
    ).writerow(fields)
    return out.getvalue()


def extract(
    inbox: Path,
    name: str,
    rows: list[list[str]],
    quote: tuple[str, ...] = (),
    encoding: str = "gb18030",
    head: bytes = b"",
    header: list[str] | None = None,
    trailer: str | None = None,
    when: float = 1.7e9,
) -> Path:
    """An extract under inbox/insurer/ with its .ok: header, rows, TRAILER with their count and
    money sum; quote names the parts written with every field quoted (header, rows, trailer);
    head is written before the header (a byte-order mark)."""
    columns = POLICY_COLUMNS if name.startswith("JS_POLICY") else CLAIM_COLUMNS
    money = columns.index("保费" if columns is POLICY_COLUMNS else "赔付金额")
    total = sum(Decimal(r[money]) for r in rows)
    text = line(header or columns, "header" in quote)
    text += "".join(line(r, "rows" in quote) for r in rows)
    if trailer is None:
        trailer = line(["TRAILER", str(len(rows)), f"{total:.2f}"], "trailer" in quote)
    path = inbox / "insurer" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + (text + trailer).encode(encoding))
    os.utime(path, (when, when))
    path.with_suffix(".ok").touch()
    return path


def audit(con) -> dict:
    return {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT file_name, status, reason_code, reason, rows_received, rows_loaded, "
            "rows_quarantined FROM audit.load_audit"
        ).fetchall()
    }


def assert_nothing_personal(text: str, who: list[tuple[str, str, str]]) -> None:
    for name, id_, phone in who:
        assert name not in text and id_ not in text and phone not in text, text
        assert id_[:17] not in text and phone[3:] not in text, text
    assert not GATE.search(text), text


# ---- 1. RFC 4180 quoting -----------------------------------------------------------------------

# a comma, doubled quotes and a CRLF inside quoted fields of the free-text columns
PRODUCT_NAME = '计生家庭关爱保险（"暖心"版）'
BRANCH = "中国人寿河池分公司,金城江\r\n营业部"


@pytest.mark.parametrize(
    "quote",
    [("header",), ("trailer",), ("rows",), ("header", "rows", "trailer")],
    ids=["header", "trailer", "rows", "all"],
)
def test_a_quoted_policy_extract_loads_exactly_its_rows(tmp_path, transcoder, quote):
    inbox = tmp_path / "in"
    who = persons(3)
    rows = [
        policy(1, who[0], units=2),
        policy(2, who[1], units=3, 险种名称=PRODUCT_NAME, 出单机构=BRANCH),
        policy(3, who[2], units=1, 保单状态="退保", 保费="-50.00", 批改日期="2023-03-01"),
    ]
    extract(inbox, "JS_POLICY_20230301.csv", rows, quote)
    with load(inbox, tmp_path) as con:
        got = audit(con)["insurer/JS_POLICY_20230301.csv"]
        loaded = con.execute(
            "SELECT line, policy_no, product_name, branch, units, premium_yuan, changed_on "
            "FROM raw.insurer_policies ORDER BY line"
        ).fetchall()
        total = con.execute("SELECT sum(premium_yuan) FROM raw.insurer_policies").fetchone()[0]
    assert got == ("loaded", None, None, 3, 3, 0)
    assert total == Decimal("100.00") + Decimal("150.00") - Decimal("50.00")
    # a line is a record: the line break inside row 2's quoted field does not count
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in loaded] == [
        (2, "GA2023451202000001", "计生家庭关爱保险", "中国人寿河池分公司", 2),
        (3, "GA2023451202000002", PRODUCT_NAME, BRANCH, 3),
        (4, "GA2023451202000003", "计生家庭关爱保险", "中国人寿河池分公司", 1),
    ]
    assert [str(r[6]) for r in loaded] == ["None", "None", "2023-03-01"]  # "" is no date


def test_a_claim_extract_quoted_throughout_loads_its_amounts(tmp_path, transcoder):
    inbox = tmp_path / "in"
    who = persons(3, first=100)
    rows = [
        claim(1, who[0], "1860.50"),
        claim(2, who[1], "0.00", 结案日期="", 赔案状态="已报案"),  # open: a quoted empty date
        claim(3, who[2], "12000.00", 出险原因='其他（"见附件"）'),
    ]
    extract(inbox, "JS_CLAIM_20230301.csv", rows, ("header", "rows", "trailer"))
    with load(inbox, tmp_path) as con:
        got = audit(con)["insurer/JS_CLAIM_20230301.csv"]
        loaded = con.execute(
            "SELECT line, claim_no, paid_yuan, settled_on, cause FROM raw.insurer_claims "
            "ORDER BY line"
        ).fetchall()
    assert got == ("loaded", None, None, 3, 3, 0)
    assert sum(r[2] for r in loaded) == Decimal("13860.50")
    assert [(r[0], r[1], str(r[2]), r[3] is None, r[4]) for r in loaded] == [
        (2, "LP2023451202000001", "1860.50", False, "意外医疗"),
        (3, "LP2023451202000002", "0.00", True, "意外医疗"),
        (4, "LP2023451202000003", "12000.00", False, '其他（"见附件"）'),
    ]


def test_a_quoted_trailer_is_read_by_either_transcoder(tmp_path, transcoder):
    src = tmp_path / "in.csv"
    src.write_bytes(
        '保单号,所属县区\r\n"GA1","金城江区"\r\n"TRAILER","1","0.00"\r\n'.encode("gb18030")
    )
    assert transcode(src, tmp_path / "out.csv") == ("gb18030", '"TRAILER","1","0.00"')
    assert insurer._trailer('"TRAILER","1","0.00"') == (1, Decimal("0.00"))


UNCLOSED = 'a quoted field is not closed on its line (a stray ")'
NO_TRAILER = "no TRAILER line at the end: the transfer was cut or the file is not an extract"


@pytest.mark.parametrize(
    "last, detail",
    [
        ('"TRAILER","3","150.00', f"the TRAILER line: {UNCLOSED}"),
        ("TRAILER,3", "the TRAILER line has 2 fields, where TRAILER,<rows>,<money> has 3"),
        ('"TRAILER","3.5","150.00"', "the TRAILER's row count '3.5' is not a whole number"),
        ("TRAILER,3,一百五十", "the TRAILER's money sum (a text of 4 characters) is not a number"),
        ('"TRAILER,3,150.00"', NO_TRAILER),  # one field
    ],
)
def test_a_trailer_that_is_not_one_is_told_apart(last, detail):
    with pytest.raises(Rejected) as e:
        insurer._trailer(last)
    assert (e.value.code, e.value.detail) == (Reason.TRAILER_MISSING, detail)


# ---- 2. a byte-order mark ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, quote",
    [("utf-8", ()), ("utf-8", ("header",)), ("gb18030", ()), ("gb18030", ("header",))],
    ids=["utf-8", "utf-8-quoted", "gb18030", "gb18030-quoted"],
)
def test_a_byte_order_mark_is_dropped_and_the_file_loads(tmp_path, transcoder, encoding, quote):
    inbox = tmp_path / "in"
    who = persons(2, first=200)
    extract(
        inbox,
        "JS_POLICY_20230301.csv",
        [policy(1, who[0]), policy(2, who[1])],
        quote,
        encoding=encoding,
        head=BOMS[encoding],  # U+FEFF as each encoding writes it
    )
    with load(inbox, tmp_path) as con:
        got = audit(con)["insurer/JS_POLICY_20230301.csv"]
        lines = con.execute(
            "SELECT line, policy_no FROM raw.insurer_policies ORDER BY 1"
        ).fetchall()
    assert got == ("loaded", None, None, 2, 2, 0)
    assert lines == [(2, "GA2023451202000001"), (3, "GA2023451202000002")]


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_transcoding_writes_no_byte_order_mark(tmp_path, transcoder, encoding):
    src = tmp_path / "in.csv"
    text = "保单号,所属县区\r\nGA1,金城江区\r\nTRAILER,1,0.00\r\n"
    src.write_bytes(BOMS[encoding] + text.encode(encoding))
    assert transcode(src, tmp_path / "out.csv") == (encoding, "TRAILER,1,0.00")
    assert (tmp_path / "out.csv").read_bytes() == "保单号,所属县区\r\nGA1,金城江区\r\n".encode()


@pytest.mark.parametrize(
    "column, seen, shows",
    [
        ("保单号", "\ufeff保单号", "U+FEFF before the header"),  # a second mark: one is dropped
        ("保单号", "保单号\u200b", "column 1 is 「保单号<U+200B>」 where the contract has 保单号"),
        ("保费", "保费\u3000", "column 8 is 「保费<U+3000>」 where the contract has 保费"),
        ("保单号", " 保单号", "column 1 is 「<U+0020>保单号」 where the contract has 保单号"),
        # U+FAAE, a compatibility ideograph, is drawn as 类 (U+7C7B) and is not it
        (
            "证件类型",
            "证件\ufaae型",
            "column 10 is 「证件<U+FAAE>型」 where the contract has 证件类型",
        ),
    ],
    ids=["second-mark", "zero-width-space", "ideographic-space", "space", "compatibility"],
)
def test_a_header_that_differs_invisibly_is_shown_with_code_points(tmp_path, column, seen, shows):
    inbox = tmp_path / "in"
    header = [seen if c == column else c for c in POLICY_COLUMNS]
    row = policy(1, persons(1)[0])
    extract(
        inbox, "JS_POLICY_20230301.csv", [row], encoding="utf-8", head=BOMS["utf-8"], header=header
    )
    with load(inbox, tmp_path) as con:
        status, code, reason, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
    assert (status, code) == ("rejected", "unknown_layout")
    assert shows in reason and "(the contract's header is 保单号,险种代码," in reason


def test_a_header_with_a_column_more_names_it_and_what_is_missing(tmp_path):
    inbox = tmp_path / "in"
    header = POLICY_COLUMNS[:-1] + ["备注", "经办人"]
    row = policy(1, persons(1)[0])[:-1] + ["", ""]
    extract(inbox, "JS_POLICY_20230301.csv", [row], header=header)
    with load(inbox, tmp_path) as con:
        reason = audit(con)["insurer/JS_POLICY_20230301.csv"][2]
    assert reason.startswith(
        f"{LAYOUT}: 18 fields where the contract has 17; missing 批改日期; "
        "not the contract's: 「备注」, 「经办人」 (the contract's header is 保单号,"
    )


# ---- 3. no row text in a reason ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fault, reason",
    [
        ("opens", f"{UNREADABLE}: line 5, column 被保险人姓名: {STRAY}"),
        ("after", f"{UNREADABLE}: line 5, column 被保险人姓名: {STRAY}"),
        ("more", f"{UNREADABLE}: line 5: 18 fields where the header has 17"),
        ("fewer", f"{UNREADABLE}: line 5: 16 fields where the header has 17"),
    ],
)
def test_an_unreadable_row_is_named_by_line_and_column_never_by_its_content(
    tmp_path, transcoder, fault, reason
):
    inbox = tmp_path / "in"
    who = persons(8, first=300)
    # a last field not empty: DuckDB takes an empty field after the last column for a trailing
    # comma and reads the row shifted (where the shift leaves a value unreadable, quarantined)
    rows = [policy(i, p, 批改日期="2023-03-01") for i, p in enumerate(who, 1)]
    path = extract(inbox, "JS_POLICY_20230302.csv", rows)
    # row 4 (line 5) spoilt in the file as written, its name or a field
    name, id_, _ = who[3]
    data = path.read_bytes().decode("gb18030")
    spoilt = {
        "opens": data.replace(f",{name},", f',"{name},'),  # a quote opened, never closed
        "after": data.replace(f",{name},", f',"{name}"x,'),  # text after the closing quote
        "more": data.replace(f",{id_},", f",{id_},{id_},"),
        "fewer": data.replace(f",{id_},", ","),
    }[fault]
    assert spoilt != data
    path.write_bytes(spoilt.encode("gb18030"))
    os.utime(path, (1.7e9, 1.7e9))
    good = persons(2, first=400)  # the same batch: it loads
    extract(inbox, "JS_POLICY_20230301.csv", [policy(9, good[0]), policy(10, good[1])])
    with load(inbox, tmp_path) as con:
        got = audit(con)
        loaded = con.execute("SELECT count(*) FROM raw.insurer_policies").fetchone()[0]
    assert got["insurer/JS_POLICY_20230302.csv"][:3] == ("rejected", "unknown_layout", reason)
    assert got["insurer/JS_POLICY_20230301.csv"] == ("loaded", None, None, 2, 2, 0)
    assert loaded == 2
    assert_nothing_personal(reason, who)


def test_a_stray_quote_with_quoted_fields_after_it_names_its_line(tmp_path):
    """The stray quote pairs with the next quote in the file: DuckDB's message would quote
    every line in between."""
    inbox = tmp_path / "in"
    who = persons(30, first=500)
    rows = [
        policy(i, p, 出单机构=BRANCH if i > 20 else "中国人寿河池分公司")
        for i, p in enumerate(who, 1)
    ]
    path = extract(inbox, "JS_POLICY_20230301.csv", rows)
    data = path.read_bytes().decode("gb18030")
    path.write_bytes(data.replace(f",{who[9][0]},", f',"{who[9][0]},').encode("gb18030"))
    with load(inbox, tmp_path) as con:
        status, code, reason, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
    assert (status, code) == ("rejected", "unknown_layout")
    assert reason.startswith(f"{LAYOUT}: not a readable CSV: line 11")
    assert_nothing_personal(reason, who)


def test_a_file_without_its_header_is_rejected_without_showing_line_1(tmp_path):
    inbox = tmp_path / "in"
    who = persons(3, first=600)
    rows = [policy(i, p) for i, p in enumerate(who, 1)]
    extract(inbox, "JS_POLICY_20230301.csv", rows[1:], header=rows[0])
    with load(inbox, tmp_path) as con:
        status, code, reason, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
    assert (status, code) == ("rejected", "unknown_layout")
    assert reason.startswith(
        f"{LAYOUT}: line 1 is not the contract's header: 17 fields, 0 of them the contract's "
        "column names (a data row, the header missing?)"
    )
    assert_nothing_personal(reason, who)


def test_a_header_run_into_the_first_row_shows_none_of_the_row(tmp_path):
    inbox = tmp_path / "in"
    who = persons(2, first=700)
    path = extract(inbox, "JS_POLICY_20230301.csv", [policy(1, who[0]), policy(2, who[1])])
    data = path.read_bytes()
    path.write_bytes(data.replace(b"\r\n", b"", 1))  # the header's line end lost
    with load(inbox, tmp_path) as con:
        status, code, reason, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
    assert (status, code) == ("rejected", "unknown_layout")
    assert reason.startswith(
        f"{LAYOUT}: 33 fields where the contract has 17; missing 批改日期; "
        "17 fields not the contract's (not shown)"
    )
    assert_nothing_personal(reason, who)


def test_a_trailer_holding_a_data_row_is_rejected_without_showing_it(tmp_path):
    inbox = tmp_path / "in"
    who = persons(3, first=800)
    rows = [policy(i, p) for i, p in enumerate(who, 1)]
    # the trailer and the last row run together: the TRAILER's fields are the row's
    extract(inbox, "JS_POLICY_20230301.csv", rows[:2], trailer="TRAILER," + line(rows[2], False))
    with load(inbox, tmp_path) as con:
        status, code, reason, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
    assert (status, code) == ("rejected", "trailer_missing")
    assert reason.endswith(
        "the TRAILER's row count (a text of 18 characters) is not a whole number"
    )
    assert_nothing_personal(reason, who)


def test_every_reason_is_scrubbed_where_it_is_made():
    name, id_, phone = persons(1, first=900)[0]
    rejected = Rejected(Reason.UNKNOWN_LAYOUT, f"{name} {id_} {phone}")
    outcome = Outcome("rejected", Reason.UNKNOWN_LAYOUT, f"{id_},{phone}")
    assert rejected.detail == f"{name} {id_[:6]}{'*' * 12} {phone[:3]}****{phone[-4:]}"
    assert str(rejected) == rejected.detail
    assert outcome.reason == f"{id_[:6]}{'*' * 12},{phone[:3]}****{phone[-4:]}"


# ---- personal.scrub ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, masked",
    [
        ("身份证450121198506120117号", "身份证450121************号"),
        ("45012119850612011x", "450121************"),
        ("证件:45012119850612011X,", "证件:450121************,"),
        ("old ID 450121850612011 here", "old ID 450121********* here"),
        ("电话13812345678。", "电话138****5678。"),
        ("手机 138-1234-5678 / 139 8765 4321", "手机 138****5678 / 139****4321"),
        ("+86 13812345678", "+86 138****5678"),
        ("8613812345678", "86138****5678"),
        ("办公室 0778-2281234，", "办公室 0778-*******，"),
        ("(0771)5861234", "(0771)*******"),
        ("（0778）228 1234", "（0778）228 1234"),  # a space inside the number: not one
        ("07782281234", "077********"),
        ("全角１３８１２３４５６７８号", "全角１３８****５６７８号"),
        ("a:450121198506120117;b:13812345678", "a:450121************;b:138****5678"),
    ],
)
def test_scrub_masks_ids_mobiles_and_landlines(text, masked):
    assert scrub(text) == masked
    assert scrub(masked) == masked


@pytest.mark.parametrize(
    "text",
    [
        "",
        "无",
        "2023-05-21 在金城江区开展宣传活动，发放资料1,200份",
        "经费 1562.50 元，合计 15624945 万元",
        "451202 金城江区 450181 横州市",
        "GA2023450000001 LP2023450000001",  # policy and claim numbers: 13 digits
        "20230521123456",  # a timestamp: 14 digits
        "4501211985061201171",  # 19 digits: a longer number, not an ID inside one
        "2023/5/21 11月10日—11日 30余人 3千多",
        "line 1234: 17 fields where the header has 16",
    ],
)
def test_scrub_leaves_ordinary_text_and_numbers(text):
    assert scrub(text) == text


def test_scrub_masks_every_generated_person_in_free_text():
    who = persons(2000, first=10_000)
    texts = [f"联系人{n}，身份证{i}，电话{p}；2023-05-21 经费1562.50元" for n, i, p in who]
    out = [scrub(t) for t in texts]
    for (name, id_, phone), text in zip(who, out, strict=True):
        assert text == (
            f"联系人{name}，身份证{id_[:6]}{'*' * 12}，电话{phone[:3]}****{phone[-4:]}；"
            "2023-05-21 经费1562.50元"
        )
        assert not GATE.search(text)


def test_scrub_is_fast_enough_for_every_quarantined_cell():
    cells = ["计生家庭关爱保险宣传进社区活动，参与群众踊跃"] * 20_000
    cells += ["2023-05-21 金城江区 经费1562.50元 联系人电话13812345678"] * 5_000
    started = time.perf_counter()
    for c in cells:
        scrub(c)
    per_cell = (time.perf_counter() - started) / len(cells)
    assert per_cell < 50e-6  # measured about 1 µs (no digits) and 7 µs (digits) a cell


def test_a_stray_quote_deep_in_a_claim_extract_names_its_line_and_column(tmp_path):
    inbox = tmp_path / "in"
    who = persons(3000, first=20_000)
    rows = [claim(i, p, f"{100 + i % 900}.50") for i, p in enumerate(who, 1)]
    rows[1233][CLAIM_COLUMNS.index("出险原因")] = '"意外医疗'  # spliced below: csv would double it
    path = extract(inbox, "JS_CLAIM_20230301.csv", rows)
    data = path.read_bytes().decode("gb18030").replace('"""意外医疗"', '"意外医疗')
    path.write_bytes(data.encode("gb18030"))
    with load(inbox, tmp_path) as con:
        status, code, reason, *_ = audit(con)["insurer/JS_CLAIM_20230301.csv"]
        assert con.execute("SELECT count(*) FROM raw.insurer_claims").fetchone()[0] == 0
    assert (status, code) == ("rejected", "unknown_layout")
    assert reason == f"{UNREADABLE}: line 1235, column 出险原因: {STRAY}"
    assert_nothing_personal(reason, who)


def test_a_lone_carriage_return_is_named_by_its_line_alone(tmp_path):
    """DuckDB raises this one even while it collects rejects: the line is the only thing taken
    from its message, as a number."""
    inbox = tmp_path / "in"
    who = persons(6, first=1000)
    path = extract(inbox, "JS_POLICY_20230301.csv", [policy(i, p) for i, p in enumerate(who, 1)])
    name = who[2][0]
    data = path.read_bytes().decode("gb18030").replace(f",{name},", f",{name}\r甲,")
    path.write_bytes(data.encode("gb18030"))
    with load(inbox, tmp_path) as con:
        status, code, reason, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
    assert (status, code) == ("rejected", "unknown_layout")
    assert reason == f"{UNREADABLE}: line 4: not a well-formed CSV record (InvalidInputException)"
    assert_nothing_personal(reason, who)


def test_a_claim_extract_under_a_policy_name_says_so(tmp_path):
    inbox = tmp_path / "in"
    path = extract(inbox, "JS_CLAIM_20230301.csv", [claim(1, persons(1)[0])])
    os.replace(path, path.with_name("JS_POLICY_20230301.csv"))
    path.with_suffix(".ok").rename(path.with_name("JS_POLICY_20230301.ok"))
    with load(inbox, tmp_path) as con:
        status, code, reason, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
    assert (status, code) == ("rejected", "unknown_layout")
    assert reason.startswith(f"{LAYOUT}: line 1 is the header of the other extract (赔案号,保单号,")


def test_an_empty_extract_has_no_trailer(tmp_path, transcoder):
    inbox = tmp_path / "in"
    path = inbox / "insurer" / "JS_POLICY_20230301.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    path.with_suffix(".ok").touch()
    with load(inbox, tmp_path) as con:
        status, code, reason, *_ = audit(con)["insurer/JS_POLICY_20230301.csv"]
    assert (status, code, reason) == (
        "rejected",
        "trailer_missing",
        f"no TRAILER line: the transfer was cut: {NO_TRAILER}",
    )
