"""City monthly reports built by hand, laid out as the template (contract §2) lays them out,
with the values a test writes: the builders test_sources and test_hostile_workbooks share."""

import os
from datetime import datetime
from pathlib import Path

import duckdb

from fpa.generate.workbooks import Sheet, xls_bytes, xlsx_bytes
from fpa.ingest import ingest


def load(inbox: Path, tmp: Path) -> duckdb.DuckDBPyConnection:
    ingest(inbox, tmp / "wh" / "fpa.duckdb")
    return duckdb.connect(str(tmp / "wh" / "state" / "state.duckdb"), read_only=True)


def audit(con) -> dict:
    return {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT file_name, status, reason_code, rows_received, rows_loaded, rows_quarantined "
            "FROM audit.load_audit"
        ).fetchall()
    }


def reasons(con) -> list:
    return con.execute(
        "SELECT row_number, reason_code FROM audit.quarantine ORDER BY file_name, sheet, row_number"
    ).fetchall()


ACT = [
    "序号",
    "县（市、区）",
    "乡镇（街道）",
    "活动日期",
    "活动名称",
    "活动类型",
    "所属项目",
    "主办单位",
    "参与人数",
    "服务人次",
    "发放资料（份）",
    "投入经费（元）",
    "备注",
]
TRAIN = [
    "序号",
    "培训班名称",
    "主办单位",
    "县（市、区）",
    "开始日期",
    "结束日期",
    "培训对象",
    "培训人数",
    "培训方式",
    "学时",
    "备注",
]


def book(
    inbox: Path,
    name: str,
    acts: list[list],
    trains: list[list],
    act_header=ACT,
    train_header=TRAIN,
    title="河池市计生协2023年5月",
    filled="2023年6月5日",
    sheets=("活动", "培训"),
    xls=False,
    totals: dict | None = None,
    hidden=(),
    two_row: bool = False,
    when: float = 1.7e9,
    act_merges=(),
) -> Path:
    """A city's monthly report as the template lays it out; act_merges are merged cells among
    the 活动 data rows: (first row, first column, last row, last column), rows counted from 0
    among the data rows, columns by their header."""

    def sheet(sheet_name, label, header, rows, data_merges=()):
        head = [
            [f"{title}{label}"] + [None] * (len(header) - 1),
            ["填报单位：河池市计划生育协会"]
            + [None] * (len(header) - 3)
            + [f"填报日期：{filled}", None],
        ]
        merges = [(1, 1, 1, len(header))]
        if two_row and "参与人数" in header:
            i = header.index("参与人数")
            top = [None if c in ("参与人数", "服务人次") else c for c in header]
            top[i] = "参与情况"
            sub = [c if c in ("参与人数", "服务人次") else None for c in header]
            head += [top, sub]
            merges.append((3, i + 1, 3, i + 2))
        else:
            head.append(header)
        body = head + rows + [["合计"] + [None] * (len(header) - 1)]
        formulas = {}
        for col, (value, as_formula) in (totals or {}).get(label, {}).items():
            c = header.index(col) + 1
            if as_formula:
                formulas[(len(body), c)] = (f"SUM(A{len(head) + 1}:A{len(body) - 1})", value)
            else:
                body[-1][c - 1] = value
        body.append(["填报人：某某"] + [None] * (len(header) - 1))
        for r1, c1, r2, c2 in data_merges:
            at = len(head) + 1  # the first data row, 1-based
            merges.append((at + r1, header.index(c1) + 1, at + r2, header.index(c2) + 1))
        return Sheet(sheet_name, body, merges, {len(head) + h for h in hidden}, formulas)

    ss = [
        sheet(sheets[0], "活动情况统计表", act_header, acts, act_merges),
        sheet(sheets[1], "培训情况统计表", train_header, trains),
    ]
    path = inbox / "reports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(xls_bytes(ss) if xls else xlsx_bytes(ss, datetime(2023, 6, 5)))
    os.utime(path, (when, when))
    return path


def act(
    county="金城江区",
    date_="2023-05-10",
    participants=120,
    visits=150,
    materials=300,
    funds=2000,
    type_="宣传倡导",
    project="会员活动日",
):
    return [
        1,
        county,
        "五圩镇",
        date_,
        "宣传服务",
        type_,
        project,
        "金城江区计生协",
        participants,
        visits,
        materials,
        funds,
        None,
    ]


def train(start="2023-05-15", end="2023-05-16", trainees=48, hours=12, county=None):
    return [
        1,
        "青春健康师资培训班",
        "河池市计生协",
        county,
        start,
        end,
        "青春健康师资",
        trainees,
        "线下",
        hours,
        None,
    ]


NAME = "河池市计生协2023年5月工作月报.xlsx"


def activities(con) -> list:
    return con.execute(
        "SELECT county_code, participants, participants_approx, service_visits, "
        "materials, funds_yuan, starts_on, ends_on FROM raw.report_activities "
        "ORDER BY row_number"
    ).fetchall()
