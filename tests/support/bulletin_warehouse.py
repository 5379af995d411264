"""A tiny published warehouse for `fpa bulletin`, by hand: the marts it reads with exactly the
columns of WAREHOUSE.md, holding figures chosen so a sentence's every number is known — 河池市
on 2022-12-31 is the newsletter's 2022 (28.38万份, 1418.77万元, 157.64 % of 18万份, 764.44万元
paid, 53.88 %), and the cities' coverage is the newsletter's 2020 list against 5.61 %.

Days held in marts.insurance_progress: 2021-12-31, 2022-06-30, 2022-12-31 and 2024-03-31
(2024: no target issued, no 2023 to compare with, the population of 2023). A real mart holds
every day; the sparse one keeps the numbers few.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from fpa import reference
from fpa.clock import CST

FIRST_DAY = date(2021, 12, 31)
NEWEST_DAY = date(2024, 3, 31)
BUILT_AT = datetime(2023, 1, 6, 10, 0, tzinfo=CST)  # the gate's run that published it
NEWEST_FILE = "reports/河池市计生协2022年12月工作月报.xlsx"
NEWEST_FILE_AT = datetime(2023, 1, 5, 9, 30, tzinfo=CST)

# city: (JSGA units written in 2022, 2022 target, resident population, units in 2021)
CITIES = {
    "南宁市": (401000, 380000, 13641316, 396000),
    "柳州市": (260000, 230000, 4297521, 248000),
    "桂林市": (214000, 200000, 5095238, 219000),
    "梧州市": (164000, 130000, 2981818, 160000),
    "北海市": (150000, 120000, 1891551, 146000),
    "防城港市": (40000, 45000, 1000000, 41000),
    "钦州市": (446427, 250000, 3242026, 440000),
    "贵港市": (240000, 200000, 4800000, 172000),
    "玉林市": (250000, 260000, 6097561, 252000),
    "百色市": (410000, 300000, 3559028, 380000),
    "贺州市": (80000, 90000, 2051282, 79000),
    "河池市": (283752, 180000, 4392446, 281000),
    "来宾市": (140000, 120000, 2163833, 125000),
    "崇左市": (135000, 110000, 2080123, 134000),
}
# 河池市's counties: (units 2022, units 2021, population; None: not in the yearbook)
HECHI_COUNTIES = {
    "金城江区": (52000, 40000, 350000),
    "宜州区": (48000, 47000, 560000),
    "南丹县": (20000, 21000, 290000),
    "天峨县": (10000, 10500, 160000),
    "凤山县": (12000, 12500, 190000),
    "东兰县": (15000, 15500, 220000),
    "罗城仫佬族自治县": (20000, 20500, 300000),
    "环江毛南族自治县": (22000, 22500, 290000),
    "巴马瑶族自治县": (25000, 25500, 240000),
    "都安瑶族自治县": (35752, 24000, 520000),
    "大化瑶族自治县": (24000, 42000, None),
}
# other cities' counties above 5万份 (the newsletter's 2020 list, in part)
OTHER_COUNTIES = {"浦北县": 205029, "灵山县": 166915, "桂平市": 81334, "西乡塘区": 65951}
# 河池市's figures the newsletter printed for 2022, in yuan
HECHI_PREMIUM = Decimal("14187700.00")
HECHI_CLAIMS = 16584
HECHI_PAID = Decimal("7644400.00")

PROGRESS_COLUMNS = """
    as_of_date DATE, year INTEGER, product_code VARCHAR, area_level VARCHAR,
    city_code VARCHAR, city_name VARCHAR, county_code VARCHAR, county_name VARCHAR,
    policies_to_date BIGINT, units_to_date BIGINT, premium_to_date_yuan DECIMAL(18,2),
    insured_persons_to_date BIGINT, claims_settled_to_date BIGINT,
    claims_paid_to_date_yuan DECIMAL(18,2), loss_ratio_to_date DOUBLE, target_units BIGINT,
    completion_rate_to_date DOUBLE, time_share DOUBLE, ahead_of_schedule DOUBLE,
    units_same_day_last_year BIGINT, yoy_units_to_date BIGINT"""
YEAR_COLUMNS = """
    policies BIGINT, units BIGINT, premium_yuan DECIMAL(18,2), insured_persons BIGINT,
    claims_settled BIGINT, claims_paid_yuan DECIMAL(18,2), loss_ratio DOUBLE"""
DDL = f"""
CREATE SCHEMA marts;
CREATE TABLE marts.insurance_progress ({PROGRESS_COLUMNS});
CREATE TABLE marts.insurance_city_year (
    year INTEGER, product_code VARCHAR, city_code VARCHAR, city_name VARCHAR, {YEAR_COLUMNS},
    target_units BIGINT, completion_rate DOUBLE, yoy_units BIGINT,
    resident_population BIGINT, population_year INTEGER, coverage_rate DOUBLE);
