"""Workbooks outside the contract's layouts, as real offices and hostile senders make them: a
subtotal among the rows, merged cells, values outside the lists, a month that cannot be, files
built to exhaust the reader, a run killed while reading — and re-saved by a real office suite.
Each case: what loads, what is set aside and why, and that no file stops the night."""

import io
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import duckdb
import pytest
from support import office
from support.workbooks import NAME, act, activities, audit, book, load, reasons, train

from fpa.sources import reports
from fpa.sources.spreadsheet import Limits
from fpa.state import RowBuffer

ACTS = "活动情况统计表"


def blank(**cells) -> list:
    """An 活动 row with only the cells given, by column index."""
    row = [None] * 13
    for i, v in cells.items():
        row[int(i[1:])] = v
    return row


def quarantine(con) -> list:
    return con.execute(
        "SELECT row_number, reason_code, reason, raw_row FROM audit.quarantine "
        "ORDER BY sheet DESC, row_number"  # 活动 before 培训
    ).fetchall()


# ---- layouts the contract does not list -------------------------------------------------------


def test_a_subtotal_row_among_the_activities_is_set_aside_not_counted(tmp_path):
    inbox = tmp_path / "in"
    subtotal = blank(c1="金城江区小计", c8=240, c9=300, c10=600, c11=4000)
    book(
        inbox,
        NAME,
        [act(), act(), subtotal, act("宜州区")],
        [train()],
        totals={ACTS: {"参与人数": (360, False)}},
    )
    with load(inbox, tmp_path) as con:
        assert reasons(con) == [(6, "subtotal_row")]
        assert [(r[0], r[1]) for r in activities(con)] == [
            ("451202", 120),
            ("451202", 120),
            ("451203", 120),
        ]
        # the 合计 agrees with the three activities: the subtotal was not added to them
        assert con.execute("SELECT total_mismatches FROM raw.reports").fetchone() == (None,)
        assert audit(con)[f"reports/{NAME}"] == ("loaded", None, 5, 4, 1)  # 4 活动 + 1 培训


def test_a_total_row_in_the_middle_does_not_end_the_sheet(tmp_path):
    """Before, the first 合计 ended the data: the rows under it vanished without a word."""
    inbox = tmp_path / "in"
    total = blank(c0="合 计", c8=120)
    book(inbox, NAME, [act(), total, act("宜州区", participants=80)], [train()])
    with load(inbox, tmp_path) as con:
        assert reasons(con) == [(5, "subtotal_row")]
        assert [(r[0], r[1]) for r in activities(con)] == [("451202", 120), ("451203", 80)]


def test_an_activity_named_with_a_total_word_is_an_activity(tmp_path):
    inbox = tmp_path / "in"
    named = act()
    named[4] = "累计"  # 活动名称 is free text: a name, not a total row
    book(inbox, NAME, [named], [train()])
    with load(inbox, tmp_path) as con:
        assert reasons(con) == []
        assert len(activities(con)) == 1


def test_a_county_merged_over_two_rows_holds_for_both(tmp_path):
    """Before, the second row of the merged 县区 cell read as a city-level activity."""
    inbox = tmp_path / "in"
    book(
        inbox,
        NAME,
        [act(), act(county=None), act("宜州区")],
        [train()],
        act_merges=[(0, "县（市、区）", 1, "县（市、区）")],
    )
    with load(inbox, tmp_path) as con:
        assert reasons(con) == []
        assert [r[0] for r in activities(con)] == ["451202", "451202", "451203"]


def test_a_number_merged_over_two_rows_sets_both_rows_aside(tmp_path):
    inbox = tmp_path / "in"
    book(
        inbox,
        NAME,
        [act(participants=240), act(participants=None), act("宜州区")],
        [train()],
        act_merges=[(0, "参与人数", 1, "参与人数")],
    )
    with load(inbox, tmp_path) as con:
        rows = quarantine(con)
        assert [(r[0], r[1]) for r in rows] == [(4, "merged_cells"), (5, "merged_cells")]
        assert "参与人数 merged over rows 4–5" in rows[0][2]
        assert [r[0] for r in activities(con)] == ["451203"]


def test_cells_merged_across_two_fields_set_the_row_aside(tmp_path):
    inbox = tmp_path / "in"
    book(inbox, NAME, [act(), act()], [train()], act_merges=[(1, "活动名称", 1, "活动类型")])
    with load(inbox, tmp_path) as con:
        rows = quarantine(con)
        assert [(r[0], r[1]) for r in rows] == [(5, "merged_cells")]
        assert "merged across 活动名称、活动类型" in rows[0][2]


