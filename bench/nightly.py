"""The nightly benchmark: every stage of a province-year night, side by side, one run — the floor
(iconv + a raw DuckDB read_csv into a table: bench/ingest.py's), our ingest, the naive pandas +
openpyxl path, dbt build, gate, publish, the whole night in one process; with --history, a
5-year backfill and an incremental night on it; and the dashboards' chart-data p95 on the
published file.

    uv run fpa generate --out /tmp/prov/inbox --years 2022 --scale province           # 60 s
    uv run fpa generate --out /tmp/prov5/inbox --years 2018-2022 --scale province     # optional
    uv run python bench/nightly.py --inbox /tmp/prov/inbox [--history /tmp/prov5/inbox]

Each stage runs in its own process; wall time and the peak memory of its whole process tree (the
stage, dbt, GX: their PSS summed, bench/treerss.py) are measured around it. Stages after the
ingest work on the warehouse the ingest stage made, as a night does. The incremental night: the
history's last day is held back from the backfill, then delivered.
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

import treerss  # noqa: E402

# targets of the scale-out issue (seconds, MiB); None: compared with the floor or not at all
TARGETS = {
    "ingest": "≤ 1.5× floor",
    "naive": "ours faster, ≤ ½ its RSS",
    "whole night": "build ≤ 60 s",
    "backfill 5 years": "≤ 180 s",
    "incremental night": "≤ 15 s",
}


def _warehouse(work: Path) -> Path:
    return work / "wh" / "fpa.duckdb"


def _run_id(work: Path) -> str:
    path = work / "run_id"
    if not path.exists():
        from fpa.night import new_run_id

        path.write_text(new_run_id())
    return path.read_text()


def stage_floor(inbox: Path, work: Path) -> str:
    from ingest import floor

    with tempfile.TemporaryDirectory(dir=work) as tmp:
        return f"{floor(inbox, Path(tmp))} rows"


def stage_naive(inbox: Path, work: Path) -> str:
    from ingest import naive

    return f"{naive(inbox, work)} rows"


def stage_ingest(inbox: Path, work: Path) -> str:
    from fpa.ingest import ingest

    r = ingest(inbox, _warehouse(work))
    return f"{r.rows_loaded} rows loaded, {r.rows_quarantined} quarantined"


def stage_build(inbox: Path, work: Path) -> str:
    from fpa import night
    from fpa.state import StatePaths, locked

    warehouse = _warehouse(work)
    with locked(StatePaths(warehouse)):
        built = night.build_step(
            warehouse, _run_id(work), night.inputs_digest(StatePaths(warehouse))
        )
    (work / "candidate").write_text(str(built.candidate))
    if not built.success:
        raise SystemExit(built.summary())
    return built.summary().split(":")[0]


def stage_gate(inbox: Path, work: Path) -> str:
    from fpa import night
    from fpa.state import StatePaths, locked

    warehouse = _warehouse(work)
    with locked(StatePaths(warehouse)):
        judged = night.gate_step(
            warehouse,
            _run_id(work),
            Path((work / "candidate").read_text()),
            night.inputs_digest(StatePaths(warehouse)),
        )
    if judged.blocked:
        raise SystemExit(judged.verdict())
    return f"{len(judged.checks)} expectations"


def stage_publish(inbox: Path, work: Path) -> str:
    from fpa import night
    from fpa.state import StatePaths, locked

    warehouse = _warehouse(work)
    with locked(StatePaths(warehouse)):
        night.publish_step(
            warehouse,
            _run_id(work),
            Path((work / "candidate").read_text()),
            night.inputs_digest(StatePaths(warehouse)),
        )
    return f"{warehouse.stat().st_size / 2**20:.0f} MiB published"


def _slowest(warehouse: Path, n: int = 3) -> str:
    """The dbt nodes that took longest in the warehouse's last build: where its time went."""
    from fpa.build import builds_dir

    results = builds_dir(warehouse) / "dbt" / "target" / "run_results.json"
    nodes = json.loads(results.read_text(encoding="utf-8"))["results"]
    nodes.sort(key=lambda r: -r["execution_time"])
    named = [f"{r['unique_id'].split('.')[-1]} {r['execution_time']:.1f}" for r in nodes[:n]]
    return ", ".join(named)


def _night(inbox: Path, warehouse: Path) -> str:
    from fpa import warm

    dbt = warm.start_dbt(warehouse)  # as `fpa load` starts it: before the night's own imports
    from fpa.night import load

    started = time.monotonic()
    r = load(inbox, warehouse, dbt_process=dbt)
    if not r.published:
        raise SystemExit(r.summary())
    before_build = time.monotonic() - started - r.build.seconds - r.gate.seconds
    return (
        f"{r.ingest.rows_loaded} new rows; ingest and checks {before_build:.0f} s, "
        f"dbt {r.build.seconds:.0f} s (slowest: {_slowest(warehouse)}), gate {r.gate.seconds:.0f} s"
    )


