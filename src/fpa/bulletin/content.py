"""What the bulletin says (BULLETIN.md sections 1–6), read from the published warehouse alone.

Every figure is a mart's: a sum or count as the mart holds it, a rate recomputed from the
mart's own parts with the mart's definition (KPIS.md), exactly, so that rounding happens once,
on the exact value (figures.py). A figure the mart leaves NULL is never printed as a number: the
sentence says why it has none (no target issued, no population, no data yet).
"""

import calendar
import csv
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import duckdb

from fpa import reference, settings
from fpa.bulletin import figures as fig
from fpa.bulletin.model import Document
from fpa.clock import CST
from fpa.paths import SEEDS_DIR

PROVINCE = "450000"
MAIN_PRODUCT = "JSGA"  # 关爱保险: the only product with targets, the newsletters' subject
# BULLETIN.md section 3: the newsletters' thresholds
GROWTH_LISTED = 10_000  # 投保份数增加超过1万份
COUNTY_LISTED = 50_000  # 投保份数超过5万份
LAST_TARGET_YEAR = 2023  # README.md source 3: targets were issued for 2017–2023
NONE = "—"  # a table cell without a value; a note under the table says why

TABLES = (
    "insurance_progress",
    "insurance_area_year",
    "insurance_city_year",
    "insurance_county_year",
    "activities_monthly",
    "training_monthly",
    "reporting_rates",
    "report_completeness",
    "data_issues",
    "load_audit",
)


class BulletinRefused(ValueError):
    """The bulletin cannot be written for these arguments (a usage error: nothing is written)."""


@dataclass(frozen=True)
class Area:
    code: str
    name: str  # 广西壮族自治区, 河池市
    label: str  # the file name's and the title's: 自治区, 河池市
    whole: str  # how a sentence names it: 全区, 全市
    child: str  # what it is made of: 市, 县（市、区）

    @property
    def is_province(self) -> bool:
        return self.code == PROVINCE


def area_of(code: str | None) -> Area:
    code = code or PROVINCE
    if code == PROVINCE:
        return Area(PROVINCE, "广西壮族自治区", "自治区", "全区", "市")
    for c in reference.cities():
        if c.code == code:
            return Area(c.code, c.name, c.name, "全市", "县（市、区）")
    raise BulletinRefused(
        f"--area {code}: neither the province ({PROVINCE}) nor a city code of Guangxi "
        "(450100 … 451400)"
    )


def check(con: duckdb.DuckDBPyConnection, as_of: date) -> tuple[date, date]:
    """The first and newest day of the warehouse's figures; refused when the warehouse lacks a
    mart the bulletin reads or holds nothing for as_of."""
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()
    }
    missing = [t for t in TABLES if t not in present]
    if missing:
        raise BulletinRefused(
            "the warehouse has no " + ", ".join(f"marts.{t}" for t in missing) + " (published "
            "by an older version? `fpa load` publishes them)"
        )
    first, newest = con.execute(
        "SELECT min(as_of_date), max(as_of_date) FROM marts.insurance_progress"
    ).fetchone()
    if first is None:
        raise BulletinRefused("the warehouse holds no insurance figures yet")
    if as_of < first:
        raise BulletinRefused(f"--as-of {as_of}: the warehouse's figures start on {first}")
    if as_of > newest:
        raise BulletinRefused(
            f"--as-of {as_of}: the newest day the warehouse holds is {newest} (the day of the "
            "newest insurer file)"
        )
    (held,) = con.execute(
        "SELECT count(*) FROM marts.insurance_progress WHERE as_of_date = ?", [as_of]
    ).fetchone()
    if not held:
        raise BulletinRefused(f"--as-of {as_of}: the warehouse holds no figures for {as_of.year}")
    return first, newest


# -- reading ---------------------------------------------------------------------------------


def _dicts(con, sql: str, params=()) -> list[dict]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _exact(v):
    """A mart's number as an exact one: a DOUBLE (a population given in 万人, say) by its
    shortest decimal form, which is the value the mart meant."""
    if isinstance(v, float):
        return Decimal(repr(v))
    return v


def same_day_last_year(d: date) -> date:
    # KPIS.md: 29 February -> 28 February
    return date(d.year - 1, d.month, min(d.day, 28 if d.month == 2 else d.day))


