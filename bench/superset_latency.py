"""Chart-data latency of the dashboards: Superset's chart-data API (as leadership, with the
dashboard's filters) vs the same SQL straight on DuckDB vs the naive pandas path (read the
mart whole, filter and aggregate in pandas), side by side, one run.

    uv run fpa demo --no-serve                       # the demo warehouse and Superset's home
    uv run python bench/superset_latency.py           # starts its own gunicorn on loopback

For every chart of the five dashboards, `--rounds` requests of each kind: "cold" forces
Superset to run the query (force=true: no cache), "cached" is what a second reader gets. The
SQL Superset ran (result_type=query) is then timed on a direct read-only DuckDB connection.
Prints p50 / p95 per kind and the ratios to the raw DuckDB time.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "src"))

from fpa.dashboards import spec  # noqa: E402
from fpa.dashboards.service import (  # noqa: E402
    Api,
    admin_password,
    serve,
    stop,
    sync,
)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", default="demo/warehouse/fpa.duckdb")
    ap.add_argument("--home", default="demo/superset", help="Superset's home (synced if new)")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument(
        "--per-chart", action="store_true", help="print each chart's cold and cached p50/p95"
    )
    args = ap.parse_args()
    import duckdb

    warehouse, home = Path(args.warehouse).resolve(), Path(args.home).resolve()
    if not (home / "superset.db").exists():
        sync(warehouse, home)
    proc = serve(home, args.port, workers=2)
    try:
        api = Api(f"http://127.0.0.1:{args.port}", "admin", admin_password(home))
        charts = {
            c["slice_name"]: c["id"] for c in api.get("/api/v1/chart/?q=(page_size:1000)")["result"]
        }
        cold: list[float] = []
        cached: list[float] = []
        raw: list[float] = []
        naive: list[float] = []
        con = duckdb.connect(str(warehouse), read_only=True)
        for board in spec.DASHBOARDS:
            for chart in (c for row in board.rows for c in row):
                qc = json.loads(
                    api.get(f"/api/v1/chart/{charts[chart.title]}")["result"]["query_context"]
                )
                for force, into in ((True, cold), (False, cached)):
                    qc["force"] = force
                    for _ in range(args.rounds):
                        t = time.perf_counter()
                        r = api.post("/api/v1/chart/data", qc)
                        into.append(time.perf_counter() - t)
                        assert r.status_code == 200, r.text[:300]
                if args.per_chart:
                    hot, forced = cached[-args.rounds :], cold[-args.rounds :]
                    print(
                        f"  {board.slug:10} {chart.key:18} {chart.dataset:26} cold p50 "
                        f"{pct(forced, 0.5) * 1000:6.1f} p95 {pct(forced, 0.95) * 1000:6.1f}, "
                        f"cached p50 {pct(hot, 0.5) * 1000:6.1f} p95 "
                        f"{pct(hot, 0.95) * 1000:6.1f} ms",
                        flush=True,
                    )
                qc["force"], qc["result_type"] = False, "query"
                sql = api.post("/api/v1/chart/data", qc).json()["result"][0]["query"]
                qc["result_type"] = "full"
                for _ in range(args.rounds):
                    t = time.perf_counter()
                    con.execute(sql).fetchall()
                    raw.append(time.perf_counter() - t)
                # naive: the whole mart into pandas on every request, then filter/aggregate
                mart = spec_mart(chart)
                for _ in range(max(3, args.rounds // 4)):
                    t = time.perf_counter()
                    with duckdb.connect(str(warehouse), read_only=True) as c2:
                        df = c2.execute(f"SELECT * FROM marts.{mart}").df()
                    group = [g for g in (chart.x, *chart.groupby) if g and g in df.columns]
                    num = df.select_dtypes("number")
                    (num.groupby(df[group[0]]).sum() if group else num.sum())
                    naive.append(time.perf_counter() - t)
        n = len(cold) // args.rounds
        base = pct(raw, 0.95)
        print(f"{n} charts x {args.rounds} requests each, warehouse {warehouse}")
        print(f"{'path':34} {'p50 ms':>8} {'p95 ms':>8} {'p95 / raw':>10}")
        for name, xs in [
            ("superset chart-data, cold (force)", cold),
            ("superset chart-data, cached", cached),
            ("raw duckdb, same SQL", raw),
            ("naive pandas (whole mart)", naive),
        ]:
            p50, p95 = pct(xs, 0.5) * 1000, pct(xs, 0.95) * 1000
            print(f"{name:34} {p50:8.1f} {p95:8.1f} {pct(xs, 0.95) / base:10.1f}")
        print(f"mean cold {statistics.mean(cold) * 1000:.1f} ms")
    finally:
        stop(proc)
    return 0


def spec_mart(chart: spec.Chart) -> str:
    ds = next(d for d in spec.DATASETS if d.name == chart.dataset)
    return ds.mart


if __name__ == "__main__":
    sys.exit(main())