def stage_whole_night(inbox: Path, work: Path) -> str:
    return _night(inbox, work / "night" / "fpa.duckdb")


def stage_backfill(history: Path, work: Path) -> str:
    return _night(history, work / "history" / "fpa.duckdb")


def stage_incremental(history: Path, work: Path) -> str:
    return _night(history, work / "history" / "fpa.duckdb")


STAGES = {
    "floor": stage_floor,
    "ingest": stage_ingest,
    "naive": stage_naive,
    "dbt build": stage_build,
    "gate": stage_gate,
    "publish": stage_publish,
    "whole night": stage_whole_night,
    "backfill 5 years": stage_backfill,
    "incremental night": stage_incremental,
}


def run_child(name: str, inbox: Path, work: Path) -> tuple[float, int, str]:
    """(wall s, peak MiB of the stage's whole process tree, its last line)."""
    cmd = [sys.executable, str(HERE), "--child", name, "--inbox", str(inbox), "--work", str(work)]
    wall, tree, _, proc = treerss.run(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read().strip().splitlines()
    if proc.returncode:
        raise SystemExit(f"{name} failed: {out[-5:]}")
    return wall, tree, out[-1] if out else ""


def last_day(history: Path) -> list[Path]:
    """The insurer extracts (.csv and .ok) of the newest day whose files the generator's truth
    says load (the newest days also hold planted rejects): the incremental night's delivery."""
    truth = history.with_name(history.name + ".truth") / "files.csv"
    days: dict[str, list[Path]] = {}
    with open(truth, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["source"].startswith("insurer") and row["status"] == "loaded":
                path = history / row["file_name"]
                days.setdefault(row["received_at"][:10], []).extend([path, path.with_suffix(".ok")])
    return sorted(days[max(days)])


def chart_p95(warehouse: Path, work: Path) -> str:
    out = subprocess.run(
        [
            sys.executable,
            str(HERE.parent / "superset_latency.py"),
            "--warehouse",
            str(warehouse),
            "--home",
            str(work / "superset"),
            "--rounds",
            "10",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "\n".join(line for line in out.splitlines() if "ms" in line or "superset" in line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inbox", type=Path, required=True, help="a province-year inbox")
    ap.add_argument("--history", type=Path, help="a 5-year province inbox (backfill, increment)")
    ap.add_argument("--work", type=Path)
    ap.add_argument("--child")
    ap.add_argument("--no-charts", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(STAGES[args.child](args.inbox, args.work))
        return
    work = Path(tempfile.mkdtemp(prefix="fpa-bench-night-"))
    rows: dict[str, tuple[float, int, str]] = {}
    try:
        for name in list(STAGES)[:7]:
            rows[name] = run_child(name, args.inbox.resolve(), work)
            print(f"  {name}: {rows[name][0]:.1f} s, {rows[name][1]} MiB — {rows[name][2]}")
        if args.history:
            held = work / "held"
            held.mkdir()
            day = last_day(args.history)
            for p in day:
                shutil.move(p, held / p.name)
            try:
                rows["backfill 5 years"] = run_child(
                    "backfill 5 years", args.history.resolve(), work
                )
            finally:
                for p in day:
                    shutil.move(held / p.name, p)
            rows["incremental night"] = run_child("incremental night", args.history.resolve(), work)
            for name in ("backfill 5 years", "incremental night"):
                print(f"  {name}: {rows[name][0]:.1f} s, {rows[name][1]} MiB — {rows[name][2]}")
        charts = "" if args.no_charts else chart_p95(_warehouse(work), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor_wall, floor_rss, _ = rows["floor"]
    print(f"\n{datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores; inbox {args.inbox}")
    print("| stage | wall s | × floor | peak RSS MiB | × floor | target | what |")
    print("|---|---|---|---|---|---|---|")
    for name, (wall, rss, what) in rows.items():
        print(
            f"| {name} | {wall:.1f} | {wall / floor_wall:.2f} | {rss} | {rss / floor_rss:.2f} "
            f"| {TARGETS.get(name, '')} | {what} |"
        )
    if charts:
        print("\nchart data on the published province file (bench/superset_latency.py):")
        print(charts)
    print(json.dumps({k: [round(v[0], 1), v[1]] for k, v in rows.items()}))


if __name__ == "__main__":
    main()
