"""Corrections within minutes, measured end to end with no command typed: a city's corrected
report placed in the inbox → published by fpa_intraday (a real `airflow standalone`, its
scheduler polling every 5 minutes) → Superset's cache refreshed by fpa_superset_refresh → the
chart answering the new figure to that city's viewer, then seen in Chromium.

    uv run python bench/correction.py [--workdir DIR] [--at-poll]

It builds a small clean warehouse (2023-2024), syncs and serves Superset, starts Airflow with
every DAG unpaused, waits for fpa_intraday's first empty poll, then writes 河池市's corrected
December 2024 report (one activity, a participant count no month has) and times:
arrival → published (the warehouse file replaced), arrival → the 活动开展 chart's data as
`hechi` shows the count, and where in the 5-minute poll cycle the file arrived (the wait for
the next poll is most of the figure: `--at-poll` places it a minute after a poll, 4 minutes
before the next; the default, half-way through a cycle).
Loopback only; every process it starts is stopped at the end.
"""

import argparse
import json
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "src"))
sys.path.insert(0, str(HERE.parents[1] / "tests"))

from fpa.clock import CST  # noqa: E402
from fpa.dashboards import service  # noqa: E402
from fpa.dashboards.provision import city_role  # noqa: E402
from fpa.generate.inbox import generate  # noqa: E402
from fpa.night import load  # noqa: E402
from fpa.orchestration import intraday, local  # noqa: E402

HECHI, CITY = "451200", "河池市"
PARTICIPANTS = 4321  # no generated month of one city has exactly this many
USER = service.DemoUser("hechi", "hechi-bench-1", city_role(HECHI), "河池市 viewer")


def month_participants(api: service.Api, chart_id: int) -> int | None:
    """河池市's participants in December 2024 as the 每月参与人数 chart answers its viewer."""
    chart = api.get(f"/api/v1/chart/{chart_id}")["result"]
    qc = json.loads(chart["query_context"])
    flt = [{"col": "year", "op": "IN", "val": [2024]}]
    qc["queries"][0]["filters"] = qc["queries"][0]["filters"] + flt
    qc["form_data"]["extra_form_data"] = {"filters": flt}
    r = api.post("/api/v1/chart/data", qc)
    r.raise_for_status()
    for row in r.json()["result"][0]["data"]:
        month = row["month"]
        if isinstance(month, (int, float)):  # epoch milliseconds
            month = datetime.fromtimestamp(month / 1000, CST).strftime("%Y-%m")
        if str(month).startswith("2024-12"):
            return row["participants"]
    return None


def answered(api: service.Api, chart_id: int) -> int | None:
    """The chart's answer, or None while Superset refuses or drops the request (its workers
    recycle while fpa_superset_refresh recomputes every chart)."""
    import requests

    try:
        return month_participants(api, chart_id)
    except (requests.RequestException, service.SupersetError) as e:
        print(f"  ({type(e).__name__}: asked again)")
        return None