def test_values_outside_the_lists_are_quarantined_with_what_was_seen(tmp_path):
    """Before, an unknown 活动类型 or a formula's text loaded and failed the dbt build of every
    later night."""
    inbox = tmp_path / "in"
    odd_mode = train()
    odd_mode[8] = "网络直播"
    book(
        inbox,
        NAME,
        [act(type_="讲座培训"), act(project="=SUM(G4:G6)"), act()],
        [odd_mode, train()],
    )
    with load(inbox, tmp_path) as con:
        rows = quarantine(con)
        assert [(r[0], r[1]) for r in rows] == [
            (4, "unknown_value"),
            (5, "unknown_value"),
            (4, "unknown_value"),
        ]
        assert "活动类型 '讲座培训' is not one of" in rows[0][2]
        assert "所属项目 '=SUM(G4:G6)'" in rows[1][2]
        assert "培训方式 '网络直播' is not one of 线上、线上线下结合、线下" in rows[2][2]
        assert len(activities(con)) == 1


def test_a_phone_typed_in_a_quarantined_rows_remark_is_masked(tmp_path):
    inbox = tmp_path / "in"
    row = act("秀峰区")  # quarantined: a county of another city
    row[12] = "联系人手机13877001234，座机0778-2281234"
    book(inbox, NAME, [row, act()], [train()])
    with load(inbox, tmp_path) as con:
        ((_, code, _, raw),) = quarantine(con)
        assert code == "county_of_other_city"
        assert "13877001234" not in raw and "2281234" not in raw
        assert "138****1234" in raw


@pytest.mark.parametrize(
    "month, verdict",
    [("2099年1月", "period_out_of_range"), ("2016年12月", "period_out_of_range")],
)
def test_a_report_month_that_cannot_be_is_rejected(tmp_path, month, verdict):
    """Before, a report titled 2099年1月 was loaded: 2099 became the newest year."""
    inbox = tmp_path / "in"
    name = f"河池市计生协{month}工作月报.xlsx"
    book(inbox, name, [act()], [train()], title=f"河池市计生协{month}")
    with load(inbox, tmp_path) as con:
        status, code, *_ = audit(con)[f"reports/{name}"]
        assert (status, code) == ("rejected", verdict)
        reason = con.execute("SELECT reason FROM audit.load_audit").fetchone()[0]
        assert f"the report is for {month}" in reason


# ---- files built to exhaust the reader ------------------------------------------------------


def rewrite_part(path: Path, part: str, edit) -> None:
    """Rewrite one part of a zip file (an .xlsx) with edit(bytes) -> bytes."""
    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            body = src.read(info)
            z.writestr(info, edit(body) if info.filename == part else body)
    path.write_bytes(out.getvalue())


def test_a_cell_at_xfd1048576_is_rejected_before_the_reader_allocates(tmp_path):
    """Before, this 5 KB workbook made calamine ask for a 512 GB grid and abort the process."""
    inbox = tmp_path / "in"
    path = book(inbox, NAME, [act()], [train()])
    far = b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
    rewrite_part(path, "xl/worksheets/sheet1.xml", lambda b: b.replace(b"</sheetData>", far))
    assert path.stat().st_size < 8_000
    good = "河池市计生协2023年6月工作月报.xlsx"
    book(inbox, good, [act()], [train()], title="河池市计生协2023年6月")
    with load(inbox, tmp_path) as con:
        assert audit(con)[f"reports/{NAME}"][:2] == ("rejected", "workbook_too_large")
        assert audit(con)[f"reports/{good}"][:2] == ("loaded", None)
        reason = con.execute(
            "SELECT reason FROM audit.load_audit WHERE file_name = ?", [f"reports/{NAME}"]
        ).fetchone()[0]
        assert "a cell at XFD1048576" in reason
        assert "the limit is 20,000 rows and 500 columns" in reason


