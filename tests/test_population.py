"""Source 4, the yearly resident population (contract §4), on hand-built workbooks with the values
written here: what loads (in persons), what is quarantined and why, what rejects the file, and
which workbook of a year the staging model takes."""

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from support.workbooks import audit, load, reasons

from fpa.build import builds_dir, dbt_args, dbt_env, dbt_executable
from fpa.generate.workbooks import Sheet, xls_bytes, xlsx_bytes
from fpa.state import StatePaths

PERSONS = ["市", "县（市、区）", "常住人口（人）"]
WAN = ["市", "县（市、区）", "常住人口（万人）"]


def book(
    inbox: Path,
    year: int,
    rows: list[list],
    header=PERSONS,
    title: str | None = None,
    name: str | None = None,
    when: float = 1.7e9,
    xls: bool = False,
    merges=(),
) -> str:
    """A population workbook as the office sends it: a title, the header, the rows; merges are
    (first row, first column, last row, last column), 1-based over the whole sheet."""
    title = f"{year}年末广西各县（市、区）常住人口" if title is None else title
    body = [[title] + [None] * (len(header) - 1), list(header), *rows]
    sheet = Sheet("常住人口", body, [(1, 1, 1, len(header)), *merges])
    name = name or f"常住人口_{year}.{'xls' if xls else 'xlsx'}"
    path = inbox / "population" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(xls_bytes([sheet]) if xls else xlsx_bytes([sheet], datetime(2024, 3, 1)))
    os.utime(path, (when, when))
    return f"population/{name}"


def residents(con) -> list:
    return con.execute(
        "SELECT year, city_code, county_code, resident_population FROM raw.population "
        "ORDER BY year, county_code, received_at"
    ).fetchall()


def test_a_clean_file_in_persons_loads_one_row_per_county(tmp_path):
    inbox = tmp_path / "in"
    name = book(
        inbox,
        2022,
        [
            ["河池市", "金城江区", 352186],
            ["河池市", "宜州区", "561,734"],  # numbers as text
            ["河池市", "南丹县", "２７８６０５"],  # full width
            ["南宁市", "宾阳县", 806412.0],  # a float cell of a whole number
        ],
    )
    with load(inbox, tmp_path) as con:
        assert residents(con) == [
            (2022, "450100", "450126", 806412),
            (2022, "451200", "451202", 352186),
            (2022, "451200", "451203", 561734),
            (2022, "451200", "451221", 278605),
        ]
        assert audit(con)[name] == ("loaded", None, 4, 4, 0)
        assert con.execute(
            "SELECT source, reason FROM audit.load_audit WHERE file_name = ?", [name]
        ).fetchone() == ("population", None)
        assert reasons(con) == []


def test_a_file_in_wan_persons_with_decimals_is_multiplied_and_rounded(tmp_path):
    inbox = tmp_path / "in"
    name = book(
        inbox,
        2021,
        [
            ["河池市", "金城江区", 35.22],
            ["河池市", "宜州区", "56.1734"],
            ["河池市", "凤山县", "17.08335"],  # 170,833.5 persons: rounded half up
        ],
        header=["市", "县(市、区)", "年末常住人口（万人）"],  # a synonym, ASCII brackets
    )
    with load(inbox, tmp_path) as con:
        assert residents(con) == [
            (2021, "451200", "451202", 352200),
            (2021, "451200", "451203", 561734),
            (2021, "451200", "451223", 170834),
        ]
        assert audit(con)[name] == ("loaded", None, 3, 3, 0)


def test_a_bare_header_takes_its_unit_from_the_line_above_the_table(tmp_path):
    inbox = tmp_path / "in"
    body = [
        ["2022年末各县（市、区）常住人口", None, None],
        [None, None, "单位：万人"],
        ["市", "县区", "常住人口"],
        ["河池市", "金城江区", 35.2],
    ]
    path = inbox / "population" / "常住人口_2022.xlsx"
    path.parent.mkdir(parents=True)
    path.write_bytes(xlsx_bytes([Sheet("Sheet1", body)], datetime(2023, 3, 1)))
    with load(inbox, tmp_path) as con:
        assert residents(con) == [(2022, "451200", "451202", 352000)]


def test_old_short_prefixed_and_spaced_region_names_resolve(tmp_path):
    inbox = tmp_path / "in"
    name = book(
        inbox,
        2022,
        [
            ["南宁市", "横县", 879000],  # 横州市 since 2021
            ["百色", "平果县", 468000],  # 平果市 since 2019, the city short
            ["百色市", "田阳", 351000],  # short form of 田阳区
            ["桂林", "秀峰区", 163000],
            ["河池市", "河池市金城江区", 352186],  # the city prefixed
            ["河池市", "宜 州 区", 561734],  # stray spaces
        ],
        header=["市", "所属县区", "常住人口（人）"],
    )
    with load(inbox, tmp_path) as con:
        assert [r[2:] for r in residents(con)] == [
            ("450181", 879000),
            ("450302", 163000),
            ("451003", 351000),
            ("451082", 468000),
            ("451202", 352186),
            ("451203", 561734),
        ]
        assert audit(con)[name] == ("loaded", None, 6, 6, 0)