def seconds_to_next_poll(now: float) -> float:
    period = intraday.POLL_MINUTES * 60
    return period - (now % period)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument(
        "--at-poll", action="store_true", help="arrive a minute after a poll (4 min to the next)"
    )
    args = ap.parse_args()
    # a SIGTERM stops Superset and Airflow too (the finally below), not only this process
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="fpa-correction-"))).resolve()
    inbox, warehouse = work / "inbox", work / "wh" / "fpa.duckdb"
    t = time.monotonic()
    generate(inbox, [2023, 2024], "small", 20240101, clean=True)
    result = load(inbox, warehouse)
    assert result.published, result.summary()
    print(f"warehouse: {time.monotonic() - t:.0f} s ({warehouse})")
    home, airflow_home = work / "superset", work / "airflow"
    ids = service.sync(warehouse, home, [USER])
    port, airflow_port = local_port(), local_port()
    url = f"http://127.0.0.1:{port}"
    superset = service.serve(home, port)
    airflow = None
    try:
        api = service.Api(url, USER.username, USER.password)
        chart = ids["charts"]["act_participants_by_month"]
        before = month_participants(api, chart)
        airflow = local.standalone(
            airflow_home,
            port=airflow_port,
            FPA_INBOX=str(inbox),
            FPA_WAREHOUSE=str(warehouse),
            FPA_SUPERSET_HOME=str(home),
            FPA_SUPERSET_URL=url,
        )
        service.wait_healthy(f"http://127.0.0.1:{airflow_port}/api/v2/monitor/health", airflow, 300)
        # the scheduler's first runs (the nightly's latest interval, the hourly freshness, a
        # first poll) settle before the correction arrives
        settle = seconds_to_next_poll(time.time()) + 60
        print(f"Airflow up; waiting {settle:.0f} s for the first poll to pass")
        time.sleep(settle)
        if not args.at_poll:
            time.sleep(seconds_to_next_poll(time.time()) / 2)  # mid-cycle: the mean case
        published = warehouse.stat().st_mtime_ns
        from support.workbooks import act, book, train

        arrived = time.time()
        book(
            inbox,
            "河池市计生协2024年12月工作月报（更正）.xlsx",
            [act(date_="2024-12-10", participants=PARTICIPANTS)],
            [train(start="2024-12-15", end="2024-12-16")],
            title="河池市计生协2024年12月",
            filled="2025年1月5日",
            when=arrived,
        )
        wait = seconds_to_next_poll(arrived)
        at = datetime.fromtimestamp(arrived, CST)
        print(f"arrived {at:%H:%M:%S} CST; the next poll in {wait:.0f} s")
        t_pub = t_chart = None
        deadline = arrived + 15 * 60
        while time.time() < deadline and t_chart is None:
            time.sleep(2)
            if t_pub is None and warehouse.stat().st_mtime_ns != published:
                t_pub = time.time() - arrived
                print(f"published after {t_pub:.0f} s")
            if t_pub is not None and answered(api, chart) == PARTICIPANTS:
                t_chart = time.time() - arrived
                print(f"the chart answers {PARTICIPANTS} to {USER.username} after {t_chart:.0f} s")
        seen = chromium_sees(url, ids["dashboards"]["activities"], warehouse) if t_chart else None
    finally:
        service.stop(superset)
        if airflow is not None:
            service.stop(airflow)
    print()
    print("| step | seconds after arrival |")
    print("| --- | ---: |")
    print(f"| wait for the next poll (*/{intraday.POLL_MINUTES} min) | {wait:.0f} |")
    print(f"| published (fpa_intraday) | {fmt(t_pub)} |")
    print(f"| chart data answers the new figure (fpa_superset_refresh) | {fmt(t_chart)} |")
    print(f"| the run itself (published − wait) | {fmt(t_pub and t_pub - wait)} |")
    print(f"(before: {before}; Chromium shows it to {USER.username}: {seen})")
    return 0 if t_chart is not None and t_chart < 600 else 1


def chromium_sees(url: str, dashboard_id: int, warehouse: Path) -> str:
    """The 活动开展 dashboard in Chromium as 河池市's viewer: whether its 参与人数 big number
    (the newest year, their city) shows the published total, the corrected month in it."""
    import duckdb
    from playwright.sync_api import sync_playwright
    from support.browser import log_in, open_page

    with duckdb.connect(str(warehouse), read_only=True) as con:
        (total,) = con.execute(
            "SELECT sum(participants) FROM marts.activities_monthly WHERE city_code = ? "
            "AND year(month) = (SELECT max(year(month)) FROM marts.activities_monthly)",
            [HECHI],
        ).fetchone()

    with sync_playwright() as p:
        browser, page = open_page(p)
        log_in(page, url, USER.username, USER.password)
        page.goto(f"{url}/superset/dashboard/{dashboard_id}/")
        page.wait_for_timeout(15_000)
        text = page.inner_text("body")
        browser.close()
    return f"参与人数 {total:,}: {'shown' if f'{total:,}' in text else 'NOT shown'}"


def fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f}"


def local_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    raise SystemExit(main())
