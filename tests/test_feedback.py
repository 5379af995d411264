"""`fpa feedback` on the messy small inbox's published night: one workbook per provider with open
issues, whose 问题清单 rows are that provider's open rows of marts.data_issues, with the row as
delivered masked; LibreOffice headless opens every sheet; bad arguments exit 2 and write
nothing."""

import csv
import json
from datetime import datetime

import duckdb
import pytest
from openpyxl import load_workbook
from support import office
from support.personal_scan import in_clear

from fpa import feedback
from fpa.cli import main
from fpa.clock import CST

# every test reads the session's small night
pytestmark = [pytest.mark.slow]


def open_rows(warehouse) -> dict[str, list[dict]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cur = con.execute("SELECT * FROM marts.data_issues WHERE status = 'open'")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["provider"], []).append(r)
    return out


@pytest.fixture(scope="module")
def written(small_night, tmp_path_factory):
    warehouse, _ = small_night
    out = tmp_path_factory.mktemp("feedback")
    assert main(["feedback", "--warehouse", str(warehouse), "--out", str(out)]) == 0
    return warehouse, out


def test_one_workbook_per_provider_with_its_open_issues(written):
    warehouse, out = written
    issues = open_rows(warehouse)
    names = feedback.providers()
    day = datetime.now(CST).strftime("%Y%m%d")
    expected = {
        f"{names[p]}{'_' if p == 'insurer' else ''}数据问题清单_{day}.xlsx": p for p in issues
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    # the messy inbox: the insurer's rows and files, and cities' rows, files and reports
    assert "insurer" in issues and len(issues) == 15
    for name, provider in expected.items():
        wb = load_workbook(out / name, read_only=True)
        assert wb.sheetnames == ["概况", "问题清单"]
        rows = list(wb["问题清单"].iter_rows(values_only=True))
        assert rows[0] == tuple(h for h, _ in feedback.COLUMNS)
        by_id = {r["issue_id"]: r for r in issues[provider]}
        assert sorted(r[0] for r in rows[1:]) == sorted(by_id)
        for r in rows[1:]:
            want = by_id[r[0]]
            assert r[1] == feedback.KINDS[want["kind"]]
            assert (r[3], r[5], r[6]) == (want["file_name"], want["row_number"], want["field"])
            assert r[8] == want["reason"] and r[9] == want["action"]
            if want["raw_row"] is not None:  # the row as delivered, every cell of it
                cells = json.loads(want["raw_row"])
                assert r[7].splitlines() == [
                    f"{k}：{'' if v is None else v}" for k, v in cells.items()
                ]
        summary = [r for r in wb["概况"].iter_rows(values_only=True) if r and r[0]]
        counts = {r[0]: r[1] for r in summary}
        assert counts["合计"] == len(by_id)
        for kind, label in feedback.KINDS.items():
            n = sum(1 for r in issues[provider] if r["kind"] == kind)
            assert counts.get(label, 0) == n
        if provider != "insurer":
            with duckdb.connect(str(warehouse), read_only=True) as con:
                expected_n, received_n = con.execute(
                    "SELECT sum(expected_reports), sum(reports_received) "
                    "FROM marts.reporting_rates WHERE city_code = ? AND year(month) = ?",
                    [provider, datetime.now(CST).year],
                ).fetchone()
            assert counts["应报数"] == (expected_n or 0)
            assert counts["实报数"] == (received_n or 0)
        text = "\n".join(str(v) for ws in wb for r in ws.iter_rows(values_only=True) for v in r)
        assert in_clear(text) == []


def test_a_quarantined_rows_workbook_shows_it_masked(written):
    """A row with a wrong ID check digit: the ID is shown masked as the row was delivered."""
    warehouse, out = written
    insurer = next(out.glob("中国人寿_数据问题清单_*.xlsx"))
    rows = list(load_workbook(insurer, read_only=True)["问题清单"].iter_rows(values_only=True))
    ids = [r for r in rows[1:] if r[6] == "证件号码" and "校验码" in r[8]]
    assert ids, "the messy inbox has IDs with a wrong check digit"
    for r in ids:
        shown = dict(line.split("：", 1) for line in r[7].splitlines())
        assert shown["证件号码"].endswith("*" * 12) and set(shown["被保险人姓名"]) == {"*"}
        assert r[2] == f"{int(r[3][-12:-8])}年{int(r[3][-8:-6])}月{int(r[3][-6:-4])}日"


@pytest.mark.libreoffice
def test_libreoffice_opens_every_sheet_of_a_citys_workbook(written, tmp_path):
    warehouse, out = written
    issues = open_rows(warehouse)
    city = next(p for p in sorted(issues) if p != "insurer")
    (book,) = out.glob(f"{feedback.providers()[city]}数据问题清单_*.xlsx")
    office.convert(book, office.EVERY_SHEET_AS_CSV, tmp_path)
    sheet = tmp_path / f"{book.stem}-问题清单.csv"
    with open(sheet, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "问题编号"
    assert sorted(r[0] for r in rows[1:]) == sorted(r["issue_id"] for r in issues[city])
    assert (
        (tmp_path / f"{book.stem}-概况.csv")
        .read_text(encoding="utf-8")
        .startswith(feedback.providers()[city])
    )


def test_one_city_only_and_bad_arguments(small_night, tmp_path, capsys):
    warehouse, _ = small_night
    one = tmp_path / "one"
    assert (
        main(["feedback", "--warehouse", str(warehouse), "--out", str(one), "--city", "451200"])
        == 0
    )
    assert [p.name for p in one.iterdir()] == [
        f"河池市数据问题清单_{datetime.now(CST):%Y%m%d}.xlsx"
    ]
    bad = tmp_path / "bad"
    assert (
        main(["feedback", "--warehouse", str(warehouse), "--out", str(bad), "--city", "4512"]) == 2
    )
    assert "neither a city code" in capsys.readouterr().err
    missing = tmp_path / "nowhere" / "fpa.duckdb"
    assert main(["feedback", "--warehouse", str(missing), "--out", str(bad)]) == 2
    assert not bad.exists()