def test_city_and_province_totals_that_agree_load_the_counties_only(tmp_path):
    inbox = tmp_path / "in"
    name = book(
        inbox,
        2022,
        [
            ["南宁市", None, 87.9],  # a city's own row above its counties is its total
            ["南宁市", "横州市", 87.9],
            ["河池市", "金城江区", 35.22],
            ["河池市", "宜州区", 56.17],
            ["河池市", "凤山县", 17.08],
            ["河池市", "合计", 108.47],
            ["全区合计", None, 196.37],
        ],
        header=WAN,
    )
    with load(inbox, tmp_path) as con:
        assert residents(con) == [
            (2022, "450100", "450181", 879000),
            (2022, "451200", "451202", 352200),
            (2022, "451200", "451203", 561700),
            (2022, "451200", "451223", 170800),
        ]
        assert audit(con)[name] == ("loaded", None, 4, 4, 0)
        assert reasons(con) == []


def test_a_yearbook_layout_city_written_once_subtotals_repeated_header_and_a_note(tmp_path):
    inbox = tmp_path / "in"
    name = book(
        inbox,
        2022,
        [
            ["河池市", "金城江区", 352186],
            [None, "宜州区", 561734],
            [None, "小计", 913920],  # closes 河池市's rows
            PERSONS,  # the header again, on the next page
            ["南宁市", "宾阳县", 806412],
            [None, "小计", 806412],
            [None, "合计", 1720332],
            ["注：常住人口为年末数。", None, None],
            ["河池市", "南丹县", 1],  # below the note: not the table
        ],
        title="广西统计年鉴2023 2022年末常住人口",  # the edition's year is not the figures'
    )
    with load(inbox, tmp_path) as con:
        assert [r[2:] for r in residents(con)] == [
            ("450126", 806412),
            ("451202", 352186),
            ("451203", 561734),
        ]
        assert audit(con)[name] == ("loaded", None, 3, 3, 0)


def test_rounding_in_a_yearbook_total_is_not_a_mismatch(tmp_path):
    """Each figure and the total rounded on their own: 35.224 + 56.174 = 91.398, printed 91.40
    beside 35.22 and 56.17 (sum 91.39)."""
    inbox = tmp_path / "in"
    book(
        inbox,
        2022,
        [["河池市", "金城江区", 35.22], ["河池市", "宜州区", 56.17], ["河池市", "合计", 91.40]],
        header=WAN,
    )
    with load(inbox, tmp_path) as con:
        assert len(residents(con)) == 2


@pytest.mark.parametrize(
    "total_row, wrong",
    [
        (
            ["河池市", "合计", 990000],
            "河池市 合计 (河池市) is 990,000, its counties sum to 913,920",
        ),
        (["全区合计", None, 1000000], "全区合计 (全区) is 1,000,000, its counties sum to 913,920"),
    ],
)
def test_a_total_that_disagrees_rejects_the_file(tmp_path, total_row, wrong):
    inbox = tmp_path / "in"
    name = book(
        inbox,
        2022,
        [["河池市", "金城江区", 352186], ["河池市", "宜州区", 561734], total_row],
    )
    with load(inbox, tmp_path) as con:
        assert residents(con) == []
        assert reasons(con) == []
        assert audit(con)[name] == ("rejected", "total_mismatch", 0, 0, 0)
        (reason,) = con.execute(
            "SELECT reason FROM audit.load_audit WHERE file_name = ?", [name]
        ).fetchone()
        rows = con.execute("SELECT count(*) FROM landing.manifest").fetchone()[0]
    assert reason == (
        "a 合计 row differs from the sum of the rows it totals: 常住人口_2022.xlsx: row 5 "
        f"{wrong} (常住人口（人）)"
    )
    assert rows == 1  # received and kept in the archive, only not loaded