def _progress(con, as_of: date, product: str, level: str, area: Area) -> list[dict]:
    """The mart's rows of one level: the area itself, or its cities or counties."""
    city = None if area.is_province else area.code
    return _dicts(
        con,
        "SELECT * FROM marts.insurance_progress WHERE as_of_date = ? AND product_code = ? "
        "AND area_level = ? AND (CAST(? AS VARCHAR) IS NULL OR city_code = ?)",
        [as_of, product, level, city, city],
    )


FIGURES = (
    "policies_to_date",
    "units_to_date",
    "premium_to_date_yuan",
    "claims_settled_to_date",
    "claims_paid_to_date_yuan",
)


def _has_data(row: dict) -> bool:
    """The mart holds a row for every day, product and area; one whose every figure is 0 is a
    product with nothing written or paid yet this year ("no data yet", not "0.00万份")."""
    return any(row[k] for k in FIGURES)


def _own_row(con, as_of: date, product: str, area: Area) -> dict | None:
    """The area's own row on the day; None when it has no data (no row, or nothing yet)."""
    rows = _progress(con, as_of, product, "province" if area.is_province else "city", area)
    return rows[0] if rows and _has_data(rows[0]) else None


def _populations(con, year: int, level: str) -> dict[str, tuple]:
    """area code (450000 for the province) -> (resident_population, population_year) of the
    yearly mart's row, NULLs kept: the warehouse decides which yearbook a year uses and when a
    city or the province has a population at all (every county of it in the yearbook). The
    population is the area's, whatever the product: JSGA's row is read."""
    rows = con.execute(
        "SELECT area_code, resident_population, population_year FROM marts.insurance_area_year "
        "WHERE year = ? AND area_level = ? AND product_code = ?",
        [year, level, MAIN_PRODUCT],
    ).fetchall()
    return {code: (_exact(pop), pop_year) for code, pop, pop_year in rows}


# -- the document ----------------------------------------------------------------------------


def build(con: duckdb.DuckDBPyConnection, as_of: date, area: Area, warehouse: Path) -> Document:
    doc = Document(f"{area.label}计生协统计通报", f"（截至{fig.day(as_of)}）")
    children = _children(con, as_of, area)
    _main_product(doc, con, as_of, area, children)
    _other_products(doc, con, as_of, area)
    _areas(doc, con, as_of, area, children)
    _activities(doc, con, as_of, area)
    _reporting(doc, con, as_of, area)
    _freshness(doc, con, warehouse)
    return doc


@dataclass
class Row:
    """One area of the section 3 table, its rates computed exactly from the mart's parts."""

    code: str
    name: str
    units: int
    target: int | None
    completion: Fraction | None
    yoy: int | None
    coverage: Fraction | None
    paid: Decimal
    loss: Fraction | None


@dataclass
class Children:
    rows: list[Row]  # in the table's order
    missing: list[str]  # areas without a row in the mart (no data yet)
    coverage: Fraction | None  # the area's own
    population: tuple | None  # (population, year) of the area itself
    no_population: list[str]


def _children(con, as_of: date, area: Area) -> Children:
    y = as_of.year
    cities = _populations(con, y, "city")
    if area.is_province:
        level, key, name = "city", "city_code", "city_name"
        pops = cities
        expected = [(c.code, c.name) for c in reference.cities()]
        own_pop = _populations(con, y, "province").get("450000")
        if own_pop is not None and own_pop[0] is None:
            own_pop = None
    else:
        level, key, name = "county", "county_code", "county_name"
        pops = _populations(con, y, "county")
        expected = [(c.code, c.name) for c in reference.counties() if c.city_code == area.code]
        own_pop = cities.get(area.code)
        if own_pop is not None and own_pop[0] is None:
            own_pop = None
    rows = []
    for r in _progress(con, as_of, MAIN_PRODUCT, level, area):
        pop = pops.get(r[key], (None, None))[0]
        rows.append(
            Row(
                r[key],
                r[name],
                int(r["units_to_date"]),
                r["target_units"],
                fig.ratio(r["units_to_date"], r["target_units"]),
                r["yoy_units_to_date"],
                fig.ratio(r["units_to_date"], pop),
                r["claims_paid_to_date_yuan"],
                fig.ratio(r["claims_paid_to_date_yuan"], r["premium_to_date_yuan"]),
            )
        )
    # by completion, best first; where there is no target, by units (after those with one)
    rows.sort(
        key=lambda r: (r.completion is None, -(r.completion or 0), -r.units, r.code),
    )
    held = {r.code for r in rows}
    own = _own_row(con, as_of, MAIN_PRODUCT, area)
    coverage = fig.ratio(own["units_to_date"], own_pop[0]) if own and own_pop else None
    return Children(
        rows,
        [n for c, n in expected if c not in held],
        coverage,
        own_pop,
        [r.name for r in rows if r.coverage is None],
    )