CREATE TABLE marts.insurance_county_year (
    year INTEGER, product_code VARCHAR, city_code VARCHAR, city_name VARCHAR,
    county_code VARCHAR, county_name VARCHAR, {YEAR_COLUMNS},
    resident_population BIGINT, population_year INTEGER, coverage_rate DOUBLE);
CREATE TABLE marts.activities_monthly (
    month DATE, city_code VARCHAR, county_code VARCHAR, activity_type VARCHAR, project VARCHAR,
    activities BIGINT, participants BIGINT, service_visits BIGINT, materials BIGINT,
    funds_yuan DECIMAL(18,2), approx_participants BIGINT);
CREATE TABLE marts.training_monthly (
    month DATE, city_code VARCHAR, county_code VARCHAR, audience VARCHAR, mode VARCHAR,
    courses BIGINT, trainees BIGINT, trainee_days BIGINT, hours DECIMAL(18,2));
CREATE TABLE marts.load_audit (
    source VARCHAR, file_name VARCHAR, file_sha256 VARCHAR, received_at TIMESTAMPTZ,
    status VARCHAR, reason VARCHAR, rows_received INTEGER, rows_loaded INTEGER,
    rows_quarantined INTEGER);
CREATE TABLE marts.report_completeness (
    month DATE, city_code VARCHAR, city_name VARCHAR, received BOOLEAN, received_at TIMESTAMPTZ,
    days_after_month_end INTEGER, due_at TIMESTAMPTZ, on_time BOOLEAN, revisions INTEGER);
CREATE TABLE marts.reporting_rates (
    month DATE, city_code VARCHAR, city_name VARCHAR, expected_reports INTEGER,
    reports_received INTEGER, reports_on_time INTEGER, reporting_rate DOUBLE,
    reporting_rate_on_time DOUBLE);
CREATE TABLE marts.data_issues (
    issue_id VARCHAR, provider VARCHAR, city_code VARCHAR, kind VARCHAR, month DATE,
    file_name VARCHAR, row_number INTEGER, field VARCHAR, reason_code VARCHAR, reason VARCHAR,
    action VARCHAR, detected_at TIMESTAMPTZ, status VARCHAR, resolved_at TIMESTAMPTZ);
CREATE TABLE marts.quality_results (
    run_id VARCHAR, run_at TIMESTAMPTZ, suite VARCHAR, expectation VARCHAR, severity VARCHAR,
    success BOOLEAN, observed VARCHAR);
