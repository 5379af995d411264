"""`fpa generate`: the files follow the contracts, every deviation is planted as planned, and the
truth file equals what the files say when read back by independent code
(tests/support/readback.py)."""

import collections
import csv
import hashlib
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from support.readback import (
    cents,
    decode,
    iso7064_ok,
    number,
    read_csv,
    read_workbook,
    sheet_blocks,
)
from support.truth import SEED, read_truth

from fpa.generate.inbox import generate
from fpa.paths import SEEDS_DIR

POLICY_HEADER = (
    "保单号,险种代码,险种名称,投保日期,保险起期,保险止期,份数,保费,被保险人姓名,证件类型,"
    "证件号码,联系电话,所属市,所属县区,出单机构,保单状态,批改日期"
).split(",")
CLAIM_HEADER = (
    "赔案号,保单号,险种代码,被保险人证件号码,出险日期,报案日期,结案日期,出险原因,赔付金额,"
    "赔案状态,所属县区"
).split(",")


def fates(inbox: Path) -> dict[str, dict]:
    return {f["file_name"]: f for f in read_truth(inbox, "files")}


def insurer_csvs(inbox: Path) -> list[Path]:
    return sorted((inbox / "insurer").rglob("*.csv"))


def rel(inbox: Path, p: Path) -> str:
    return p.relative_to(inbox).as_posix()


def quarantined_lines(inbox: Path) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = collections.defaultdict(dict)
    for q in read_truth(inbox, "quarantine"):
        out[q["file_name"]][int(q["row_number"])] = q["reason_code"]
    return out


# ---- insurer files -------------------------------------------------------------------------


def test_trailers_match_rows_and_money_except_the_planned_ones(small_inbox):
    f = fates(small_inbox)
    checked = collections.Counter()
    for p in insurer_csvs(small_inbox):
        c = read_csv(p)
        fate = f[rel(small_inbox, p)]
        assert c["crlf"], p
        assert c["header"] == (POLICY_HEADER if "POLICY" in p.name else CLAIM_HEADER)
        if fate["reason_code"] == "trailer_missing":
            assert c["trailer"] is None and not c["ends_with_crlf"]
            checked["cut"] += 1
            continue
        n, money = int(c["trailer"][1]), cents(c["trailer"][2])
        col = c["header"].index("保费" if "POLICY" in p.name else "赔付金额")
        counted = (len(c["rows"]), sum(cents(r[col]) for r in c["rows"]))
        if fate["reason_code"] == "trailer_mismatch":
            assert (n, money) != counted
            checked["mismatch"] += 1
        else:
            assert (n, money) == counted, p
            assert n == int(fate["rows_in_file"])
            checked["ok"] += 1
    assert checked["cut"] == 1 and checked["mismatch"] == 1 and checked["ok"] > 300


def test_every_ok_marker_belongs_to_a_complete_file_except_the_planned_one(small_inbox):
    f = fates(small_inbox)
    oks = {p.with_suffix("") for p in (small_inbox / "insurer").rglob("*.ok")}
    csvs = {p.with_suffix("") for p in insurer_csvs(small_inbox)}
    assert oks <= csvs
    waiting = {rel(small_inbox, p.with_suffix(".csv")) for p in csvs - oks}
    assert waiting == {k for k, v in f.items() if v["status"] == "waiting"}
    assert len(waiting) == 1
    incomplete = set()
    for stem in oks:
        c = read_csv(stem.with_suffix(".csv"))
        col = c["header"].index("保费" if "POLICY" in stem.name else "赔付金额")
        if (
            c["trailer"] is None
            or int(c["trailer"][1]) != len(c["rows"])
            or cents(c["trailer"][2]) != sum(cents(r[col]) for r in c["rows"])
        ):
            incomplete.add(rel(small_inbox, stem.with_suffix(".csv")))
    assert incomplete == {
        k for k, v in f.items() if v["status"] == "rejected" and k.startswith("insurer/")
    }


def test_encodings_are_gb18030_but_the_planned_utf8_file(small_inbox):
    f = fates(small_inbox)
    seen = {rel(small_inbox, p): decode(p.read_bytes())[1] for p in insurer_csvs(small_inbox)}
    assert seen == {k: v["encoding"] for k, v in f.items() if k.startswith("insurer/")}
    utf8 = [k for k, v in seen.items() if v == "utf-8"]
    assert [f[k]["status"] for k in utf8 if f[k]["status"] != "duplicate"] == ["loaded"]