def _yoy_sentence(row: dict, last: dict | None, last_day: date) -> str:
    """上年同期: the units of the same day last year and the change; the loss ratio's change."""
    before = row["units_same_day_last_year"]
    if before is None:
        return f"上年同期（{fig.day(last_day)}）无数据，不作同比。"
    change = row["yoy_units_to_date"]
    text = (
        f"上年同期（{fig.day(last_day)}）承保{fig.wan_units(before)}，同比"
        f"{'增加' if change >= 0 else '减少'}{fig.wan_units(abs(change))}"
    )
    growth = fig.ratio(change, before)
    if growth is not None:
        text += f"（{'增长' if growth >= 0 else '下降'}{fig.percent(abs(growth))}）"
    loss = fig.ratio(row["claims_paid_to_date_yuan"], row["premium_to_date_yuan"])
    loss_before = (
        fig.ratio(last["claims_paid_to_date_yuan"], last["premium_to_date_yuan"]) if last else None
    )
    if loss is not None and loss_before is not None:
        if fig.half_up((loss - loss_before) * 100) == 0:
            text += "；赔付率与上年同期持平"
        else:
            up = "上升" if loss > loss_before else "下降"
            text += f"；赔付率比上年同期{up}{fig.points(loss - loss_before)}"
    return text + "。"


def _no_target(year: int) -> str:
    since = f"（自{LAST_TARGET_YEAR + 1}年起不再下达）" if year > LAST_TARGET_YEAR else ""
    return f"{year}年自治区计生协未下达关爱保险指导性任务数{since}，不计算任务完成率和序时进度。"


def _main_product(doc: Document, con, as_of: date, area: Area, children: Children) -> None:
    y = as_of.year
    doc.heading("一、计生家庭关爱保险")
    row = _own_row(con, as_of, MAIN_PRODUCT, area)
    if row is None:
        doc.paragraph(f"截至{fig.day(as_of)}，{area.whole}本年度尚无计生家庭关爱保险承保数据。")
        return
    units = row["units_to_date"]
    text = (
        f"截至{fig.day(as_of)}，{area.whole}计生家庭关爱保险共承保{fig.wan_units(units)}"
        f"（{fig.count(row['policies_to_date'])}件），保费收入"
        f"{fig.money(row['premium_to_date_yuan'])}，参保{fig.count(row['insured_persons_to_date'])}"
        "人。"
    )
    target = row["target_units"]
    if target is None:
        text += _no_target(y)
    else:
        completion = fig.ratio(units, target)
        # 序时进度: the share of the year gone by on D (KPIS.md time_share), exactly
        days = 366 if calendar.isleap(y) else 365
        time_share = Fraction(as_of.timetuple().tm_yday, days)
        ahead = completion - time_share
        whose = (
            f"年度目标任务数（{fig.wan_units(target)}）"
            if area.is_province
            else f"自治区计生协下达{fig.wan_units(target)}任务"
        )
        text += f"完成{whose}的{fig.percent(completion)}，序时进度为{fig.percent(time_share)}，"
        if fig.half_up(ahead * 100) == 0:
            text += "与序时进度持平。"
        else:
            text += f"{'超' if ahead > 0 else '慢'}序时进度{fig.points(ahead)}。"
    if children.coverage is None:
        text += f"{area.whole}常住人口数据暂缺，不计算承保份数占常住人口比例。"
    else:
        pop_year = children.population[1]
        basis = f"（按{pop_year}年常住人口计算）" if pop_year != y else ""
        text += f"承保份数占{area.whole}常住人口的{fig.percent(children.coverage)}{basis}。"
    doc.paragraph(text)

    claims = (
        f"累计理赔{fig.count(row['claims_settled_to_date'])}件，理赔金额"
        f"{fig.money(row['claims_paid_to_date_yuan'])}，"
    )
    loss = fig.ratio(row["claims_paid_to_date_yuan"], row["premium_to_date_yuan"])
    claims += (
        f"赔付率为{fig.percent(loss)}。" if loss is not None else "保费收入为0，不计算赔付率。"
    )
    last_day = same_day_last_year(as_of)
    last = _own_row(con, last_day, MAIN_PRODUCT, area)
    doc.paragraph(claims + _yoy_sentence(row, last, last_day))


