"""What the warehouse must publish for a generated inbox, computed from the generator's model.

One CSV per published table of WAREHOUSE.md (same columns), plus files.csv (every delivered
file and its fate) and quarantine.csv (every row to be set aside). Money is written with two
decimals, rates as fractions with full precision, an absent value (NULL) as an empty field.
"""

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from fpa import reference
from fpa.generate.delivery import Deliveries
from fpa.generate.insurer import CANCEL, CANCELLED, COUNTED, InsurerModel
from fpa.generate.plan import PRODUCTS, Plan
from fpa.generate.reports import Report
from fpa.generate.text import fmt_cents

INSURANCE_KEYS = ["year", "product", "county"]


def _money(cents) -> list[str]:
    return fmt_cents(np.asarray(cents, dtype=np.int64)).tolist()


def _ratio(num, den) -> list[str]:
    return ["" if d == 0 else repr(float(n) / float(d)) for n, d in zip(num, den, strict=True)]


def insurance(plan: Plan, m: InsurerModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    pol, rows, cl = m.policies, m.policy_rows, m.claims
    counted = pol[(pol["kind"] == COUNTED) & (pol["change"] != CANCEL)]
    grid = pd.MultiIndex.from_product(
        [plan.years, range(len(PRODUCTS)), range(len(plan.counties))], names=INSURANCE_KEYS
    )
    g = counted.groupby(INSURANCE_KEYS)
    out = pd.DataFrame(index=grid)
    out["policies"] = g.size()
    out["units"] = g["units"].sum()
    out["insured_persons"] = g["person"].nunique()
    # premium: every row of the policies written in the year, cancelled ones included
    ok_rows = rows[rows["kind"].isin([COUNTED, CANCELLED])]
    owner = pol.loc[ok_rows["policy"], INSURANCE_KEYS].reset_index(drop=True)
    owner["premium"] = ok_rows["premium"].to_numpy()
    out["premium_cents"] = owner.groupby(INSURANCE_KEYS)["premium"].sum()
    settled = cl[cl["kind"] == "settled"]
    gc = settled.groupby(INSURANCE_KEYS)
    out["claims_settled"] = gc.size()
    out["claims_paid_cents"] = gc["amount"].sum()
    out = out.fillna(0).astype(np.int64).reset_index()
    _check_against_plan(plan, out)

    counties = reference.counties()
    out["product_code"] = np.array(PRODUCTS)[out["product"]]
    out["county_code"] = [counties[k].code for k in out["county"]]
    out["county_name"] = [counties[k].name for k in out["county"]]
    out["city_code"] = [counties[k].city_code for k in out["county"]]
    out["city_name"] = [counties[k].city_name for k in out["county"]]

    # persons are counted by ID, which is (county, person key)
    city_of = np.array([c.city_code for c in counties])
    pc = counted.assign(
        city=city_of[counted["county"].to_numpy()],
        id_key=counted["county"].to_numpy() * 10**9 + counted["person"].to_numpy(),
    )
    city_persons = pc.groupby(["year", "product", "city"])["id_key"].nunique()
    city = out.groupby(
        ["year", "product", "product_code", "city_code", "city_name"], as_index=False
    )[["policies", "units", "premium_cents", "claims_settled", "claims_paid_cents"]].sum()
    city["insured_persons"] = [
        int(city_persons.get((y, p, c), 0))
        for y, p, c in zip(city["year"], city["product"], city["city_code"], strict=True)
    ]
    city["target_units"] = [
        plan.targets.get((y, c)) if p == "JSGA" else None
        for y, p, c in zip(city["year"], city["product_code"], city["city_code"], strict=True)
    ]
    city = city.sort_values(["product", "city_code", "year"], ignore_index=True)
    prev = city.groupby(["product", "city_code"])["units"].shift(1)
    city["yoy_units"] = [
        None if pd.isna(p) else int(u - p) for u, p in zip(city["units"], prev, strict=True)
    ]
    return _insurance_frames(out, city)


def _check_against_plan(plan: Plan, out: pd.DataFrame) -> None:
    """The realisation must add up to the plan; a mismatch is a bug in the generator."""
    idx = (out["year"].map(plan.years.index), out["product"], out["county"])
    checks = {
        "units": plan.units[idx],
        "claims_settled": plan.claims_n[idx],
        "claims_paid_cents": plan.claims_cents[idx],
        "premium_cents": plan.units[idx] * plan.price_cents[idx],
    }
    for col, want in checks.items():
        bad = out[col].to_numpy() != want
        if bad.any():
            raise AssertionError(
                f"generator: realised {col} differs from the plan at "
                f"{out.loc[bad, INSURANCE_KEYS].head(3).to_dict('records')}"
            )


def _insurance_frames(county: pd.DataFrame, city: pd.DataFrame):
    def money_cols(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df["premium_yuan"] = _money(df["premium_cents"])
        df["claims_paid_yuan"] = _money(df["claims_paid_cents"])
        df["loss_ratio"] = _ratio(df["claims_paid_cents"], df["premium_cents"])
        return df

    county = money_cols(county).sort_values(["year", "product", "county_code"])
    city = money_cols(city)
    city["completion_rate"] = [
        "" if t is None or pd.isna(t) else repr(u / t)
        for u, t in zip(city["units"], city["target_units"], strict=True)
    ]
    city["target_units"] = ["" if t is None or pd.isna(t) else int(t) for t in city["target_units"]]
    city["yoy_units"] = ["" if pd.isna(v) else int(v) for v in city["yoy_units"]]
    city = city.sort_values(["year", "product", "city_code"])
    base = ["year", "product_code", "city_code", "city_name"]
    kpis = [
        "policies",
        "units",
        "premium_yuan",
        "insured_persons",
        "claims_settled",
        "claims_paid_yuan",
        "loss_ratio",
    ]
    return (
        county[base + ["county_code", "county_name"] + kpis],
        city[base + kpis + ["target_units", "completion_rate", "yoy_units"]],
    )


def reports(counted: list[Report]) -> tuple[pd.DataFrame, pd.DataFrame]:
    counties = reference.counties()
    acts, trains = [], []
    for rep in counted:
        month = rep.month.isoformat()
        for a in rep.activities:
            if a.other_city:
                continue
            acts.append(
                (
                    month,
                    rep.city.code,
                    "" if a.county is None else counties[a.county].code,
                    a.activity_type,
                    a.project,
                    a.participants or 0,
                    a.service_visits or 0,
                    a.materials or 0,
                    a.funds_cents or 0,
                    (a.participants or 0) if a.approx else 0,
                )
            )
        for t in rep.trainings:
            if t.other_city:
                continue
            trains.append(
                (
                    month,
                    rep.city.code,
                    "" if t.county is None else counties[t.county].code,
                    t.audience,
                    t.mode,
                    t.trainees,
                    t.trainees * t.days,
                    t.hours,
                )
            )
    a = pd.DataFrame(
        acts,
        columns=[
            "month",
            "city_code",
            "county_code",
            "activity_type",
            "project",
            "participants",
            "service_visits",
            "materials",
            "funds_cents",
            "approx_participants",
        ],
    )
    keys = ["month", "city_code", "county_code", "activity_type", "project"]
    ga = a.groupby(keys, as_index=False).agg(
        activities=("participants", "size"),
        participants=("participants", "sum"),
        service_visits=("service_visits", "sum"),
        materials=("materials", "sum"),
        funds_cents=("funds_cents", "sum"),
        approx_participants=("approx_participants", "sum"),
    )
    ga["funds_yuan"] = _money(ga["funds_cents"])
    ga = ga[
        keys
        + [
            "activities",
            "participants",
            "service_visits",
            "materials",
            "funds_yuan",
            "approx_participants",
        ]
    ]
    t = pd.DataFrame(
        trains,
        columns=[
            "month",
            "city_code",
            "county_code",
            "audience",
            "mode",
            "trainees",
            "trainee_days",
            "hours",
        ],
    )
    tkeys = ["month", "city_code", "county_code", "audience", "mode"]
    gt = t.groupby(tkeys, as_index=False).agg(
        courses=("trainees", "size"),
        trainees=("trainees", "sum"),
        trainee_days=("trainee_days", "sum"),
        hours=("hours", "sum"),
    )
    return ga, gt


def completeness(plan: Plan, d: Deliveries) -> pd.DataFrame:
    accepted: dict[tuple[str, str], list] = {}
    for f in d.fates:
        if f.source == "report" and f.status in ("loaded", "superseded"):
            accepted.setdefault((f.period, f.city_code), []).append(f.received_at)
    rows = []
    for y in plan.years:
        for m in range(1, 13):
            month = date(y, m, 1)
            end = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            for c in reference.cities():
                got = sorted(accepted.get((f"{y}-{m:02d}", c.code), []))
                rows.append(
                    (
                        month.isoformat(),
                        c.code,
                        c.name,
                        bool(got),
                        got[0].isoformat() if got else "",
                        (got[0].date() - end).days if got else "",
                        len(got) - 1 if got else 0,
                    )
                )
    return pd.DataFrame(
        rows,
        columns=[
            "month",
            "city_code",
            "city_name",
            "received",
            "received_at",
            "days_after_month_end",
            "revisions",
        ],
    )


def write(
    truth_dir: Path,
    plan: Plan,
    m: InsurerModel,
    counted: list[Report],
    d: Deliveries,
    summary: dict,
) -> dict:
    truth_dir.mkdir(parents=True, exist_ok=True)
    county, city = insurance(plan, m)
    acts, trains = reports(counted)
    tables = {
        "insurance_county_year": county,
        "insurance_city_year": city,
        "activities_monthly": acts,
        "training_monthly": trains,
        "report_completeness": completeness(plan, d),
    }
    files = pd.DataFrame(
        [
            {
                "source": f.source,
                "file_name": f.path,
                "file_sha256": f.sha256,
                "received_at": f.received_at.isoformat(),
                "status": f.status,
                "reason_code": str(f.reason_code),
                "reason": f.reason,
                "rows_in_file": f.rows_in_file,
                "rows_received": f.rows_received,
                "rows_loaded": f.rows_loaded,
                "rows_quarantined": f.rows_quarantined if f.rows_received else 0,
                "in_load_audit": f.in_load_audit,
                "same_as": f.same_as,
                "city_code": f.city_code,
                "period": f.period,
                "encoding": f.encoding,
            }
            for f in d.fates
        ]
    )
    quarantine = pd.DataFrame(
        [
            {
                "file_name": q.path,
                "sheet": q.sheet,
                "row_number": q.row_number,
                "reason_code": str(q.reason_code),
            }
            for q in d.quarantined
        ],
        columns=["file_name", "sheet", "row_number", "reason_code"],
    )
    tables["files"] = files
    tables["quarantine"] = quarantine
    for name, df in tables.items():
        df.to_csv(truth_dir / f"{name}.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    summary = {
        **summary,
        "tables": {k: len(v) for k, v in tables.items()},
        "files_by_status": files["status"].value_counts().sort_index().to_dict(),
        "rows_quarantined_by_reason": quarantine["reason_code"]
        .value_counts()
        .sort_index()
        .to_dict(),
    }
    # without the paths, so that one seed gives one truth wherever it is written
    portable = {k: v for k, v in summary.items() if k not in ("inbox", "truth_dir")}
    (truth_dir / "summary.json").write_text(
        json.dumps(portable, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
    )
    return summary