def test_ids_pass_the_check_digit_rule_except_the_planted_ones(small_inbox):
    counties = {r["county_code"] for r in csv.DictReader(open(SEEDS_DIR / "regions_counties.csv"))}
    planted = quarantined_lines(small_inbox)
    bad_seen = lower_seen = valid_seen = 0
    for p in insurer_csvs(small_inbox):
        c = read_csv(p)
        col = c["header"].index("证件号码" if "POLICY" in p.name else "被保险人证件号码")
        marks = planted.get(rel(small_inbox, p), {})
        for line, row in enumerate(c["rows"], start=2):
            id_ = row[col]
            assert id_[:6] in counties, (p, line)
            if marks.get(line) == "bad_id_checksum":
                assert not iso7064_ok(id_)
                bad_seen += 1
            else:
                assert iso7064_ok(id_), (p, line, id_)
                valid_seen += 1
            lower_seen += id_.endswith("x")
    assert bad_seen >= 16 and lower_seen > 0 and valid_seen > 100_000


def test_region_names_all_resolve_and_old_names_appear(small_inbox):
    names = {r["county_name"] for r in csv.DictReader(open(SEEDS_DIR / "regions_counties.csv"))}
    aliases = {r["alias"]: r for r in csv.DictReader(open(SEEDS_DIR / "region_aliases.csv"))}
    kinds = collections.Counter()
    cut = {k for k, v in fates(small_inbox).items() if v["reason_code"] == "trailer_missing"}
    for p in insurer_csvs(small_inbox):
        if rel(small_inbox, p) in cut:  # its last row is cut short
            continue
        c = read_csv(p)
        col = c["header"].index("所属县区")
        for row in c["rows"]:
            n = row[col].strip()
            assert n in names or n in aliases, n
            kinds["canonical" if n in names else aliases[n]["kind"]] += 1
            kinds["spaces"] += n != row[col]
    assert kinds["old"] and kinds["short"] and kinds["prefixed"] and kinds["spaces"]


# ---- the KPIs, recomputed from the files as KPIS.md defines them --------------------------------


def _regions():
    counties = list(csv.DictReader(open(SEEDS_DIR / "regions_counties.csv")))
    code = {r["county_name"]: r["county_code"] for r in counties}
    for a in csv.DictReader(open(SEEDS_DIR / "region_aliases.csv")):
        if a["region_level"] == "county":
            code[a["alias"]] = a["region_code"]
    return code


def _accepted_insurer_files(inbox: Path) -> dict[str, list[tuple[Path, str]]]:
    """Files a warehouse would load: complete (.ok + matching trailer), content not seen before
    (by arrival time). Returns per stream (POLICY/CLAIM) the files in delivery-date order."""
    seen, out = set(), {"POLICY": [], "CLAIM": []}
    files = sorted(insurer_csvs(inbox), key=lambda p: (os.stat(p).st_mtime, p.name))
    for p in files:
        if not p.with_suffix(".ok").exists():
            continue
        c = read_csv(p)
        col = c["header"].index("保费" if "POLICY" in p.name else "赔付金额")
        if c["trailer"] is None or (int(c["trailer"][1]), cents(c["trailer"][2])) != (
            len(c["rows"]),
            sum(cents(r[col]) for r in c["rows"]),
        ):
            continue
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        if sha in seen:
            continue
        seen.add(sha)
        stream = "POLICY" if "POLICY" in p.name else "CLAIM"
        out[stream].append((p, p.name.split("_")[2][:8]))
    return out


def _frame(files: list[tuple[Path, str]]) -> pd.DataFrame:
    parts = []
    for p, day in files:
        c = read_csv(p)
        df = pd.DataFrame(c["rows"], columns=c["header"])
        df["_file_day"], df["_order"] = day, range(len(df))
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def delivered(small_inbox) -> dict[str, pd.DataFrame]:
    """Every row of the insurer files a warehouse would load, read back once."""
    return {k: _frame(v) for k, v in _accepted_insurer_files(small_inbox).items()}


