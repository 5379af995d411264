"""`fpa demo`: the system on this machine with embedded defaults.

What runs today: the calibrated sample inbox is written, a nightly load (`fpa load`'s function)
publishes the warehouse from it, and the headline figures are read back from the published
file beside what the generator's truth says they must be. Superset and Airflow join here as
their issues land.
"""

import csv
import json
import time
from pathlib import Path

from fpa.generate.inbox import default_truth_dir, generate, parse_years, stderr_progress
from fpa.night import docs_dir

HEADLINES = [  # (what, table, filter, column)
    (
        "河池市 2022 JSGA 承保份数",
        "insurance_city_year",
        {"year": "2022", "product_code": "JSGA", "city_name": "河池市"},
        "units",
    ),
    (
        "河池市 2022 JSGA 保费收入 (元)",
        "insurance_city_year",
        {"year": "2022", "product_code": "JSGA", "city_name": "河池市"},
        "premium_yuan",
    ),
    (
        "河池市 2022 JSGA 完成率",
        "insurance_city_year",
        {"year": "2022", "product_code": "JSGA", "city_name": "河池市"},
        "completion_rate",
    ),
    (
        "河池市 2022 JSGA 赔付率",
        "insurance_city_year",
        {"year": "2022", "product_code": "JSGA", "city_name": "河池市"},
        "loss_ratio",
    ),
    (
        "钦州市 2020 JSGA 保费收入 (元)",
        "insurance_city_year",
        {"year": "2020", "product_code": "JSGA", "city_name": "钦州市"},
        "premium_yuan",
    ),
    (
        "浦北县 2020 JSGA 承保份数",
        "insurance_county_year",
        {"year": "2020", "product_code": "JSGA", "county_name": "浦北县"},
        "units",
    ),
]


def _published(warehouse: Path, table: str, where: dict, column: str) -> str:
    import duckdb

    if not warehouse.exists():
        return "(not published)"
    sql = f"SELECT {column} FROM marts.{table} WHERE " + " AND ".join(
        f"{k}::VARCHAR = ?" for k in where
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(sql, list(where.values())).fetchall()
    if len(rows) != 1 or rows[0][0] is None:
        return "(none)"
    value = rows[0][0]
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _lookup(truth: Path, table: str, where: dict, column: str) -> str:
    with open(truth / f"{table}.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if all(row[k] == v for k, v in where.items()):
                return row[column]
    return "(none)"


YEARS = "2017-2024"
SEED = 20240101


def _existing(inbox: Path, scale: str) -> dict | None:
    """The summary of an inbox this demo wrote before with the same settings, if whole."""
    truth = default_truth_dir(inbox)
    try:
        summary = json.loads((truth / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    settings = (summary.get("scale"), summary.get("years"), summary.get("seed"))
    if settings != (scale, YEARS, SEED) or summary.get("clean") or not inbox.is_dir():
        return None
    return {**summary, "truth_dir": str(truth)}


def run_demo(workdir: Path, scale: str) -> int:
    t0 = time.monotonic()
    inbox = workdir / "inbox"
    summary = _existing(inbox, scale)
    if summary is None:  # the truth is written last: a half-written inbox is written anew
        summary = generate(
            inbox, parse_years(YEARS), scale, SEED, force=True, progress=stderr_progress
        )
        made = f"written to {inbox}"
    else:
        made = f"reused from {inbox} (delete it to write it anew)"
    truth = Path(summary["truth_dir"])
    print(f"\nfpa demo: sample inbox {made} in {time.monotonic() - t0:.0f} s")
    print(
        f"  {summary['policy_rows']:,} policy rows, {summary['claim_rows']:,} claim rows, "
        + ", ".join(f"{n} {s}" for s, n in summary["files_by_status"].items())
        + " files"
    )
    print(f"  truth (what the warehouse must publish): {truth}")

    from fpa.night import load

    warehouse = workdir / "warehouse" / "fpa.duckdb"
    t1 = time.monotonic()
    night = load(inbox, warehouse, stderr_progress)
    print(f"\nfpa load --inbox {inbox} --warehouse {warehouse}  ({time.monotonic() - t1:.0f} s)")
    print("  " + night.summary().replace("\n", "\n  "))
    print("\nheadline figures: published | truth")
    for what, table, where, column in HEADLINES:
        want = _lookup(truth, table, where, column)
        if column in ("completion_rate", "loss_ratio") and want not in ("", "(none)"):
            want = f"{float(want):.4f}"
        print(f"  {what}: {_published(warehouse, table, where, column)} | {want}")
    print(f"\nquality report (Great Expectations Data Docs): {docs_dir(warehouse) / 'index.html'}")
    print("Not running yet: Superset and Airflow; each joins this command when its issue lands.")
    return night.exit_code