"""


@dataclass
class Figures:
    """An area's to-date figures on one day (the mart's additive columns)."""

    units: int
    premium: Decimal
    claims: int
    paid: Decimal

    @property
    def policies(self) -> int:
        return self.units * 5 // 6

    @property
    def persons(self) -> int:
        return self.units * 9 // 10


def _scaled(f: Figures, share: tuple[int, int]) -> Figures:
    n, d = share
    return Figures(
        f.units * n // d,
        (f.premium * n / d).quantize(Decimal("0.01")),
        f.claims * n // d,
        (f.paid * n / d).quantize(Decimal("0.01")),
    )


def _year_end(units: int) -> Figures:
    premium = Decimal(units * 50)
    return Figures(units, premium, units // 20, (premium * Decimal("0.45")).quantize(Decimal(1)))


def _city_codes() -> dict[str, str]:
    return {c.name: c.code for c in reference.cities()}


def _county_codes() -> dict[str, tuple[str, str, str]]:
    return {c.name: (c.code, c.city_code, c.city_name) for c in reference.counties()}


def _time_share(d: date) -> float:
    days = 366 if d.year % 4 == 0 else 365
    return d.timetuple().tm_yday / days


def _progress_row(d, product, level, city, county, f: Figures, target, before: int | None):
    city_code, city_name = city or (None, None)
    county_code, county_name = county or (None, None)
    completion = f.units / target if target else None
    return (
        d, d.year, product, level, city_code, city_name, county_code, county_name,
        f.policies, f.units, f.premium, f.persons, f.claims, f.paid,
        float(f.paid / f.premium) if f.premium else None,
        target, completion, _time_share(d),
        None if completion is None else completion - _time_share(d),
        before, None if before is None else f.units - before,
    )  # fmt: skip


def make_warehouse(path: Path) -> Path:
    """The tiny published warehouse at `path` (written whole, as the real one is)."""
    city_codes, county_codes = _city_codes(), _county_codes()
    # the 2022 year-end of each city; 河池市 as the newsletter printed it
    year_end = {n: _year_end(v[0]) for n, v in CITIES.items()}
    year_end["河池市"] = Figures(283752, HECHI_PREMIUM, HECHI_CLAIMS, HECHI_PAID)
    last_year = {n: _year_end(v[3]) for n, v in CITIES.items()}
    progress, city_year, county_year = [], [], []

    def add_day(d: date, share, by_city: dict[str, Figures], target_of, before_of):
        """The province, the cities and the counties of JSGA on d, then the other products."""
        total = Figures(0, Decimal(0), 0, Decimal(0))
        for name, full in by_city.items():
            f = _scaled(full, share)
            total = Figures(
                total.units + f.units, total.premium + f.premium,
                total.claims + f.claims, total.paid + f.paid,
            )  # fmt: skip
            before = before_of(name)
            progress.append(
                _progress_row(
                    d,
                    "JSGA",
                    "city",
                    (city_codes[name], name),
                    None,
                    f,
                    target_of(name),
                    None if before is None else before.units,
                )  # fmt: skip
            )
        targets = [target_of(n) for n in by_city]
        befores = [before_of(n) for n in by_city]
        progress.append(
            _progress_row(
                d,
                "JSGA",
                "province",
                None,
                None,
                total,
                None if None in targets else sum(targets),
                None if None in befores else sum(b.units for b in befores),
            )  # fmt: skip
        )
        return total

    # 2021-12-31: the year before (no comparison with 2020: not held)
    add_day(FIRST_DAY, (1, 1), last_year, lambda n: CITIES[n][1] - 10000, lambda n: None)
    # 2022-06-30 (a quarter of the year's units by then: behind the schedule) and 2022-12-31
    for d, share in ((date(2022, 6, 30), (1, 4)), (date(2022, 12, 31), (1, 1))):
        before_day = date(2021, 6, 30) if d.month == 6 else FIRST_DAY
        add_day(
            d,
            share,
            year_end,
            lambda n: CITIES[n][1],
            (lambda n: None) if before_day != FIRST_DAY else (lambda n: last_year[n]),
        )
    # 2024-03-31: no target, no 2023
    add_day(NEWEST_DAY, (1, 4), year_end, lambda n: None, lambda n: None)

    # the counties on 2022-12-31 (and 2021-12-31, 2024-03-31 for 河池市's)
    hechi = ("451200", "河池市")
    for name, (u22, u21, _) in HECHI_COUNTIES.items():
        code = county_codes[name][0]
        for d, units, before in (
            (FIRST_DAY, u21, None),
            (date(2022, 12, 31), u22, u21),
            (NEWEST_DAY, u22 // 4, None),
        ):
            progress.append(
                _progress_row(d, "JSGA", "county", hechi, (code, name), _year_end(units), None,
                              before)
            )  # fmt: skip
    for name, units in OTHER_COUNTIES.items():
        code, city_code, city_name = county_codes[name]
        progress.append(
            _progress_row(
                date(2022, 12, 31),
                "JSGA",
                "county",
                (city_code, city_name),
                (code, name),
                _year_end(units),
                None,
                units - 5000,
            )  # fmt: skip
        )

    # the other products on 2021-12-31 and 2022-12-31, the province and 河池市
    for product, price, units_22, units_21 in (("JSAX", 20, 52000, 50000), ("JSTS", 400, 3000, 0)):
        for d, units, before in (
            (FIRST_DAY, units_21, None),
            (date(2022, 12, 31), units_22, units_21),
        ):
            f = Figures(units, Decimal(units * price), units // 50, Decimal(units * price // 3))
            progress.append(_progress_row(d, product, "province", None, None, f, None, before))
            h = _scaled(f, (1, 10))
            progress.append(
                _progress_row(d, product, "city", hechi, None, h, None,
                              None if before is None else before // 10)
            )  # fmt: skip

    # the mart is dense: a product with nothing yet in 2024 has its row of zeros
    progress.append(
        _progress_row(
            NEWEST_DAY,
            "JSTS",
            "province",
            None,
            None,
            Figures(0, Decimal(0), 0, Decimal(0)),
            None,
            None,
        )  # fmt: skip
    )

    # the yearly marts: year-end figures with the population (2024: 2023's)
    for year, figures, pop_year in ((2021, last_year, 2021), (2022, year_end, 2022),
                                    (2024, None, 2023)):  # fmt: skip
        for name, (_, target, pop, _) in CITIES.items():
            f = figures[name] if figures else _scaled(year_end[name], (1, 4))
            t = None if year == 2024 else target
            city_year.append(
                (year, "JSGA", city_codes[name], name, f.policies, f.units, f.premium, f.persons,
                 f.claims, f.paid, float(f.paid / f.premium), t,
                 f.units / t if t else None, None, pop, pop_year, f.units / pop)
            )  # fmt: skip
        for name, (u22, u21, pop) in HECHI_COUNTIES.items():
            units = {2021: u21, 2022: u22, 2024: u22 // 4}[year]
            f = _year_end(units)
            county_year.append(
                (year, "JSGA", "451200", "河池市", county_codes[name][0], name, f.policies,
                 f.units, f.premium, f.persons, f.claims, f.paid, float(f.paid / f.premium),
                 pop, None if pop is None else pop_year, None if pop is None else f.units / pop)
            )  # fmt: skip

    if path.exists():
        path.unlink()
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(DDL)
        con.executemany(
            f"INSERT INTO marts.insurance_progress VALUES ({', '.join(['?'] * 21)})", progress
        )
        con.executemany(
            f"INSERT INTO marts.insurance_city_year VALUES ({', '.join(['?'] * 17)})", city_year
        )
        con.executemany(
            f"INSERT INTO marts.insurance_county_year VALUES ({', '.join(['?'] * 16)})",
            county_year,
        )
        # the dashboards' yearly table, whose population columns the bulletin reads: the
        # cities' and counties' rows, and the province's (here every county is in the yearbook)
        con.execute(
            "CREATE TABLE marts.insurance_area_year AS "
            "SELECT year, product_code, 'city' AS area_level, city_code AS area_code, "
            "city_code, NULL::VARCHAR AS county_code, resident_population, population_year "
            "FROM marts.insurance_city_year UNION ALL "
            "SELECT year, product_code, 'county', county_code, city_code, county_code, "
            "resident_population, population_year FROM marts.insurance_county_year UNION ALL "
            "SELECT year, product_code, 'province', '450000', NULL, NULL, "
            "sum(resident_population), min(population_year) FROM marts.insurance_city_year "
            "GROUP BY year, product_code"
        )
        _activities(con)
        _reporting(con, city_codes)
        _audit(con)
    return path


# 河池市's activities and training in November and December 2022, 钦州市's in December
ACTIVITIES = [
    # month, city, county, type, project, activities, participants, visits, funds
    (date(2022, 11, 1), "451200", "451202", "宣传倡导", "青春健康", 4, 200, 260, "8000.00"),
    (date(2022, 12, 1), "451200", "451202", "健康讲座", "青春健康", 3, 120, 300, "5000.00"),
    (date(2022, 12, 1), "451200", None, "走访慰问", "暖心行动", 2, 80, 90, "12000.50"),
    (date(2022, 12, 1), "450700", "450722", "义诊服务", "优生优育", 5, 400, 650, "30000.00"),
]
TRAINING = [
    # month, city, county, audience, mode, courses, trainees, trainee_days
    (date(2022, 11, 1), "451200", "451202", "计生协干部", "线下", 1, 40, 80),
    (date(2022, 12, 1), "451200", "451228", "协保员", "线下", 2, 96, 192),
    (date(2022, 12, 1), "450700", None, "志愿者", "线上", 1, 60, 60),
]


def _activities(con) -> None:
    con.executemany(
        "INSERT INTO marts.activities_monthly VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0)",
        [(*a[:8], Decimal(a[8])) for a in ACTIVITIES],
    )
    con.executemany(
        "INSERT INTO marts.training_monthly VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)", TRAINING
    )


def _reporting(con, city_codes: dict[str, str]) -> None:
    """2022's reports: every city on time but 南宁市 (November missing) and 梧州市 (November 15
    days late); December's due after the build, received from 河池市 and 钦州市 only."""
    rows = []
    for m in range(1, 13):
        month = date(2022, m, 1)
        due_day = date(2022 + (m == 12), m % 12 + 1, 10)
        due = datetime(due_day.year, due_day.month, 10, 23, 59, 59, tzinfo=CST)
        for name, code in city_codes.items():
            received_at, days, on_time = (
                datetime(due_day.year, due_day.month, 5, 9, 0, tzinfo=CST),
                None,
                True,
            )
            if m == 11 and name == "南宁市":
                received_at, on_time = None, False
            elif m == 11 and name == "梧州市":
                received_at, on_time = datetime(2022, 12, 15, 9, 0, tzinfo=CST), False
            elif m == 12 and name not in ("河池市", "钦州市"):
                received_at, on_time = None, None  # not due yet at the build
            if received_at is not None:
                days = (received_at.date() - (date(due_day.year, due_day.month, 1))).days + 1
            rows.append(
                (month, code, name, received_at is not None, received_at, days, due, on_time, 0)
            )
    con.executemany(
        "INSERT INTO marts.report_completeness VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
    )
    # as the dbt model: the months due at the build, each city and the province
    con.execute(
        """
        INSERT INTO marts.reporting_rates
        WITH due AS (
            SELECT month, city_code, city_name, received, coalesce(on_time, false) AS on_time
            FROM marts.report_completeness WHERE due_at < ?
        ), areas AS (
            SELECT month, city_code, city_name, 1 AS e, received::INT AS r, on_time::INT AS o
            FROM due
            UNION ALL
            SELECT month, NULL, '广西壮族自治区', count(*), count(*) FILTER (WHERE received),
                count(*) FILTER (WHERE on_time)
            FROM due GROUP BY month
        )
        SELECT month, city_code, city_name, e, r, o, r / e, o / e FROM areas
        """,
        [BUILT_AT],
    )