@pytest.fixture(scope="module")
def recomputed(delivered) -> dict[str, pd.DataFrame]:
    """From the files as KPIS.md defines the KPIs: every policy row that loads (`rows`), each
    policy's current version (`current`), each claim's current version if settled and paid
    (`settled`); with year, county code and day."""
    code = _regions()
    products = {r["product_code"]: r for r in csv.DictReader(open(SEEDS_DIR / "products.csv"))}
    pol = delivered["POLICY"].copy()
    pol["id"] = pol["证件号码"].str.strip().str.upper()
    units = pol["份数"].astype(int)
    prem = pol["保费"].map(cents)
    per_unit = prem.abs() / units
    lo = pol["险种代码"].map(lambda p: float(products[p]["unit_price_min_yuan"]) * 100)
    hi = pol["险种代码"].map(lambda p: float(products[p]["unit_price_max_yuan"]) * 100)
    implausible = (prem != 0) & ((per_unit >= lo * 1000) | (per_unit <= hi / 1000))
    pol = pol[pol["id"].map(iso7064_ok) & ~implausible].copy()
    pol["cents"] = pol["保费"].map(cents)
    pol["county"] = pol["所属县区"].str.strip().map(code)
    pol = pol.sort_values(["保单号", "批改日期", "_file_day", "_order"], kind="stable")
    current = pol.groupby("保单号").tail(1)
    current = current.assign(
        year=current["投保日期"].str[:4].astype(int), day=current["投保日期"].str[5:]
    )
    by_number = current.set_index("保单号")
    pol["year"], pol["county"] = (
        pol["保单号"].map(by_number["year"]),
        pol["保单号"].map(by_number["county"]),
    )
    pol["day"] = pol["保单号"].map(by_number["day"])

    cl = delivered["CLAIM"].copy()
    cl["amount"] = cl["赔付金额"].map(cents)
    ceiling = cl["险种代码"].map(lambda p: cents(products[p]["claim_ceiling_yuan"]))
    cl = cl[cl["被保险人证件号码"].map(iso7064_ok) & (cl["amount"] <= ceiling)]
    cl = cl.sort_values(["赔案号", "_file_day", "_order"], kind="stable").groupby("赔案号").tail(1)
    settled = cl[(cl["赔案状态"] == "已结案") & (cl["amount"] > 0)].copy()
    settled["year"] = settled["结案日期"].str[:4].astype(int)
    settled["day"] = settled["结案日期"].str[5:]
    settled["county"] = settled["所属县区"].str.strip().map(code)
    return {"rows": pol, "current": current, "settled": settled}


def _kpis(recomputed: dict, until: str = "12-31") -> pd.DataFrame:
    """The KPIs by (year, product, county) of what was written (投保日期) or settled (结案日期)
    from 1 January to `until` (MM-DD) of each year, policies with their current status."""
    current = recomputed["current"]
    live = current[(current["保单状态"] != "退保") & (current["day"] <= until)]
    key = ["year", "险种代码", "county"]
    got = live.groupby(key).agg(
        policies=("保单号", "size"),
        units=("份数", lambda s: s.astype(int).sum()),
        insured_persons=("id", "nunique"),
    )
    rows = recomputed["rows"]
    got = got.join(
        rows[rows["day"] <= until].groupby(key)["cents"].sum().rename("premium"), how="outer"
    )
    settled = recomputed["settled"]
    gc = (
        settled[settled["day"] <= until]
        .groupby(key)
        .agg(claims_settled=("赔案号", "size"), paid=("amount", "sum"))
    )
    return got.join(gc, how="outer").fillna(0).astype(int)


def test_truth_equals_the_kpis_recomputed_from_the_files(small_inbox, recomputed):
    got = _kpis(recomputed)
    truth = {
        (int(r["year"]), r["product_code"], r["county_code"]): r
        for r in read_truth(small_inbox, "insurance_county_year")
    }
    for k, t in truth.items():
        g = got.loc[k] if k in got.index else collections.defaultdict(int)
        assert (
            int(g["policies"]),
            int(g["units"]),
            int(g["insured_persons"]),
            int(g["premium"]),
            int(g["claims_settled"]),
            int(g["paid"]),
        ) == (
            int(t["policies"]),
            int(t["units"]),
            int(t["insured_persons"]),
            cents(t["premium_yuan"]),
            int(t["claims_settled"]),
            cents(t["claims_paid_yuan"]),
        ), k
    assert set(got.index) <= set(truth), set(got.index) - set(truth)
    # the edge cases the marts must handle are in the data
    assert any(int(t["policies"]) == 0 and int(t["claims_settled"]) > 0 for t in truth.values())
    current = recomputed["current"]
    assert (current["保单状态"] == "退保").any() and (current["保单状态"] == "满期").any()


