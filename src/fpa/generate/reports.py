"""The cities' monthly work reports and the province's yearly targets, as workbooks.

Each report is first a model (the activities and trainings a city held that month, with their
true values); its layout (headers, forms of numbers, dates and names, 合计, format) is then
drawn, deviations included. The truth is taken from the model of the report that counts.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from openpyxl.utils import get_column_letter

from fpa import reference
from fpa.generate.delivery import CST, Deliveries, Fate, QuarantinedRow, arrival
from fpa.generate.plan import LAST_TARGET_YEAR, Plan, report_months, rng_for
from fpa.generate.plan import month_end as last_of
from fpa.generate.workbooks import Sheet, xls_bytes, xlsx_bytes
from fpa.normalise import numbers
from fpa.quarantine import DESCRIPTIONS, Reason
from fpa.sources.reports import READERS

ACTIVITY_TYPES = [
    "宣传倡导",
    "健康讲座",
    "义诊服务",
    "走访慰问",
    "文艺汇演",
    "主题活动",
    "咨询服务",
    "亲子活动",
    "其他",
]
PROJECTS = [
    "青春健康",
    "优生优育",
    "暖心行动",
    "生育关怀",
    "家庭健康促进",
    "新型婚育文化",
    "计生特殊家庭帮扶",
    "计生家庭保险",
    "会员活动日",
    "其他",
]
AUDIENCES = [
    "计生协干部",
    "协保员",
    "青春健康师资",
    "会员小组长",
    "家庭健康指导员",
    "亲子小屋辅导员",
    "志愿者",
    "其他",
]
MODES = ["线下", "线上", "线上线下结合"]
TOWN_STEMS = [
    "城关",
    "新圩",
    "大塘",
    "长安",
    "龙头",
    "石门",
    "三里",
    "黄江",
    "永安",
    "新街",
    "六合",
    "白石",
    "金鸡",
    "平安",
    "东门",
    "古城",
    "和平",
    "太平",
]
NAME_FORMS = ["{p}{t}进社区", "开展{p}主题{t}", "{p}{t}活动", "“{p}”{t}"]
ACT_FIELDS = [
    "seq",
    "county",
    "township",
    "date",
    "name",
    "activity_type",
    "project",
    "organiser",
    "participants",
    "service_visits",
    "materials",
    "funds",
    "remarks",
]
TRAIN_FIELDS = [
    "seq",
    "name",
    "organiser",
    "county",
    "start_date",
    "end_date",
    "audience",
    "trainees",
    "mode",
    "hours",
    "remarks",
]
OPTIONAL = {"township", "organiser", "remarks"}
# the number fields of each kind, as the parser reads them
NUMERIC = {kind: list(reader.numbers) for kind, reader in READERS.items()}
FULL_WIDTH = str.maketrans("0123456789", numbers.FULL_WIDTH_DIGITS)
# the forms of "no number" written here: the two most common of the parser's
NO_NUMBER = list(numbers.NONE[:2])  # —, /


@dataclass
class Activity:
    county: int | None  # county index, None for a city-level activity
    day: date
    days: int
    activity_type: str
    project: str
    participants: int | None
    approx: bool
    service_visits: int | None
    materials: int | None
    funds_cents: int | None
    township: str
    name: str
    other_city: bool = False  # planted: a county of another city (quarantined)


@dataclass
class Training:
    county: int | None
    start: date
    days: int
    audience: str
    mode: str
    trainees: int
    approx: bool
    hours: float
    name: str
    other_city: bool = False


@dataclass
class Report:
    city: reference.City
    month: date  # first day
    activities: list[Activity]
    trainings: list[Training]
    filled: date  # 填报日期
    path: str = ""
    received: datetime | None = None
    status: str = "loaded"
    reason_code: str = ""
    title_month: date | None = None  # differs from month only when planted so
    # (sheet, row, the county written, the header of its column): the rows to be set aside
    quarantined: list[tuple[str, int, str, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.activities) + len(self.trainings)


def _counties_of(city_code: str) -> list[int]:
    return [i for i, c in enumerate(reference.counties()) if c.city_code == city_code]


def _model(
    city: reference.City, month: date, lam_a: float, lam_t: float, r, clean: bool, dev: dict
) -> tuple[list[Activity], list[Training]]:
    counties = reference.counties()
    own = _counties_of(city.code)
    others = [i for i in range(len(counties)) if i not in own]
    ndays = ((month.replace(day=28) + timedelta(days=4)).replace(day=1) - month).days
    acts = []
    for _ in range(max(1, int(r.poisson(lam_a)))):
        county = None if r.random() < 0.1 else int(r.choice(own))
        participants = int(np.clip(r.lognormal(4.2, 0.8), 5, 5000))
        approx = not clean and r.random() < dev["approx_number_rate"]
        if approx:  # approximate entries are round numbers
            participants = max(10, int(round(participants, -1)))
        ptype, proj = str(r.choice(ACTIVITY_TYPES)), str(r.choice(PROJECTS))
        days = 2 if r.random() < 0.05 else 1
        acts.append(
            Activity(
                county,
                month + timedelta(days=int(r.integers(0, ndays - days + 1))),
                days,
                ptype,
                proj,
                participants,
                approx,
                participants + int(r.integers(0, participants + 1)),
                None if r.random() < 0.2 else int(r.integers(1, 40)) * 50,
                None if r.random() < 0.25 else int(r.integers(2, 200)) * 100 * 100,
                str(r.choice(TOWN_STEMS)) + ("街道" if r.random() < 0.2 else "镇"),
                str(r.choice(NAME_FORMS)).format(p=proj, t=ptype),
            )
        )
    if not clean:
        for _ in range(int(r.binomial(len(acts), dev["other_city_county_rate"]))):
            a = acts[int(r.integers(len(acts)))]
            acts.append(
                Activity(**{**a.__dict__, "county": int(r.choice(others)), "other_city": True})
            )
    trains = []
    for _ in range(int(r.poisson(lam_t))):
        days = int(r.choice([1, 1, 2, 3]))
        trainees = int(r.integers(15, 150))
        approx = not clean and r.random() < dev["approx_number_rate"]
        if approx:
            trainees = int(round(trainees, -1)) or 10
        aud = str(r.choice(AUDIENCES))
        trains.append(
            Training(
                None if r.random() < 0.2 else int(r.choice(own)),
                month + timedelta(days=int(r.integers(0, ndays - days + 1))),
                days,
                aud,
                str(r.choice(MODES)),
                trainees,
                approx,
                float(r.integers(2, 25)) / (2 if r.random() < 0.2 else 1),
                f"{aud}业务培训班",
            )
        )
    return acts, trains


# ---- how values are written -----------------------------------------------------------------


def _count_form(v: int | None, approx: bool, r, clean: bool, dev: dict):
    if v is None:
        return None if clean or r.random() < 0.5 else str(r.choice(NO_NUMBER))
    if approx:
        yu, duo = numbers.MORE[:2]
        if v % 1000 == 0 and v >= 1000 and r.random() < 0.5:
            return f"{v // 1000}千{duo}"
        return str(r.choice([f"{v}{yu}", f"{v}{duo}", f"{numbers.ABOUT[0]}{v}"]))
    if clean or r.random() >= dev["text_number_rate"]:
        return v
    if v >= 10000 and v % 1000 == 0:
        return f"{v / 10000:g}万"
    if v >= 1000:
        return f"{v:,}"
    return str(v).translate(FULL_WIDTH)


def _funds_form(cents: int | None, wan: bool, r, clean: bool, dev: dict):
    if cents is None:
        return None if clean or r.random() < 0.5 else str(r.choice(NO_NUMBER))
    yuan = cents // 100
    if wan:
        return round(yuan / 10000, 2)
    if not clean and r.random() < dev["text_number_rate"] and yuan % 1000 == 0 and yuan >= 10000:
        return f"{yuan / 10000:g}万" + ("元" if r.random() < 0.5 else "")
    return yuan


def _date_form(d: date, days: int, r, clean: bool, dev: dict):
    end = d + timedelta(days=days - 1)
    if days > 1:  # a range in one cell (activities only)
        sep = str(r.choice(["—", "-"]))
        return (
            f"{d.year}年{d.month}月{d.day}日{sep}{end.day}日"
            if r.random() < 0.5
            else (f"{d.month}月{d.day}日{sep}{end.day}日")
        )
    if clean or r.random() >= dev["date_form_rate"]:
        return d.isoformat()
    form = int(r.integers(6))
    return [
        d,
        f"{d.year}/{d.month}/{d.day}",
        f"{d.year}.{d.month}.{d.day}",
        f"{d.year}年{d.month}月{d.day}日",
        f"{d.month}月{d.day}日",
        d,
    ][form]


def _county_form(k: int | None, r, clean: bool, dev: dict, forms: dict) -> str | None:
    if k is None:
        return None
    name = reference.counties()[k].name
    if clean or r.random() >= dev["region_form_rate"] or not forms.get(k):
        return name
    if r.random() < 0.2:
        return f" {name}"
    return str(r.choice(forms[k]))


def _alias_forms() -> dict[int, list[str]]:
    by_code = {c.code: i for i, c in enumerate(reference.counties())}
    forms: dict[int, list[str]] = {}
    for a in reference.aliases():
        if a.level == "county":
            forms.setdefault(by_code[a.region_code], []).append(a.alias)
    return forms


def _headers(kind: str) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for h in reference.report_headers():
        if h["kind"] == kind:
            out.setdefault(h["field"], []).append((h["header"], float(h["multiplier"])))
    return out


# ---- one workbook -----------------------------------------------------------------------------


def _layout(rep: Report, r, clean: bool, dev: dict, forms: dict) -> list[Sheet]:
    sheets = []
    counties = reference.counties()
    for kind, fields, items in (
        ("activities", ACT_FIELDS, rep.activities),
        ("trainings", TRAIN_FIELDS, rep.trainings),
    ):
        hdr = _headers(kind)
        cols = list(fields)
        if not clean and r.random() < dev["missing_optional_rate"]:
            cols.remove(str(r.choice([c for c in cols if c in OPTIONAL])))
        shuffled = not clean and r.random() < dev["shuffled_columns_rate"]
        if shuffled:
            rest = cols[1:]
            r.shuffle(rest)
            cols = [cols[0]] + rest
        extra = not clean and r.random() < dev["extra_column_rate"]
        if extra:
            cols.insert(
                int(r.integers(1, len(cols) + 1)), "_blank" if r.random() < 0.5 else "_contact"
            )
        wan = kind == "activities" and not clean and r.random() < dev["wan_yuan_header_rate"]
        names = []
        for c in cols:
            if c == "_blank":
                names.append(None)
            elif c == "_contact":
                names.append("联系人")
            elif c == "funds" and wan:
                names.append(str(r.choice([h for h, m in hdr[c] if m == 10000])))
            elif c == "funds":
                choices = [h for h, m in hdr[c] if m == 1]
                names.append(
                    choices[0]
                    if clean or r.random() >= dev["synonym_header_rate"]
                    else str(r.choice(choices))
                )
            else:
                choices = [h for h, _ in hdr[c]]
                names.append(
                    choices[0]
                    if clean or r.random() >= dev["synonym_header_rate"]
                    else str(r.choice(choices))
                )
        title_month = rep.title_month or rep.month
        label = "活动情况统计表" if kind == "activities" else "培训情况统计表"
        width = len(cols)
        rows: list[list] = [
            [f"{rep.city.name}计生协{title_month.year}年{title_month.month}月{label}"]
            + [None] * (width - 1)
        ]
        merges = [(1, 1, 1, width)]
        if clean or r.random() >= dev["no_unit_row_rate"]:
            unit = [None] * width
            unit[0] = f"填报单位：{rep.city.name}计划生育协会"
            f = rep.filled
            unit[max(1, width - 3)] = f"填报日期：{f.year}年{f.month}月{f.day}日"
            rows.append(unit)
        two_rows = not clean and not shuffled and r.random() < dev["two_row_header_rate"]
        group = {
            "activities": ("参与情况", ("participants", "service_visits")),
            "trainings": ("培训安排", ("start_date", "end_date")),
        }[kind]
        gi = [i for i, c in enumerate(cols) if c in group[1]]
        if two_rows and len(gi) == 2 and gi[1] == gi[0] + 1:
            top = [None if c in group[1] else n for c, n in zip(cols, names, strict=True)]
            top[gi[0]] = group[0]
            sub = [n if c in group[1] else None for c, n in zip(cols, names, strict=True)]
            h = len(rows) + 1
            rows += [top, sub]
            merges.append((h, gi[0] + 1, h, gi[1] + 1))
            merges += [(h, i + 1, h + 1, i + 1) for i in range(width) if i not in gi]
        else:
            rows.append(names)
        first_data = len(rows) + 1
        # the contract's name (the seed's first for the kind), or the next, as some cities
        # name it (活动情况)
        sheet_names = [n for n, k in reference.report_sheets().items() if k == kind]
        renamed = not clean and r.random() < dev["renamed_sheet_rate"]
        sheet = sheet_names[1] if renamed else sheet_names[0]
        sums = {c: 0.0 for c in NUMERIC[kind]}
        for n, it in enumerate(items, start=1):
            county = (
                reference.counties()[it.county].name
                if it.other_city
                else _county_form(it.county, r, clean, dev, forms)
            )
            organiser = (
                f"{counties[it.county].name[:2]}县计生协"
                if it.county is not None and counties[it.county].name.endswith("县")
                else f"{rep.city.name}计生协"
            )
            if kind == "activities":
                funds = _funds_form(it.funds_cents, wan, r, clean, dev)
                v = {
                    "seq": n,
                    "county": county,
                    "township": it.township if it.county is not None else None,
                    "date": _date_form(it.day, it.days, r, clean, dev),
                    "name": it.name,
                    "activity_type": it.activity_type,
                    "project": it.project,
                    "organiser": organiser,
                    "participants": _count_form(it.participants, it.approx, r, clean, dev),
                    "service_visits": it.service_visits,
                    "materials": _count_form(it.materials, False, r, clean, dev),
                    "funds": funds,
                    "remarks": "市级活动" if it.county is None else None,
                }
                sums["participants"] += it.participants or 0
                sums["service_visits"] += it.service_visits or 0
                sums["materials"] += it.materials or 0
                sums["funds"] += (it.funds_cents or 0) / 100 / (10000 if wan else 1)
            else:
                end = it.start + timedelta(days=it.days - 1)
                in_one = not clean and it.days > 1 and r.random() < 0.15
                start_cell = (
                    f"{it.start.month}月{it.start.day}日-{end.day}日"
                    if in_one
                    else _date_form(it.start, 1, r, clean, dev)
                )
                end_cell = (
                    None
                    if in_one or (it.days == 1 and not clean and r.random() < 0.3)
                    else _date_form(end, 1, r, clean, dev)
                )
                v = {
                    "seq": n,
                    "name": it.name,
                    "organiser": organiser,
                    "county": county,
                    "start_date": start_cell,
                    "end_date": end_cell,
                    "audience": it.audience,
                    "trainees": _count_form(it.trainees, it.approx, r, clean, dev),
                    "mode": it.mode,
                    "hours": it.hours if it.hours % 1 else int(it.hours),
                    "remarks": None,
                }
                sums["trainees"] += it.trainees
                sums["hours"] += it.hours
            rows.append(
                [
                    v.get(c) if not c.startswith("_") else ("黄某某" if c == "_contact" else None)
                    for c in cols
                ]
            )
            if it.other_city:
                rep.quarantined.append((sheet, len(rows), county, names[cols.index("county")]))
        last_data = len(rows)
        total = ["合计"] + [None] * (width - 1)
        formulas = {}
        as_formula = not clean and r.random() < dev["total_formula_rate"]
        if clean:
            as_formula = True  # the template's 合计 is a SUM formula
        for c, s in sums.items():
            if c not in cols:
                continue
            ci = cols.index(c) + 1
            value = round(s, 2)
            value = int(value) if value == int(value) else value
            if as_formula and last_data >= first_data:
                col = get_column_letter(ci)
                formulas[(len(rows) + 1, ci)] = (f"SUM({col}{first_data}:{col}{last_data})", value)
            else:
                total[ci - 1] = value
        rows.append(total)
        rows.append(["填报人：黄某某\u3000\u3000联系电话：0778-0000000"] + [None] * (width - 1))
        hidden = set()
        if not clean and last_data >= first_data and r.random() < dev["hidden_rows_rate"]:
            hidden = {int(x) for x in r.integers(first_data, last_data + 1, 2)}
        sheets.append(Sheet(sheet, rows, merges, hidden, formulas))
    return sheets


def _file_name(rep: Report, suffix: str, ext: str) -> str:
    return (
        f"reports/{rep.city.name}计生协{rep.month.year}年{rep.month.month}月工作月报{suffix}.{ext}"
    )


def _write(
    d: Deliveries,
    rep: Report,
    sheets: list[Sheet],
    as_xls: bool,
    suffix: str = "",
    corrupt: bool = False,
) -> None:
    saved = datetime.combine(rep.filled, datetime.min.time()).replace(hour=16)
    data = xls_bytes(sheets) if as_xls else xlsx_bytes(sheets, saved)
    if corrupt:
        data = data[: len(data) * 2 // 5]
    rep.path = _file_name(rep, suffix, "xls" if as_xls else "xlsx")
    sha = d.write(rep.path, data, rep.received)
    reason = rep.reason_code
    if rep.status == "rejected":  # its rows are set aside with the file, not one by one
        rep.quarantined = []
    d.fates.append(
        Fate(
            "report",
            rep.path,
            rep.received,
            rep.status,
            sha,
            reason,
            DESCRIPTIONS[Reason(reason)] if reason else "",
            rep.rows,
            len(rep.quarantined),
            rep.city.code,
            f"{rep.month:%Y-%m}",
        )
    )
    for sheet, row, _, _ in rep.quarantined:
        d.quarantined.append(QuarantinedRow(rep.path, sheet, row, Reason.COUNTY_OF_OTHER_CITY))
    d.reports.append(rep)


def write_reports(
    d: Deliveries,
    plan: Plan,
    years: list[int],
    per_report: tuple[float, float],
    shape: dict,
    clean: bool,
    progress,
) -> list[Report]:
    """All monthly reports of `years`; returns those that count (one per city-month received)."""
    dev = shape["deviations"]
    forms = _alias_forms()
    counted: list[Report] = []
    special = rng_for(plan.seed, "report_specials")
    months = [(m.year, m.month) for m in report_months(plan, years)]
    # a range cut short (a demo up to yesterday): what has not arrived by its last day is not
    # in the inbox yet; a whole year's range keeps the arrivals after it (December's report)
    arrived_by = plan.until or date.max

    def arrived(rep: "Report") -> bool:
        return rep.received.date() <= arrived_by

    corrupt_at = None if clean else months[int(special.integers(len(months)))]
    mismatch_at = None if clean else months[int(special.integers(len(months)))]
    corrupt_city = int(special.integers(14))
    mismatch_city = int(special.integers(14))
    for y, m in months:
        month = date(y, m, 1)
        month_end = last_of(month)
        for ci, city in enumerate(reference.cities()):
            r = rng_for(plan.seed, "report", y, m, ci)
            if (
                not clean
                and r.random() < dev["report_missing_rate"]
                and (y, m) not in (corrupt_at, mismatch_at)
            ):
                continue
            lag = (
                int(r.integers(20, 46))
                if not clean and r.random() < dev["report_late_rate"]
                else int(r.integers(1, 13))
            )
            acts, trains = _model(city, month, *per_report, r, clean, dev)
            filled = month_end + timedelta(days=max(1, lag - int(r.integers(0, 3))))
            rep = Report(
                city,
                month,
                acts,
                trains,
                filled,
                received=arrival(month_end + timedelta(days=lag), 10, 15),
            )
            if not arrived(rep):
                continue
            as_xls = not clean and r.random() < dev["xls_rate"]
            if (y, m) == corrupt_at and ci == corrupt_city:
                # a broken save first; the city sends the report again a day later
                bad = Report(
                    city,
                    month,
                    acts,
                    trains,
                    filled,
                    received=rep.received,
                    status="rejected",
                    reason_code=Reason.WORKBOOK_CORRUPT,
                )
                _write(d, bad, _layout(bad, r, clean, dev, forms), False, corrupt=True)
                rep.received = rep.received + timedelta(days=1)
                _write(d, rep, _layout(rep, r, clean, dev, forms), as_xls, "（重发）")
                counted.append(rep)
                continue
            _write(d, rep, _layout(rep, r, clean, dev, forms), as_xls)
            final = rep
            rev = None
            if not clean and r.random() < dev["report_revision_rate"]:
                acts2 = [Activity(**{**a.__dict__}) for a in acts]
                if acts2:
                    acts2.pop(int(r.integers(len(acts2))))
                extra, _ = _model(city, month, 1, 0, r, True, dev)
                acts2 += extra[:1]
                for a in acts2[:2]:
                    if a.participants is not None:
                        a.participants += int(r.integers(1, 30))
                        a.service_visits = max(a.service_visits or 0, a.participants)
                mark = str(r.choice(["（修订）", "更正", "(1)"]))
                rev = Report(
                    city,
                    month,
                    acts2,
                    trains,
                    filled + timedelta(days=int(r.integers(3, 10))),
                    received=rep.received + timedelta(days=int(r.integers(3, 10))),
                )
            if rev is not None and arrived(rev):
                rev.status = "loaded"
                rep.status, rep.reason_code = "superseded", Reason.SUPERSEDED
                d.fates[-1].status, d.fates[-1].reason_code = "superseded", Reason.SUPERSEDED
                d.fates[-1].reason = DESCRIPTIONS[Reason.SUPERSEDED]
                _write(d, rev, _layout(rev, r, clean, dev, forms), as_xls, mark)
                final = rev
            counted.append(final)
            if (y, m) == mismatch_at and ci == mismatch_city:
                # a workbook whose title names the month before: rejected whole
                prev = (month - timedelta(days=1)).replace(day=1)
                wrong = Report(
                    city,
                    month,
                    *_model(city, month, 5, 2, r, clean, dev),
                    filled,
                    received=rep.received + timedelta(days=2),
                    status="rejected",
                    reason_code=Reason.TITLE_FILENAME_MISMATCH,
                    title_month=prev,
                )
                if arrived(wrong):
                    _write(d, wrong, _layout(wrong, r, clean, dev, forms), False, "(2)")
        if progress and (m == 12 or (y, m) == months[-1]):
            progress(f"reports: {y} written")
    return counted


def write_targets(d: Deliveries, plan: Plan, clean: bool) -> None:
    for y in plan.years:
        if y > LAST_TARGET_YEAR:
            continue
        r = rng_for(plan.seed, "targets", y)
        rows = [[f"{y}年计生家庭关爱保险指导性任务数", None], ["市", "任务数（份）"]]
        total = 0
        for c in reference.cities():
            t = plan.targets[(y, c.code)]
            total += t
            name = c.short if not clean and r.random() < 0.1 else c.name
            rows.append([name, t])
        formulas = {}
        if clean or r.random() < 0.5:
            formulas[(len(rows) + 1, 2)] = (f"SUM(B3:B{len(rows)})", total)
            rows.append(["合计", None])
        else:
            rows.append(["合计", total])
        sheet = Sheet("任务数", rows, [(1, 1, 1, 2)], set(), formulas)
        received = arrival(date(y, 1, 15), 9, 0)
        path = f"targets/关爱保险指导性任务数_{y}.xlsx"
        sha = d.write(path, xlsx_bytes([sheet], datetime(y, 1, 14, 16, 0, tzinfo=CST)), received)
        d.fates.append(
            Fate("target", path, received, "loaded", sha, rows_in_file=14, period=str(y))
        )