OPEN_ISSUES = {  # provider -> (city_code, kind) of each open issue
    "insurer": [("451200", "row_quarantined")] * 2 + [("450100", "row_quarantined")],
    "450100": [("450100", "report_missing")],
    "450400": [("450400", "report_late")],
    "451200": [("451200", "row_quarantined")] * 2 + [("451200", "file_rejected")],
}


def _audit(con) -> None:
    issues = [
        (f"{p}-{i}", p, c, k, date(2022, 11, 1), None, None, None, None, "原因", "处理办法",
         BUILT_AT, "open", None)
        for p, found in OPEN_ISSUES.items()
        for i, (c, k) in enumerate(found)
    ] + [
        ("450200-0", "450200", "450200", "row_quarantined", date(2022, 10, 1), None, None, None,
         None, "原因", "处理办法", BUILT_AT, "resolved", BUILT_AT)
    ]  # fmt: skip
    con.executemany(f"INSERT INTO marts.data_issues VALUES ({', '.join(['?'] * 14)})", issues)
    con.executemany(
        "INSERT INTO marts.load_audit VALUES (?, ?, ?, ?, ?, NULL, 1, 1, 0)",
        [
            (
                "insurer_policy",
                "insurer/JS_POLICY_20221231.csv",
                "a" * 64,
                datetime(2023, 1, 1, 2, 0, tzinfo=CST),
                "loaded",
            ),
            ("report", NEWEST_FILE, "b" * 64, NEWEST_FILE_AT, "loaded"),
            # newer, but not loaded: not what the figures hold
            (
                "report",
                "reports/坏文件.xlsx",
                "c" * 64,
                datetime(2023, 1, 6, 8, 0, tzinfo=CST),
                "rejected",
            ),
        ],  # fmt: skip
    )
    con.execute(
        "INSERT INTO marts.quality_results VALUES "
        "('run-1', ?, 'marts', 'rows', 'blocking', true, '0')",
        [BUILT_AT],
    )