PROGRESS_KPIS = {
    "policies_to_date": "policies",
    "units_to_date": "units",
    "insured_persons_to_date": "insured_persons",
    "claims_settled_to_date": "claims_settled",
}


def test_progress_truth_equals_the_files_to_date(small_inbox, recomputed):
    """Counties to a day: 投保日期 (current status) and 结案日期 up to it, the anchored days
    and a 29 February among them."""
    progress = pd.DataFrame(read_truth(small_inbox, "insurance_progress"))
    county = progress[progress["area_level"] == "county"]
    days = {"2020-08-31", "2020-08-25", "2020-07-31", "2022-04-30", "2024-02-29", "2023-06-15"}
    assert days <= set(county["as_of_date"])
    for day in sorted(days):
        got = _kpis(recomputed, day[5:])
        rows = county[county["as_of_date"] == day]
        assert len(rows) == 3 * 111
        for r in rows.itertuples(index=False):
            k = (int(r.year), r.product_code, r.county_code)
            g = got.loc[k] if k in got.index else collections.defaultdict(int)
            assert {c: int(getattr(r, c)) for c in PROGRESS_KPIS} == {
                c: int(g[v]) for c, v in PROGRESS_KPIS.items()
            }, (day, k)
            assert (cents(r.premium_to_date_yuan), cents(r.claims_paid_to_date_yuan)) == (
                int(g["premium"]),
                int(g["paid"]),
            ), (day, k)


def test_progress_on_31_december_is_the_year(small_inbox):
    progress = pd.DataFrame(read_truth(small_inbox, "insurance_progress"))
    dec31 = progress[progress["as_of_date"].str.endswith("-12-31")]
    same = {
        "policies_to_date": "policies",
        "units_to_date": "units",
        "premium_to_date_yuan": "premium_yuan",
        "insured_persons_to_date": "insured_persons",
        "claims_settled_to_date": "claims_settled",
        "claims_paid_to_date_yuan": "claims_paid_yuan",
        "loss_ratio_to_date": "loss_ratio",
    }
    for level, table, key in (
        ("county", "insurance_county_year", "county_code"),
        ("city", "insurance_city_year", "city_code"),
    ):
        year = pd.DataFrame(read_truth(small_inbox, table)).set_index(["year", "product_code", key])
        rows = dec31[dec31["area_level"] == level].set_index(["year", "product_code", key])
        assert sorted(rows.index) == sorted(year.index)
        cols = dict(same)
        if level == "city":
            cols |= {
                "target_units": "target_units",
                "completion_rate_to_date": "completion_rate",
                "yoy_units_to_date": "yoy_units",
            }
        for a, b in cols.items():
            assert (rows[a] == year.loc[rows.index, b]).all(), (level, a)
    assert set(dec31["time_share"]) == {"1.0"}
    # the province: its cities summed, its target theirs, no target from 2024
    cities = progress[progress["area_level"] == "city"].copy()
    for c in ("units_to_date", "claims_settled_to_date"):
        cities[c] = cities[c].astype(int)
    sums = cities.groupby(["as_of_date", "product_code"])[
        ["units_to_date", "claims_settled_to_date"]
    ].sum()
    province = progress[progress["area_level"] == "province"]
    assert len(province) == len(sums)
    for r in province.itertuples(index=False):
        s = sums.loc[(r.as_of_date, r.product_code)]
        assert (int(r.units_to_date), int(r.claims_settled_to_date)) == tuple(s)
        assert r.city_code == r.city_name == r.county_code == ""
        has_target = r.product_code == "JSGA" and int(r.year) <= 2023
        assert (r.target_units != "") == has_target
        assert (r.ahead_of_schedule != "") == has_target
        assert (r.units_same_day_last_year == "") == (r.year == "2017")