def test_a_county_of_another_city_is_quarantined_the_rest_loads(tmp_path):
    inbox = tmp_path / "in"
    name = book(
        inbox,
        2022,
        [
            ["河池市", "金城江区", 352186],
            ["河池市", "兴宁区", 486000],  # 兴宁区 is 南宁市's
            ["河池市", "不存在县", 100000],
            ["河池市", "宜州区", "约五十万"],
            ["河池市", "合计", 938186],  # what the rows say, the bad ones too: checked, agrees
        ],
    )
    with load(inbox, tmp_path) as con:
        assert residents(con) == [(2022, "451200", "451202", 352186)]
        assert reasons(con) == [
            (4, "county_of_other_city"),
            (5, "unknown_region"),
            (6, "unreadable_value"),
        ]
        assert audit(con)[name] == ("loaded", None, 4, 1, 3)
        row = con.execute(
            "SELECT source, sheet, reason, raw_row FROM audit.quarantine WHERE row_number = 4"
        ).fetchone()
        note = con.execute(
            "SELECT reason FROM audit.load_audit WHERE file_name = ?", [name]
        ).fetchone()[0]
    assert row[:3] == (
        "population",
        "常住人口",
        "county belongs to another city than the report's: 兴宁区 is not of 河池市",
    )
    assert json.loads(row[3]) == {
        "市": "河池市",
        "县（市、区）": "兴宁区",
        "常住人口（人）": 486000,
    }
    # an unreadable figure under 河池市: its 合计 (and the province's) cannot be checked
    assert note == "合计 of 河池市 not checked: a figure under it is unreadable"


def test_fractions_of_a_person_and_non_positive_figures_are_quarantined(tmp_path):
    inbox = tmp_path / "in"
    book(
        inbox,
        2022,
        [
            ["河池市", "金城江区", 35.22],  # 万人 keyed under a 人 header
            ["河池市", "宜州区", 0],
            ["河池市", "南丹县", "—"],  # no figure
            ["河池市", "凤山县", 170833],
        ],
    )
    with load(inbox, tmp_path) as con:
        assert residents(con) == [(2022, "451200", "451223", 170833)]
        assert reasons(con) == [
            (3, "unreadable_value"),
            (4, "unreadable_value"),
            (5, "unreadable_value"),
        ]
        got = [
            r[0]
            for r in con.execute(
                "SELECT reason FROM audit.quarantine ORDER BY row_number"
            ).fetchall()
        ]
    assert got == [
        "a date or number that cannot be read: 常住人口（人） 35.22 is no number of persons "
        "(万人 under a 人 header?)",
        "a date or number that cannot be read: 常住人口（人） 0 is no number of persons",
        "a date or number that cannot be read: no 常住人口（人） figure",
    ]


def test_a_city_cell_merged_over_its_counties_holds_for_each_in_xls(tmp_path):
    inbox = tmp_path / "in"
    name = book(
        inbox,
        2022,
        [["河池市", "金城江区", 352186], [None, "宜州区", 561734], [None, "兴宁区", 486000]],
        xls=True,
        merges=[(3, 1, 5, 1)],  # 河池市 over the three rows
    )
    with load(inbox, tmp_path) as con:
        assert [r[2:] for r in residents(con)] == [("451202", 352186), ("451203", 561734)]
        assert reasons(con) == [(5, "county_of_other_city")]
        assert audit(con)[name] == ("loaded", None, 3, 2, 1)


@pytest.mark.parametrize(
    "kwargs, reason, says",
    [
        (
            {"title": "2021年末广西各县（市、区）常住人口"},
            "title_filename_mismatch",
            "give years 2021, 2022",
        ),
        ({"header": ["市", "县（市、区）", "常住人口"]}, "unknown_layout", "names no unit"),
        ({"header": ["市", "乡镇", "常住人口（人）"]}, "unknown_layout", "no header row"),
        (
            {"rows": [["河池市", "金城江区", 352186], ["河池市", "河池市金城江区", 352186]]},
            "unknown_layout",
            "河池市金城江区 is given twice (rows 3 and 4)",
        ),
    ],
)
def test_a_file_the_year_or_layout_of_which_is_unclear_is_rejected(tmp_path, kwargs, reason, says):
    inbox = tmp_path / "in"
    kwargs = dict(kwargs)
    rows = kwargs.pop("rows", [["河池市", "金城江区", 352186]])
    name = book(inbox, 2022, rows, **kwargs)
    with load(inbox, tmp_path) as con:
        assert residents(con) == []
        assert audit(con)[name][:2] == ("rejected", reason)
        (text,) = con.execute("SELECT reason FROM audit.load_audit").fetchone()
    assert says in text


@pytest.mark.parametrize("year", [2009, datetime.now().year + 1])
def test_a_year_outside_2010_to_this_year_is_rejected(tmp_path, year):
    inbox = tmp_path / "in"
    name = book(inbox, year, [["河池市", "金城江区", 352186]])
    with load(inbox, tmp_path) as con:
        assert audit(con)[name][:2] == ("rejected", "period_out_of_range")


def test_a_workbook_outside_population_or_not_a_workbook_is_no_population(tmp_path):
    inbox = tmp_path / "in"
    (inbox / "population").mkdir(parents=True)
    (inbox / "population" / "常住人口_2022.csv").write_text("市,县,人口\n")
    with load(inbox, tmp_path) as con:
        assert con.execute(
            "SELECT source, status, reason_code FROM audit.load_audit"
        ).fetchall() == [("unknown", "rejected", "unknown_file")]