def _other_products(doc: Document, con, as_of: date, area: Area) -> None:
    others = [p for p in reference.products() if p.code != MAIN_PRODUCT]
    doc.heading("二、" + "和".join(p.name for p in others))
    last_day = same_day_last_year(as_of)
    for p in others:
        row = _own_row(con, as_of, p.code, area)
        if row is None:
            doc.paragraph(f"{p.name}：截至{fig.day(as_of)}，{area.whole}本年度尚无承保数据。")
            continue
        loss = fig.ratio(row["claims_paid_to_date_yuan"], row["premium_to_date_yuan"])
        loss_text = f"赔付率{fig.percent(loss)}" if loss is not None else "保费收入为0，无赔付率"
        last = _own_row(con, last_day, p.code, area)
        doc.paragraph(
            f"{p.name}：截至{fig.day(as_of)}，{area.whole}承保{fig.wan_units(row['units_to_date'])}"
            f"（{fig.count(row['policies_to_date'])}件），保费收入"
            f"{fig.money(row['premium_to_date_yuan'])}，参保"
            f"{fig.count(row['insured_persons_to_date'])}人；理赔"
            f"{fig.count(row['claims_settled_to_date'])}件，理赔金额"
            f"{fig.money(row['claims_paid_to_date_yuan'])}，{loss_text}。"
            + _yoy_sentence(row, last, last_day)
        )
    _series_total(doc, con, as_of, area)


def _series_total(doc: Document, con, as_of: date, area: Area) -> None:
    """The newsletters' 计生家庭系列保险 sentence: the three products together, their additive
    figures summed (persons are not: one person may hold two products)."""
    rows = [r for p in reference.products() if (r := _own_row(con, as_of, p.code, area))]
    if not rows:
        return
    total = {k: sum(_exact(r[k]) for r in rows) for k in FIGURES}
    loss = fig.ratio(total["claims_paid_to_date_yuan"], total["premium_to_date_yuan"])
    loss_text = f"综合赔付率{fig.percent(loss)}" if loss is not None else "保费收入为0，无赔付率"
    doc.paragraph(
        f"计生家庭系列保险合计：截至{fig.day(as_of)}，{area.whole}共承保"
        f"{fig.wan_units(total['units_to_date'])}，保费收入{fig.money(total['premium_to_date_yuan'])}；"
        f"理赔{fig.count(int(total['claims_settled_to_date']))}件，理赔金额"
        f"{fig.money(total['claims_paid_to_date_yuan'])}，{loss_text}。"
    )


def _names(items) -> str:
    return "、".join(items)