def test_progress_days_and_the_same_day_last_year(small_inbox):
    progress = pd.DataFrame(read_truth(small_inbox, "insurance_progress"))
    days = set(progress["as_of_date"])
    for y in range(2017, 2025):
        for m in range(1, 13):
            assert f"{y}-{m:02d}-15" in days
        feb = "29" if y % 4 == 0 else "28"
        assert {f"{y}-01-01", f"{y}-12-31", f"{y}-02-{feb}", f"{y}-06-30"} <= days
    assert "2020-02-29" in days and "2024-02-29" in days and "2021-02-29" not in days
    assert {"2020-07-31", "2020-08-25", "2020-08-31", "2022-04-30", "2022-06-30"} <= days
    units = {
        (r["as_of_date"], r["product_code"], r["area_level"], r["city_code"], r["county_code"]): r
        for r in progress.to_dict("records")
    }
    for (day, *rest), r in units.items():
        if day[:4] == "2017":
            continue
        before = f"{int(day[:4]) - 1}{day[4:]}".replace("-02-29", "-02-28")
        if (before, *rest) in units:
            assert r["units_same_day_last_year"] == units[(before, *rest)]["units_to_date"]
            assert int(r["yoy_units_to_date"]) == int(r["units_to_date"]) - int(
                r["units_same_day_last_year"]
            )
    leap = units[("2024-02-29", "JSGA", "province", "", "")]
    assert (
        leap["units_same_day_last_year"]
        == units[("2023-02-28", "JSGA", "province", "", "")]["units_to_date"]
    )
    share = units[("2020-08-31", "JSGA", "province", "", "")]
    assert float(share["time_share"]) == 244 / 366  # day of the year over the year's days
    assert float(share["ahead_of_schedule"]) == pytest.approx(
        float(share["completion_rate_to_date"]) - 244 / 366, abs=1e-12
    )


def test_claims_arrive_before_their_policy_and_some_policies_never_arrive(delivered):
    first_policy = (
        delivered["POLICY"]
        .sort_values("_file_day", kind="stable")
        .drop_duplicates("保单号")
        .set_index("保单号")["_file_day"]
    )
    claims = (
        delivered["CLAIM"]
        .sort_values("_file_day", kind="stable")
        .drop_duplicates("赔案号")
        .set_index("赔案号")[["保单号", "_file_day"]]
    )
    claims.columns = ["policy", "day"]
    arrived = claims["policy"].map(first_policy)
    assert (arrived > claims["day"]).sum() >= 8  # at least one a year
    assert arrived.isna().sum() > 0


def test_city_year_truth_is_the_sum_of_its_counties_with_targets_until_2023(small_inbox):
    county = pd.DataFrame(read_truth(small_inbox, "insurance_county_year"))
    city = pd.DataFrame(read_truth(small_inbox, "insurance_city_year"))
    for col in ("policies", "units", "claims_settled"):
        county[col] = county[col].astype(int)
    sums = county.groupby(["year", "product_code", "city_code"])[
        ["policies", "units", "claims_settled"]
    ].sum()
    for _, r in city.iterrows():
        s = sums.loc[(r["year"], r["product_code"], r["city_code"])]
        assert (int(r["policies"]), int(r["units"]), int(r["claims_settled"])) == tuple(s)
        has_target = r["product_code"] == "JSGA" and int(r["year"]) <= 2023
        assert (r["target_units"] != "") == has_target
        assert (r["completion_rate"] != "") == has_target
        assert (r["yoy_units"] == "") == (r["year"] == "2017")
        if r["loss_ratio"]:
            assert Decimal(r["loss_ratio"]).quantize(Decimal("1e-9")) == (
                Decimal(r["claims_paid_yuan"]) / Decimal(r["premium_yuan"])
            ).quantize(Decimal("1e-9"))
        else:
            assert Decimal(r["premium_yuan"]) == 0


# ---- workbooks ---------------------------------------------------------------------------------


def test_every_workbook_opens_except_the_planned_corrupt_one_and_totals_match(small_inbox):
    f = fates(small_inbox)
    checked = 0
    books = sorted((small_inbox / "reports").iterdir()) + sorted(
        (small_inbox / "targets").iterdir()
    )
    for p in books:
        fate = f[rel(small_inbox, p)]
        if fate["reason_code"] == "workbook_corrupt":
            with pytest.raises(Exception):  # noqa: B017 — whatever calamine raises
                read_workbook(p)
            continue
        for name, rows in read_workbook(p).items():
            _, total, data = sheet_blocks(rows)
            for col, t in enumerate(rows[total]):
                if col == 0 or t in ("", None):
                    continue
                s = sum(number(rows[i][col]) or 0 for i in data)
                assert abs(s - float(t)) < 1e-6, (p.name, name, col, s, t)
                checked += 1
    assert checked > 500
    assert sum(v["reason_code"] == "workbook_corrupt" for v in f.values()) == 1


