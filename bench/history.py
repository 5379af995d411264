"""How a night's cost grows with the history (issue 26): for each province history given (2, 5, 10
years), side by side in one run — the floor (iconv + DuckDB read_csv of every insurer CSV of the
history), the backfill (`fpa load` from nothing), two incremental nights on it (an ordinary
mid-year day, and the first day of a year, which carries 退保 rows of the year before), and the
floor again. The backfill's ratio is to the mean of the two floors: this machine's speed drifts
by a fifth within an hour, and a floor measured once, minutes before, moved the ratio by as
much as anything the backfill changed. Wall time
and the peak memory of each run's whole process tree (the CLI, dbt, GX: their PSS summed,
bench/treerss.py), beside the largest single process's RSS; on the longest history, the chart-
data p95 of every chart through Superset (bench/superset_latency.py).

    uv run fpa generate --out /tmp/prov2/inbox --years 2021-2022 --scale province
    uv run fpa generate --out /tmp/prov5/inbox --years 2018-2022 --scale province
    uv run fpa generate --out /tmp/prov10a/inbox --years 2013-2017 --scale province
    mkdir -p /tmp/prov10 && cp -al /tmp/prov10a/inbox /tmp/prov10/ \
        && cp -alf /tmp/prov5/inbox/. /tmp/prov10/inbox/
    uv run python bench/history.py /tmp/prov2/inbox /tmp/prov5/inbox /tmp/prov10/inbox

Ten years are two 5-year inboxes in one folder (the later one's files win the few names they
share: the first one's planted rejects dated after its last day): the generator holds a whole
history in memory and cannot write ten province years at once on this machine (issue 24).

The two days are held back from the backfill and delivered after it, the mid-year day (30 June
of the newest year) first: both nights then run on the whole history, and each touches what such
a day touches (the new year's day: last year's refunds and the new year's first sales).
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

import treerss  # noqa: E402

TARGETS = {"backfill": "≤ 300 s", "mid-year night": "≤ 15 s", "new-year night": "≤ 15 s"}
TREE_LIMIT_MIB = 1024


def _day_files(inbox: Path, day: str) -> list[Path]:
    files = sorted((inbox / "insurer").glob(f"JS_*_{day}.*"))
    if not files:
        raise SystemExit(f"{inbox} has no insurer extract of {day}")
    return files


def years_held(inbox: Path) -> list[str]:
    """The years with a whole year of daily extracts (the generator dates a few planted rejects
    after the last day)."""
    days = Counter(p.name[10:14] for p in (inbox / "insurer").glob("JS_POLICY_*.csv"))
    return sorted(y for y, n in days.items() if n >= 365)


def held_days(inbox: Path) -> dict[str, str]:
    """The two held-back days, by night: 30 June and 1 January of the newest year."""
    newest = years_held(inbox)[-1]
    return {"mid-year night": f"{newest}0630", "new-year night": f"{newest}0101"}


def child(stage: str, inbox: Path, work: Path) -> str:
    if stage == "floor":  # any other stage: a night
        from ingest import floor

        with tempfile.TemporaryDirectory(dir=work) as tmp:
            return f"{floor(inbox, Path(tmp))} rows"
    from fpa import warm

    warehouse = work / "wh" / "fpa.duckdb"
    dbt = warm.start_dbt(warehouse)  # as `fpa load` starts it: before the night's own imports
    from fpa.night import load

    r = load(inbox, warehouse, dbt_process=dbt)
    if not r.published:
        raise SystemExit(r.summary())
    from nightly import _slowest

    return (
        f"{r.ingest.rows_loaded} new rows; dbt {r.build.seconds:.1f} s "
        f"(slowest: {_slowest(warehouse)}), gate {r.gate.seconds:.1f} s"
    )


def run(stage: str, inbox: Path, work: Path) -> dict:
    cmd = [sys.executable, str(HERE), "--child", stage, "--inbox", str(inbox), "--work", str(work)]
    wall, tree, largest, proc = treerss.run(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read().strip().splitlines()
    if proc.returncode:
        raise SystemExit(f"{stage} failed: {out[-5:]}")
    row = {"wall": round(wall, 1), "tree": tree, "largest": largest, "what": out[-1] if out else ""}
    print(f"  {stage}: {wall:.1f} s, tree {tree} MiB (largest {largest}) — {row['what']}")
    return row


def history(inbox: Path, keep: Path | None, charts: bool) -> dict[str, dict]:
    inbox = inbox.resolve()
    n_years = len(years_held(inbox))
    print(f"{inbox}: {n_years} years")
    work = Path(tempfile.mkdtemp(prefix="fpa-bench-history-"))
    rows = {"years": n_years}
    days = held_days(inbox)
    held = work / "held"
    held.mkdir()
    moved = {night: _day_files(inbox, day) for night, day in days.items()}
    try:
        rows["floor"] = run("floor", inbox, work)
        for files in moved.values():
            for p in files:
                shutil.move(p, held / p.name)
        rows["backfill"] = run("backfill", inbox, work)
        for night, files in moved.items():
            for p in files:
                shutil.move(held / p.name, p)
            rows[night] = run(night, inbox, work)
            rows[night]["what"] = f"{days[night]}: " + rows[night]["what"]
        rows["floor again"] = run("floor", inbox, work)
        if charts:
            from nightly import chart_p95

            rows["charts"] = chart_p95(work / "wh" / "fpa.duckdb", work)
            print(rows["charts"])
        if keep:
            shutil.copytree(work / "wh", keep, dirs_exist_ok=True)
    finally:
        for files in moved.values():
            for p in files:
                if (held / p.name).exists():
                    shutil.move(held / p.name, p)
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("histories", nargs="*", type=Path, help="province inboxes, shortest first")
    ap.add_argument("--keep", type=Path, help="copy the longest history's warehouse folder here")
    ap.add_argument("--no-charts", action="store_true", help="skip the chart-data p95")
    ap.add_argument("--child")
    ap.add_argument("--inbox", type=Path)
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    if args.child:
        print(child(args.child, args.inbox, args.work))
        return
    results = []
    for i, inbox in enumerate(args.histories):
        last = i == len(args.histories) - 1
        results.append(history(inbox, args.keep if last else None, last and not args.no_charts))
    print(f"\n{datetime.now():%Y-%m-%d %H:%M}")
    print("| years | stage | wall s | × floor | tree peak MiB | largest MiB | target | what |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    for r in results:
        floor = (r["floor"]["wall"] + r["floor again"]["wall"]) / 2
        for stage in ("floor", "floor again", "backfill", "mid-year night", "new-year night"):
            s = r[stage]
            ok = "" if stage.startswith("floor") else (" ✗" if s["tree"] > TREE_LIMIT_MIB else "")
            ratio = {
                "backfill": f"{s['wall'] / floor:.2f}",
                "floor again": f"mean {floor:.1f} s",
            }.get(stage, "")
            print(
                f"| {r['years']} | {stage} | {s['wall']} | {ratio} | {s['tree']}{ok} "
                f"| {s['largest']} | {TARGETS.get(stage, '')} | {s['what']} |"
            )
    if "charts" in results[-1]:
        print(f"\nchart data on the {results[-1]['years']}-year file:\n{results[-1]['charts']}")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