# ---- the staging model: the latest workbook of a year ------------------------------------------


def _build_staging(warehouse: Path) -> Path:
    """dbt itself on the state: the staging model with its tests, and marts.load_audit with
    its (the source accepted_values among them)."""
    candidate = warehouse.parent / "candidate.duckdb"
    proc = subprocess.run(
        [
            dbt_executable(),
            *dbt_args(
                [
                    "build",
                    "--select",
                    "stg_population__residents",
                    "+load_audit",
                    "regions_cities",
                    "regions_counties",
                    # the seeds' own tests, not every mart's relationship to them
                    "--indirect-selection",
                    "cautious",
                ],
                warehouse,
            ),
        ],
        env={**os.environ, **dbt_env(candidate, warehouse)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads(
        (builds_dir(warehouse) / "dbt" / "target" / "run_results.json").read_text()
    )["results"]
    tests = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("test.")}
    ours = [t for t in tests if "stg_population__residents" in t]
    # unique year + county, not_null on every column, both codes known to the seeds
    assert len(ours) == 8 and {tests[t] for t in ours} == {"pass"}
    assert any("accepted_values_load_audit_source" in t for t in tests)
    return candidate


@pytest.mark.slow
def test_a_year_delivered_again_replaces_the_earlier_file_in_staging(tmp_path):
    inbox = tmp_path / "in"
    book(inbox, 2021, [["河池市", "金城江区", 350000], ["河池市", "宜州区", 560000]], when=1.6e9)
    book(inbox, 2022, [["河池市", "金城江区", 351000], ["河池市", "宜州区", 561000]], when=1.7e9)
    # the office sends 2022 again, corrected, without 宜州区
    book(
        inbox,
        2022,
        [["河池市", "金城江区", 352186], ["河池市", "南丹县", 278605]],
        name="常住人口_2022（更正）.xlsx",
        when=1.71e9,
    )
    warehouse = tmp_path / "wh" / "fpa.duckdb"
    with load(inbox, tmp_path) as con:
        assert len(residents(con)) == 6  # every loaded workbook's rows are kept
        assert sorted(a[0] for a in audit(con).values()) == ["loaded"] * 3
    candidate = _build_staging(warehouse)
    with duckdb.connect(str(candidate), read_only=True) as con:
        con.execute(f"ATTACH '{StatePaths(warehouse).db}' AS state (READ_ONLY)")
        got = con.execute(
            "SELECT year, city_code, county_code, resident_population FROM "
            "staging.stg_population__residents ORDER BY year, county_code"
        ).fetchall()
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'staging' AND table_name = 'stg_population__residents'"
            ).fetchall()
        )
        sources = con.execute(
            "SELECT source, status, rows_loaded FROM marts.load_audit ORDER BY received_at"
        ).fetchall()
    assert got == [
        (2021, "451200", "451202", 350000),
        (2021, "451200", "451203", 560000),
        (2022, "451200", "451202", 352186),
        (2022, "451200", "451221", 278605),  # 宜州区 has no 2022 row: the later file lacks it
    ]
    assert types == {
        "year": "INTEGER",
        "city_code": "VARCHAR",
        "county_code": "VARCHAR",
        "resident_population": "BIGINT",
        "received_at": "TIMESTAMP WITH TIME ZONE",
    }
    assert sources == [("population", "loaded", 2)] * 3


class _LocalSFTP:
    """What pull() uses of a paramiko SFTPClient, over a local folder."""

    def listdir_attr(self, path: str):
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(path)
        out = []
        for p in folder.iterdir():
            st = p.stat()
            out.append(
                type(
                    "Attr",
                    (),
                    {
                        "filename": p.name,
                        "st_mode": st.st_mode,
                        "st_size": st.st_size,
                        "st_mtime": st.st_mtime,
                        "st_atime": st.st_atime,
                    },
                )
            )
        return out

    def open(self, path: str, mode: str):
        f = open(path, mode)  # closed by the caller's with
        f.prefetch = lambda size=None: None
        return f


def test_the_sftp_pull_takes_the_population_folder(tmp_path):
    from fpa.orchestration.pull import pull

    remote = tmp_path / "remote"
    book(remote, 2022, [["河池市", "金城江区", 352186]], when=1.7e9)
    inbox = tmp_path / "in"
    got = pull(_LocalSFTP(), str(remote), inbox, set())
    assert got.pulled == ["population/常住人口_2022.xlsx"]
    assert int((inbox / "population" / "常住人口_2022.xlsx").stat().st_mtime) == 1_700_000_000
    with load(inbox, tmp_path) as con:
        assert residents(con) == [(2022, "451200", "451202", 352186)]