def test_reports_truth_counts_the_rows_of_the_report_that_counts(small_inbox):
    f = fates(small_inbox)
    planted = quarantined_lines(small_inbox)
    per_month = collections.Counter()
    for name, fate in f.items():
        if fate["source"] != "report" or fate["status"] != "loaded":
            continue
        for sheet, rows in read_workbook(small_inbox / name).items():
            _, _, data = sheet_blocks(rows)
            kept = [i for i in data if i + 1 not in {r for r, _ in planted.get(name, {}).items()}]
            kind = "a" if sheet.startswith("活动") else "t"
            per_month[(fate["period"], fate["city_code"], kind)] += len(kept)
    truth = collections.Counter()
    for r in read_truth(small_inbox, "activities_monthly"):
        truth[(r["month"][:7], r["city_code"], "a")] += int(r["activities"])
    for r in read_truth(small_inbox, "training_monthly"):
        truth[(r["month"][:7], r["city_code"], "t")] += int(r["courses"])
    assert +per_month == +truth
    completeness = read_truth(small_inbox, "report_completeness")
    got = {(r["month"][:7], r["city_code"]) for r in completeness if r["received"] == "True"}
    assert got == {
        (v["period"], v["city_code"])
        for v in f.values()
        if v["source"] == "report" and v["status"] in ("loaded", "superseded")
    }
    assert any(r["received"] == "False" for r in completeness if r["month"] >= "2024")
    assert any(int(r["revisions"]) > 0 for r in completeness)


def test_report_deviations_are_all_planted(small_inbox):
    f = fates(small_inbox)
    reports = [k for k in f if k.startswith("reports/")]
    assert any(k.endswith(".xls") for k in reports)
    assert {v["reason_code"] for v in f.values() if v["source"] == "report"} >= {
        "workbook_corrupt",
        "title_filename_mismatch",
        "superseded",
    }
    assert any("（修订）" in k or "更正" in k or "(1)" in k for k in reports)
    headers, sheets, forms = set(), set(), collections.Counter()
    for k in reports:
        if f[k]["status"] == "rejected":
            continue
        for name, rows in read_workbook(small_inbox / k).items():
            sheets.add(name)
            hdr, _, data = sheet_blocks(rows)
            headers.update(str(c) for i in hdr for c in rows[i] if c)
            for i in data:
                for v in rows[i]:
                    if isinstance(v, str):
                        forms["approx"] += any(m in v for m in ("余", "多", "约"))
                        forms["wan"] += "万" in v
                        forms["full_width"] += any("０" <= ch <= "９" for ch in v)
                        forms["none"] += v in ("—", "/")
    assert sheets >= {"活动", "培训", "活动情况", "培训情况"}
    assert {"经费（万元）", "投入经费（万元）"} & headers and {"参加人数", "县区"} & headers
    assert all(forms[k] > 0 for k in ("approx", "wan", "full_width", "none")), forms
    assert (
        sum(
            q["reason_code"] == "county_of_other_city"
            for q in read_truth(small_inbox, "quarantine")
        )
        > 0
    )


def test_targets_exist_until_2023_and_match_the_truth(small_inbox):
    files = sorted((small_inbox / "targets").iterdir())
    assert [p.name[-9:-5] for p in files] == [str(y) for y in range(2017, 2024)]
    cities = {
        r["city_name"]: r["city_code"]
        for r in csv.DictReader(open(SEEDS_DIR / "regions_cities.csv"))
    }
    truth = {
        (r["year"], r["city_code"]): r["target_units"]
        for r in read_truth(small_inbox, "insurance_city_year")
        if r["product_code"] == "JSGA"
    }
    for p in files:
        rows = read_workbook(p)["任务数"]
        year = p.name[-9:-5]
        for r in rows[2:16]:
            city = r[0] if r[0] in cities else r[0] + "市"
            assert truth[(year, cities[city])] == str(int(r[1]))
    assert all(v == "" for (y, _), v in truth.items() if y == "2024")