def _areas(doc: Document, con, as_of: date, area: Area, children: Children) -> None:
    y, child, whole = as_of.year, area.child, area.whole
    wan = area.is_province  # a city's units in 万份, a county's in 份 (BULLETIN.md)
    write = fig.wan_units if wan else fig.units
    signed = fig.signed_wan_units if wan else fig.signed_units
    doc.heading(f"三、各{child}关爱保险工作情况")
    rows = children.rows
    if not any(r.units or r.paid for r in rows):
        doc.paragraph(f"截至{fig.day(as_of)}，各{child}本年度尚无关爱保险承保数据。")
        return
    with_target = any(r.completion is not None for r in rows)

    best = rows[0]
    if best.completion is not None:
        doc.paragraph(
            f"{whole}关爱保险工作完成最好的是{best.name}，承保{write(best.units)}，"
            f"完成任务的{fig.percent(best.completion)}。"
        )
    else:
        doc.paragraph(f"{whole}关爱保险承保份数最多的是{best.name}，承保{write(best.units)}。")

    if children.coverage is None:
        doc.paragraph(f"{whole}常住人口数据暂缺，不比较各{child}承保份数占常住人口的比例。")
    else:
        level = fig.percent(children.coverage)
        above = sorted(
            (r for r in rows if r.coverage is not None and r.coverage > children.coverage),
            key=lambda r: (-r.coverage, r.code),
        )
        if above:
            text = (
                f"完成数占常住人口比例超过{whole}水平（{level}）的{child}有："
                + _names(f"{r.name}（{fig.percent(r.coverage)}）" for r in above)
                + "。"
            )
        else:
            text = f"没有完成数占常住人口比例超过{whole}水平（{level}）的{child}。"
        if children.no_population:
            text += f"{_names(children.no_population)}常住人口数据暂缺，未参与比较。"
        doc.paragraph(text)

    if all(r.yoy is None for r in rows):
        doc.paragraph(f"{y - 1}年同期无数据，不比较各{child}的同比增减。")
    else:
        grown = sorted(
            (r for r in rows if r.yoy is not None and r.yoy > GROWTH_LISTED),
            key=lambda r: (-r.yoy, r.code),
        )
        if grown:
            first = grown[0]
            text = (
                f"与{y - 1}年同期相比，投保份数增加超过1万份的有：{_names(r.name for r in grown)}"
            )
            if len(grown) > 1:
                text += (
                    f"，其中{first.name}较上年同期增加了{write(first.yoy)}，位于{whole}增幅第一。"
                )
            else:
                text += f"，较上年同期增加了{write(first.yoy)}。"
        else:
            text = f"与{y - 1}年同期相比，没有投保份数增加超过1万份的{child}。"
        doc.paragraph(text)

    counties = sorted(
        (
            r
            for r in _progress(con, as_of, MAIN_PRODUCT, "county", area)
            if r["units_to_date"] > COUNTY_LISTED
        ),
        key=lambda r: (-r["units_to_date"], r["county_code"]),
    )
    if counties:
        doc.paragraph(
            "从县级来看，投保份数超过5万份的有："
            + _names(f"{r['county_name']}（{fig.units(r['units_to_date'])}）" for r in counties)
            + "。"
        )
    else:
        doc.paragraph("从县级来看，没有投保份数超过5万份的县（市、区）。")

    # a column with no value in any row is left out, and a note says why
    with_yoy = any(r.yoy is not None for r in rows)
    header = ["序号", child, "承保份数"]
    numeric = [True, False, True]
    if with_target:
        header += ["任务数", "完成率"]
        numeric += [True, True]
    if with_yoy:
        header.append("同比增减")
        numeric.append(True)
    header += ["占常住人口比例", "理赔金额", "赔付率"]
    numeric += [True] * 3

    def cell(value, write_):
        return NONE if value is None else write_(value)

    table = []
    for i, r in enumerate(rows, start=1):
        cells = [str(i), r.name, write(r.units)]
        if with_target:
            cells += [cell(r.target, fig.wan_units), cell(r.completion, fig.percent)]
        if with_yoy:
            cells.append(cell(r.yoy, signed))
        cells += [cell(r.coverage, fig.percent), fig.money(r.paid), cell(r.loss, fig.percent)]
        table.append(cells)
    order = "按任务完成率排序" if with_target else "按承保份数排序"
    doc.table(
        header,
        table,
        numeric,
        caption=f"各{child}关爱保险完成情况（截至{fig.day(as_of)}，{order}）",
    )
    notes = []
    if not with_target:
        notes.append(
            "各县（市、区）无指导性任务数"
            if not area.is_province
            else _no_target(y).removesuffix("。")
        )
    if not with_yoy:
        notes.append(f"{y - 1}年同期无数据，不列同比增减")
    why = []
    if with_target and any(r.completion is None for r in rows):
        why.append("未下达任务数")
    if with_yoy and any(r.yoy is None for r in rows):
        why.append("上年同期无数据")
    if children.no_population:
        why.append("常住人口数据暂缺")
    if any(r.loss is None for r in rows):
        why.append("保费收入为0")
    if why:
        notes.append(f"“{NONE}”表示该项无数值：{'，或'.join(why)}")
    if children.missing:
        notes.append(f"本年度尚无承保数据的{child}：{_names(children.missing)}")
    if notes:
        doc.paragraph("注：" + "；".join(notes) + "。", note=True)


# -- activities and training -----------------------------------------------------------------


def _seed_order(field: str) -> list[str]:
    """The contract's list of a report field in its order (所属项目, 培训对象)."""
    with open(SEEDS_DIR / "report_values.csv", newline="", encoding="utf-8") as f:
        return [r["value"] for r in csv.DictReader(f) if r["field"] == field]


def _due(m: date) -> date:
    """The day a month's report is due (KPIS.md "Reporting"; the due day: fpa.settings)."""
    return settings.report_due_at(m).date()