def test_a_month_of_a_hundred_thousand_copies_of_one_activity_is_rejected(tmp_path):
    """Before, a workbook of millions of copies of one row was loaded (at 8 GB of memory)."""
    inbox = tmp_path / "in"
    path = book(inbox, NAME, [act()], [train()])

    def copies(body: bytes) -> bytes:
        row = re.search(rb'<row r="4".*?</row>', body)[0]
        many = b"".join(row.replace(b'r="4"', f'r="{4 + i}"'.encode()) for i in range(100_000))
        return body.replace(row, many)

    rewrite_part(path, "xl/worksheets/sheet1.xml", copies)
    with load(inbox, tmp_path) as con:
        assert audit(con)[f"reports/{NAME}"][:2] == ("rejected", "workbook_too_large")
        assert con.execute("SELECT count(*) FROM raw.report_activities").fetchone() == (0,)


def test_a_zip_that_inflates_past_the_limit_is_rejected_while_streaming(tmp_path, monkeypatch):
    monkeypatch.setenv("FPA_WORKBOOK_MAX_INFLATED_BYTES", str(20 << 20))
    inbox = tmp_path / "in"
    path = book(inbox, NAME, [act()], [train()])
    padding = b" " * (30 << 20)  # 30 MiB that deflate to ~30 KB
    rewrite_part(
        path, "xl/styles.xml", lambda b: b.replace(b"<styleSheet", padding + b"<styleSheet")
    )
    assert path.stat().st_size < 200_000
    with load(inbox, tmp_path) as con:
        status, code, *_ = audit(con)[f"reports/{NAME}"]
        assert (status, code) == ("rejected", "workbook_too_large")
        assert (
            "inflate to more than 20.0 MiB"
            in con.execute("SELECT reason FROM audit.load_audit").fetchone()[0]
        )