def _population_books(inbox: Path) -> dict[int, dict]:
    """Each yearbook read back: {year: {"persons": {county code: persons}, "forms": {...}}}."""
    code = _regions()
    kinds = {r["alias"]: r["kind"] for r in csv.DictReader(open(SEEDS_DIR / "region_aliases.csv"))}
    city_of = {
        r["county_code"]: r["city_name"]
        for r in csv.DictReader(open(SEEDS_DIR / "regions_counties.csv"))
    }
    out = {}
    for p in sorted((inbox / "population").iterdir()):
        ((_, rows),) = read_workbook(p).items()
        at = next(i for i, r in enumerate(rows) if any(str(v).startswith("常住人口") for v in r))
        unit = 10_000 if "万人" in str(rows[at][2]) else 1
        persons, totals, forms = {}, [], collections.Counter()
        for city, county, value in (r[:3] for r in rows[at + 1 :]):
            county = str(county or "")
            if not county or county in ("合计", "小计"):  # a city's or the province's total
                totals.append((city if city not in ("全区", "全区合计", "合计") else None, value))
                continue
            k = code[county.strip()]
            forms[kinds.get(county.strip(), "canonical")] += 1
            forms["spaces"] += county != county.strip()
            assert city in (city_of[k], city_of[k].removesuffix("市")), (p.name, city, county)
            persons[k] = (city_of[k], value)
        for city, value in totals:
            s = sum(v for c, v in persons.values() if city is None or c == city)
            assert abs(s - value) < 1e-6, (p.name, city)
        forms["wan"] += unit > 1
        forms["city_totals"] += any(c is not None for c, _ in totals)
        forms["province_total"] += any(c is None for c, _ in totals)
        year = int(p.stem[-4:])
        out[year] = {
            "persons": {k: round(v * unit) for k, (_, v) in persons.items()},
            "forms": forms,
            "header": rows[at],
        }
    return out


def test_population_yearbooks_arrive_the_year_after_and_match_the_truth(small_inbox):
    books = _population_books(small_inbox)
    assert sorted(books) == list(range(2017, 2024))  # 2024's yearbook is not out yet
    truth = collections.defaultdict(dict)
    for r in read_truth(small_inbox, "population"):
        truth[int(r["year"])][r["county_code"]] = int(r["resident_population"])
    for y, b in books.items():
        assert b["persons"] == truth[y], y
        assert 48_000_000 < sum(b["persons"].values()) < 53_000_000
    f = fates(small_inbox)
    for y in books:
        fate = f[f"population/常住人口_{y}.xlsx"]
        assert (fate["source"], fate["status"], fate["period"]) == ("population", "loaded", str(y))
        assert fate["received_at"][:4] == str(y + 1) and fate["rows_in_file"] == "111"
    forms = sum((b["forms"] for b in books.values()), collections.Counter())
    assert all(forms[k] for k in ("wan", "city_totals", "province_total", "old", "short", "spaces"))


def test_insurance_truth_takes_the_latest_yearbook_for_its_coverage(small_inbox):
    population = collections.defaultdict(dict)
    for r in read_truth(small_inbox, "population"):
        population[int(r["year"])][r["county_code"]] = int(r["resident_population"])
    for r in read_truth(small_inbox, "insurance_county_year"):
        y = int(r["year"])
        assert int(r["population_year"]) == min(y, 2023)
        pop = population[min(y, 2023)][r["county_code"]]
        assert int(r["resident_population"]) == pop
        assert Decimal(r["coverage_rate"]).quantize(Decimal("1e-12")) == (
            Decimal(r["units"]) / pop
        ).quantize(Decimal("1e-12"))
    city_pop = collections.Counter()
    for r in read_truth(small_inbox, "population"):
        city_pop[(int(r["year"]), r["city_code"])] += int(r["resident_population"])
    for r in read_truth(small_inbox, "insurance_city_year"):
        py = int(r["population_year"])
        assert py == min(int(r["year"]), 2023)
        assert int(r["resident_population"]) == city_pop[(py, r["city_code"])]


# ---- files and their fates ---------------------------------------------------------------------