def _sums(con, table: str, group: str, measures: list[str], first: date, last: date, area):
    city = None if area.is_province else area.code
    select = ", ".join(f"coalesce(sum({m}), 0)" for m in measures)
    rows = con.execute(
        f"SELECT {group}, {select} FROM marts.{table} WHERE month BETWEEN ? AND ? "
        f"AND (CAST(? AS VARCHAR) IS NULL OR city_code = ?) GROUP BY {group}",
        [first, last, city, city],
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _by(order: list[str], found: dict, width: int) -> list[tuple[str, tuple]]:
    """Every value of the contract's list (zeros included), then any other the mart holds,
    then 合计."""
    zero = (0,) * width
    keys = order + sorted(k for k in found if k not in order)
    rows = [(k, found.get(k, zero)) for k in keys]
    total = tuple(sum(v[i] for _, v in rows) for i in range(width))
    return rows + [("合计", total)]


def _activities(doc: Document, con, as_of: date, area: Area) -> None:
    y, whole = as_of.year, area.whole
    month = as_of.replace(day=1)
    first = date(y, 1, 1)
    doc.heading("四、活动和培训")
    city = None if area.is_province else area.code
    (received,) = con.execute(
        "SELECT count(*) FILTER (WHERE received) FROM marts.report_completeness "
        "WHERE month = ? AND (CAST(? AS VARCHAR) IS NULL OR city_code = ?)",
        [month, city, city],
    ).fetchone()
    a_measures = ["activities", "participants", "service_visits", "funds_yuan"]
    t_measures = ["courses", "trainees", "trainee_days"]
    projects = _seed_order("project")
    audiences = _seed_order("audience")
    a_month = _by(
        projects, _sums(con, "activities_monthly", "project", a_measures, month, month, area), 4
    )
    a_year = _by(
        projects, _sums(con, "activities_monthly", "project", a_measures, first, month, area), 4
    )
    t_month = _by(
        audiences, _sums(con, "training_monthly", "audience", t_measures, month, month, area), 3
    )
    t_year = _by(
        audiences, _sums(con, "training_monthly", "audience", t_measures, first, month, area), 3
    )

    def said(a: tuple, t: tuple) -> str:
        return (
            f"开展活动{fig.count(a[0])}场次，参与{fig.count(a[1])}人，服务{fig.count(a[2])}人次，"
            f"投入经费{fig.money(a[3])}；举办培训{fig.count(t[0])}班次，培训{fig.count(t[1])}"
            f"人次、{fig.count(t[2])}人天"
        )

    if not received:
        doc.paragraph(
            f"{fig.month(month)}的月报尚未报送（报送期限为{fig.day(_due(month))}），"
            "暂无本月活动和培训数据。"
        )
    else:
        partial = (
            f"（已收到{fig.count(received)}个市的月报）"
            if area.is_province and received < len(reference.cities())
            else ""
        )
        doc.paragraph(
            f"{fig.month(month)}{partial}，{whole}{said(a_month[-1][1], t_month[-1][1])}。"
        )
    span = f"{y}年1月至{as_of.month}月" if as_of.month > 1 else f"{y}年1月"
    (received_in_year,) = con.execute(
        "SELECT count(*) FILTER (WHERE received) FROM marts.report_completeness "
        "WHERE month BETWEEN ? AND ? AND (CAST(? AS VARCHAR) IS NULL OR city_code = ?)",
        [first, month, city, city],
    ).fetchone()
    if not received_in_year:
        # zeros would say nothing happened; nothing has been reported
        doc.paragraph(f"{span}的月报均尚未收到，暂无本年活动和培训数据。")
        return
    doc.paragraph(f"{span}，{whole}累计{said(a_year[-1][1], t_year[-1][1])}。")

    def used(month_rows, year_rows):
        # the programmes (audiences) with anything in the year, then 合计; none: no table
        kept = [
            (k, m, t)
            for (k, m), (_, t) in zip(month_rows, year_rows, strict=True)
            if k == "合计" or any(t)
        ]
        return kept if len(kept) > 1 else []

    # without the month's reports the month's columns would read as zeros: left out
    with_month = bool(received)
    months = f"本月为{fig.month(month)}，本年为{span}" if with_month else f"{span}"
    activities = used(a_month, a_year)
    if activities:
        header = ["本月场次", "本月参与人数", "本月服务人次", "本月投入经费"] if with_month else []
        header += ["本年场次", "本年参与人数", "本年服务人次", "本年投入经费"]
        doc.table(
            ["所属项目", *header],
            [
                [k]
                + ([*(fig.count(x) for x in m[:3]), fig.money(m[3])] if with_month else [])
                + [*(fig.count(x) for x in t[:3]), fig.money(t[3])]
                for k, m, t in activities
            ],
            [False] + [True] * len(header),
            caption=f"活动情况（按所属项目；{months}）",
        )
    trainings = used(t_month, t_year)
    if trainings:
        header = ["本月班次", "本月人次", "本月人天"] if with_month else []
        header += ["本年班次", "本年人次", "本年人天"]
        doc.table(
            ["培训对象", *header],
            [
                [k, *(fig.count(x) for x in (m if with_month else ())), *map(fig.count, t)]
                for k, m, t in trainings
            ],
            [False] + [True] * len(header),
            caption=f"培训情况（按培训对象；{months}）",
        )


# -- reporting and data quality --------------------------------------------------------------


def last_due_month(as_of: date) -> date:
    """The newest month whose report was due by the end of as_of."""
    return settings.last_due_month(datetime.combine(as_of, time.max, CST))


def _rates(con, city: str | None, first: date, last: date) -> tuple[int, int, int]:
    """Reports expected, received and on time over the months [first, last] of
    marts.reporting_rates (a city's rows, or the province's: city_code NULL). The rates of a
    span are those of the sums, as the feedback workbook's (KPIS.md "Reporting")."""
    return tuple(
        int(v)
        for v in con.execute(
            "SELECT coalesce(sum(expected_reports), 0), coalesce(sum(reports_received), 0), "
            "coalesce(sum(reports_on_time), 0) FROM marts.reporting_rates "
            "WHERE city_code IS NOT DISTINCT FROM CAST(? AS VARCHAR) AND month BETWEEN ? AND ?",
            [city, first, last],
        ).fetchone()
    )


def _rate_text(expected: int, received: int, on_time: int) -> str:
    return (
        f"应报{fig.count(expected)}份，实报{fig.count(received)}份，报送率"
        f"{fig.percent(fig.ratio(received, expected))}，按时报送{fig.count(on_time)}份，"
        f"及时率{fig.percent(fig.ratio(on_time, expected))}"
    )


def _reporting(doc: Document, con, as_of: date, area: Area) -> None:
    """The month is the newest whose report was due by D; the year, its months of D's year.
    The figures are the published marts' (a report that came after D counts as it does on the
    dashboards: received, and late)."""
    y = as_of.year
    doc.heading("五、月报报送和数据质量")
    m = last_due_month(as_of)
    city = None if area.is_province else area.code
    status = _dicts(
        con,
        "SELECT month, city_name, received, on_time, days_after_month_end "
        "FROM marts.report_completeness WHERE month BETWEEN ? AND ? "
        "AND (CAST(? AS VARCHAR) IS NULL OR city_code = ?) ORDER BY city_code, month",
        [min(date(y, 1, 1), m), m, city, city],
    )

    expected, received, on_time = _rates(con, city, m, m)
    due = f"{fig.month(m)}的月报（报送期限{fig.day(_due(m))}）"
    if not expected:
        doc.paragraph(f"{due}暂无报送统计。")
    else:
        text = due + _rate_text(expected, received, on_time) + "。"
        of_month = [s for s in status if s["month"] == m]
        missing = [s for s in of_month if not s["received"]]
        late = [s for s in of_month if s["received"] and not s["on_time"]]
        if area.is_province:
            parts = []
            if missing:
                parts.append(f"未报送的市：{_names(s['city_name'] for s in missing)}")
            if late:
                parts.append(
                    "迟报的市："
                    + _names(
                        f"{s['city_name']}（月末后{s['days_after_month_end']}天报送）" for s in late
                    )
                )
            text += "；".join(parts) + "。" if parts else "各市均按时报送。"
        elif missing:
            text += "本市该月月报尚未报送。"
        elif late:
            text += f"本市该月月报迟报（月末后{late[0]['days_after_month_end']}天报送）。"
        else:
            text += "本市该月月报按时报送。"
        doc.paragraph(text)

    if m.year < y:
        doc.paragraph(f"{y}年尚无到报送期限的月报。")
    elif any(_rates(con, city, date(y, 1, 1), m)):
        span = f"{y}年1月至{m.month}月" if m.month > 1 else f"{y}年1月"
        text = f"{span}的月报" + _rate_text(*_rates(con, city, date(y, 1, 1), m)) + "。"
        if area.is_province:
            # per city: months missing, months late
            faults: dict[str, list[int]] = {}
            for s in status:
                if s["month"].year == y and not (s["received"] and s["on_time"]):
                    f = faults.setdefault(s["city_name"], [0, 0])
                    f[1 if s["received"] else 0] += 1

            def said(missing: int, late: int) -> str:
                return "、".join(
                    w for w in (missing and f"未报送{missing}个月", late and f"迟报{late}个月") if w
                )

            if faults:
                text += (
                    "有未报送或迟报的市："
                    + _names(f"{n}（{said(*f)}）" for n, f in faults.items())
                    + "。"
                )
        doc.paragraph(text)

    _issues(doc, con, area)


def _issues(doc: Document, con, area: Area) -> None:
    kinds = reference.labels("issue_kind")
    names = {"insurer": reference.labels("provider")["insurer"]}
    names |= {c.code: c.name for c in reference.cities()}
    rows = con.execute(
        "SELECT provider, city_code, kind, count(*) FROM marts.data_issues WHERE status = 'open' "
        "GROUP BY ALL"
    ).fetchall()
    by: dict[str, dict[str, int]] = {}
    for provider, city_code, kind, n in rows:
        if area.is_province or provider == area.code:
            key = provider
        elif provider == "insurer" and city_code == area.code:
            key = "insurer"  # the insurer's rows of this city's families
        else:
            continue
        k = by.setdefault(key, {})
        k[kind] = k.get(kind, 0) + n
    total = sum(sum(k.values()) for k in by.values())
    if not total:
        doc.paragraph("目前没有尚未解决的数据问题。")
        return

    def detail(k: dict[str, int]) -> str:
        return "、".join(f"{kinds.get(kind, kind)}{n}个" for kind, n in _in_order(k, kinds))

    order = ["insurer"] + [c.code for c in reference.cities()]
    ordered = [p for p in order if p in by] + sorted(p for p in by if p not in order)
    if area.is_province:
        doc.paragraph(
            f"目前尚未解决的数据问题共{fig.count(total)}个："
            + "；".join(f"{names.get(p, p)}{sum(by[p].values())}个" for p in ordered)
            + "。详见各数据提供方的数据问题清单。"
        )
        used = [k for k in kinds if any(k in by[p] for p in ordered)]
        doc.table(
            ["数据提供方", *(kinds[k] for k in used), "合计"],
            [
                [
                    names.get(p, p),
                    *(fig.count(by[p].get(k, 0)) for k in used),
                    fig.count(sum(by[p].values())),
                ]
                for p in ordered
            ],
            [False] + [True] * (len(used) + 1),
            caption="尚未解决的数据问题（按数据提供方）",
        )
    else:
        parts = []
        if area.code in by:
            k = by[area.code]
            parts.append(f"本市{sum(k.values())}个（{detail(k)}）")
        if "insurer" in by:
            parts.append(f"{names['insurer']}涉及本市的{sum(by['insurer'].values())}个")
        doc.paragraph(
            f"目前尚未解决的数据问题共{fig.count(total)}个："
            + "，".join(parts)
            + "。详见本市的数据问题清单。"
        )


def _in_order(counts: dict[str, int], kinds: dict[str, str]):
    keys = [k for k in kinds if k in counts] + sorted(k for k in counts if k not in kinds)
    return [(k, counts[k]) for k in keys]


# -- freshness -------------------------------------------------------------------------------


def _freshness(doc: Document, con, warehouse: Path) -> None:
    """The last line: when the published file was built, the newest file it holds."""
    built = None
    if con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'marts' AND table_name = 'quality_results'"
    ).fetchone()[0]:
        # the gate's run that published this file is the newest the file holds (a blocked
        # run's results reach only a later file)
        (built,) = con.execute("SELECT max(run_at) FROM marts.quality_results").fetchone()
    if built is None:
        built = datetime.fromtimestamp(warehouse.stat().st_mtime, CST)
    newest = con.execute(
        "SELECT file_name, received_at FROM marts.load_audit WHERE status = 'loaded' "
        "ORDER BY received_at DESC, file_name DESC LIMIT 1"
    ).fetchone()
    text = f"本通报由数据仓库自动生成，所用数据仓库文件生成于{fig.moment(built.astimezone(CST))}"
    if newest:
        text += f"，其中最新的数据文件为{newest[0]}（{fig.moment(newest[1].astimezone(CST))}收到）"
    doc.paragraph(text + "。", note=True)