def ods_grid(path: Path, rows: int, cols: int) -> None:
    """A 1 KB .ods whose 活动 sheet repeats one text cell over rows × cols: the reader expands
    every repeat into a cell."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
        'office:version="1.2"><office:body><office:spreadsheet>'
        f'<table:table table:name="活动"><table:table-row table:number-rows-repeated="{rows}">'
        f'<table:table-cell table:number-columns-repeated="{cols}" office:value-type="string">'
        "<text:p>x</text:p></table:table-cell></table:table-row></table:table>"
        '<table:table table:name="培训"><table:table-row><table:table-cell '
        'office:value-type="string"><text:p>y</text:p></table:table-cell></table:table-row>'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
            'names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path='
            '"/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type='
            '"text/xml"/></manifest:manifest>',
        )


def test_a_file_that_exhausts_the_readers_memory_is_rejected_and_the_night_goes_on(
    tmp_path, monkeypatch
):
    """99 M cells: without a cap the reader takes 3 GB and more (the machine's memory, for a
    larger grid); in its capped process it aborts, and the run carries on."""
    monkeypatch.setenv("FPA_WORKBOOK_MAX_MEMORY_BYTES", str(1 << 30))
    inbox = tmp_path / "in"
    bomb = "河池市计生协2023年4月工作月报.ods"
    ods_grid(inbox / "reports" / bomb, 9_900, 10_000)
    book(inbox, NAME, [act()], [train()])
    with load(inbox, tmp_path) as con:
        assert audit(con)[f"reports/{bomb}"][:2] == ("rejected", "reader_crashed")
        assert audit(con)[f"reports/{NAME}"][:2] == ("loaded", None)
        reason = con.execute(
            "SELECT reason FROM audit.load_audit WHERE file_name = ?", [f"reports/{bomb}"]
        ).fetchone()[0]
        assert "it stopped the reader (signal SIGABRT) within its 1,024.0 MiB memory cap" in reason


def test_a_run_killed_while_reading_a_file_rejects_that_file_next_time(tmp_path):
    """The kernel may kill the whole run (not only the reader): the file it was reading is
    marked beside the state first, and the next run rejects it unread and loads the rest."""
    inbox = tmp_path / "in"
    for m in (3, 4, 5, 6):
        book(
            inbox,
            f"河池市计生协2023年{m}月工作月报.xlsx",
            [act()],
            [train()],
            title=f"河池市计生协2023年{m}月",
        )
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    marker = warehouse.parent / "state" / "reading.json"
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fpa.cli",
            "ingest",
            "--inbox",
            str(inbox),
            "--warehouse",
            str(warehouse),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.001)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert marker.exists(), "the run ended before it read a workbook"
    killed_on = re.search(r'"file_name": "([^"]+)"', marker.read_text())[1]
    with load(inbox, tmp_path) as con:
        outcomes = audit(con)
    assert outcomes[killed_on][:2] == ("rejected", "reader_crashed")
    assert sorted(s[0] for n, s in outcomes.items() if n != killed_on) == ["loaded"] * 3
    assert not marker.exists() and not (marker.parent / "crashed.json").exists()


# ---- re-saved by a real office suite -------------------------------------------------------


def office_copy(src: Path, fmt: str, out: Path) -> Path:
    """src converted by LibreOffice headless, as an office re-saving a report does."""
    office.convert(src, fmt, out)
    return out / f"{src.stem}.{fmt}"


def parsed(path: Path, name: str) -> tuple:
    out = RowBuffer()
    outcome = reports.parse(out, path, name, "sha", None, Limits())
    tables = {t: [r[2:] for r in rows] for t, rows in out.tables.items() if t != "raw.reports"}
    tables["quarantine"] = [r[4:7] for r in out.tables.get("audit.quarantine", [])]
    return outcome.status, outcome.rows_received, outcome.rows_quarantined, tables


@pytest.mark.slow
@pytest.mark.libreoffice
def test_reports_resaved_by_libreoffice_read_exactly_as_the_original(small_inbox, tmp_path):
    """Every layout of the generator (two-row headers, merged titles, formulas in 合计, hidden
    rows, .xls) plus the strays above, round-tripped through LibreOffice to .xlsx, .xls and
    .ods: each copy gives the rows, quarantines and totals of the original."""
    reports_in = small_inbox / "reports"
    originals = sorted(reports_in.glob("*2023年*.xlsx"))[:5] + sorted(reports_in.glob("*.xls"))[:1]
    stray = book(
        tmp_path / "stray",
        NAME,
        [act(), act(county=None), blank(c1="小计", c8=240), act(type_="讲座")],
        [train()],
        act_merges=[(0, "县（市、区）", 1, "县（市、区）")],
        two_row=True,
    )
    originals.append(stray)
    assert {p.suffix for p in originals} == {".xls", ".xlsx"}
    for src in originals:
        expected = parsed(src, src.name)
        assert expected[0] == "loaded"
        for fmt in ("xlsx", "xls", "ods"):
            copy = office_copy(src, fmt, tmp_path / fmt)
            assert parsed(copy, src.name) == expected, f"{src.name} as .{fmt}"
    stray_rows = parsed(stray, NAME)
    assert stray_rows[1:3] == (5, 2)  # 4 活动 and 1 培训 rows, 2 set aside
    assert [q[0] for q in stray_rows[3]["quarantine"]] == [7, 8]  # the 小计 and 讲座 rows


@pytest.mark.slow
def test_a_night_with_every_stray_publishes_and_so_does_the_next(tmp_path, clean_inbox):
    from fpa.night import load as night

    inbox = tmp_path / "inbox"
    shutil.copytree(clean_inbox, inbox)
    book(
        inbox,
        "河池市计生协2023年5月工作月报（修订）.xlsx",
        [act(type_="讲座"), blank(c1="小计", c8=1), act(), act(participants=None)],
        [train()],
        act_merges=[(2, "参与人数", 3, "参与人数")],
        when=time.time(),
    )
    book(
        inbox,
        "河池市计生协2099年1月工作月报.xlsx",
        [act()],
        [train()],
        title="河池市计生协2099年1月",
    )
    ods_grid(inbox / "reports" / "河池市计生协2023年4月工作月报.ods", 2_000, 2_000)
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    first = night(inbox, warehouse)
    assert first.published, first.summary()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "SELECT reason_code, count(*) FROM marts.quarantine WHERE file_name LIKE '%修订%' "
            "GROUP BY ALL ORDER BY 1"
        ).fetchall() == [("merged_cells", 2), ("subtotal_row", 1), ("unknown_value", 1)]
        assert (
            con.execute("SELECT max(month) FROM marts.activities_monthly").fetchone()[0].year < 2099
        )
    # the next night: 河池's corrected June report (the clean inbox has the first one)
    book(
        inbox,
        "河池市计生协2023年6月工作月报（更正）.xlsx",
        [act()],
        [train()],
        title="河池市计生协2023年6月",
        when=time.time(),
    )
    second = night(inbox, warehouse)
    assert second.published, second.summary()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "SELECT file_name, status FROM marts.load_audit "
            "WHERE file_name LIKE 'reports/河池市计生协2023年6月%' ORDER BY 1"
        ).fetchall() == [
            ("reports/河池市计生协2023年6月工作月报.xlsx", "superseded"),
            ("reports/河池市计生协2023年6月工作月报（更正）.xlsx", "loaded"),
        ]