def test_truth_lists_every_file_with_its_checksum_and_arrival(small_inbox):
    f = fates(small_inbox)
    on_disk = {
        rel(small_inbox, p) for p in small_inbox.rglob("*") if p.is_file() and p.suffix != ".ok"
    }
    assert on_disk == set(f)
    for name, v in f.items():
        p = small_inbox / name
        assert hashlib.sha256(p.read_bytes()).hexdigest() == v["file_sha256"]
        assert pd.Timestamp(v["received_at"]).timestamp() == os.stat(p).st_mtime
        assert int(v["rows_received"]) == int(v["rows_loaded"]) + int(v["rows_quarantined"])
        if v["status"] == "duplicate":
            assert f[v["same_as"]]["file_sha256"] == v["file_sha256"]
            assert f[v["same_as"]]["received_at"] < v["received_at"]
    status = collections.Counter(v["status"] for v in f.values())
    assert status["duplicate"] == 2 and status["waiting"] == 1 and status["superseded"] >= 1
    assert status["rejected"] == 4  # truncated, trailer mismatch, corrupt, title mismatch
    q = collections.Counter(r["reason_code"] for r in read_truth(small_inbox, "quarantine"))
    assert set(q) == {
        "bad_id_checksum",
        "premium_unit_mismatch",
        "claim_above_ceiling",
        "county_of_other_city",
    }
    per_file = collections.Counter(r["file_name"] for r in read_truth(small_inbox, "quarantine"))
    assert all(int(f[k]["rows_quarantined"]) == n for k, n in per_file.items())


def test_clean_inbox_has_no_deviation(clean_inbox):
    f = fates(clean_inbox)
    assert {v["status"] for v in f.values()} == {"loaded"}
    assert read_truth(clean_inbox, "quarantine") == []
    names = {r["county_name"] for r in csv.DictReader(open(SEEDS_DIR / "regions_counties.csv"))}
    for p in insurer_csvs(clean_inbox):
        c = read_csv(p)
        assert c["encoding"] == "gb18030"
        col = c["header"].index("所属县区")
        assert all(r[col] in names for r in c["rows"])
    for p in (clean_inbox / "reports").iterdir():
        assert p.suffix == ".xlsx" and set(read_workbook(p)) == {"活动", "培训"}
    books = _population_books(clean_inbox)
    assert list(books) == [2022]
    assert books[2022]["header"][:3] == ["市", "县（市、区）", "常住人口（人）"]
    assert set(+books[2022]["forms"]) == {"canonical"}


@pytest.mark.slow
@pytest.mark.parametrize("until", [None, date(2024, 6, 20)])
def test_one_seed_gives_the_same_bytes_another_seed_does_not(tmp_path, until):
    """The same seed (and the same last day, the demo's yesterday), the same bytes."""

    def snapshot(out: Path) -> dict:
        generate(out, [2023, 2024], "small", SEED, until=until)
        root = out.parent
        # bytes of everything; arrival times (mtimes) of the deliveries
        return {
            rel(root, p): (p.read_bytes(), os.stat(p).st_mtime if p.is_relative_to(out) else None)
            for p in root.rglob("*")
            if p.is_file()
        }

    a = snapshot(tmp_path / "a" / "inbox")
    b = snapshot(tmp_path / "b" / "inbox")
    assert a.keys() == b.keys() and len(a) > 100
    assert [k for k in a if a[k] != b[k]] == []
    generate(tmp_path / "c" / "inbox", [2023, 2024], "small", SEED + 1, until=until)
    other = tmp_path / "c" / "inbox" / "insurer" / "JS_POLICY_20240131.csv"
    assert other.read_bytes() != a["inbox/insurer/JS_POLICY_20240131.csv"][0]


def test_cli_generate_refuses_to_overwrite_and_every_command_has_help(tmp_path, small_inbox):
    fpa = [sys.executable, "-m", "fpa.cli"]
    for cmd in (
        [],
        ["generate"],
        ["load"],
        ["rollback"],
        ["superset"],
        ["superset", "sync"],
        ["demo"],
    ):
        r = subprocess.run(fpa + cmd + ["--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: fpa" in r.stdout, cmd
    r = subprocess.run(
        fpa + ["generate", "--out", str(small_inbox)], capture_output=True, text=True
    )
    assert r.returncode == 2 and "--force" in r.stderr
    r = subprocess.run(
        fpa + ["generate", "--out", str(tmp_path / "x"), "--years", "2024", "--clean"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.truth" / "insurance_city_year.csv").exists()
