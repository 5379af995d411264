"""fpa_intraday: every 5 minutes, a delivery that arrived since the last run (a city's corrected
workbook, a late insurer file) is loaded and published without waiting for 02:00. A run that
finds nothing new stops at its first task: nothing built, published or alerted.

check inbox -> (nothing new? stop) -> land and parse -> (nothing to build? stop) -> dbt build
-> GX gate -> publish (the fpa_warehouse asset: fpa_superset_refresh refreshes Superset).
Wiring only; why a poll, and the one-writer rules, in fpa.orchestration.intraday.
"""

import pendulum
from airflow.sdk import Asset, dag, task

from fpa.orchestration import alerts, intraday, tasks

DEFAULTS = {
    "pool": "fpa_duckdb",  # the nightly's one slot: one writer of the DuckDB state at a time
    "queue": "fpa_duckdb",  # the worker that mounts the warehouse (CeleryExecutor)
    "retries": 1,
    # a retry still inside the 10 minutes a correction is promised in
    "retry_delay": pendulum.duration(minutes=1),
    "on_failure_callback": alerts.on_failure(),
}


@dag(
    dag_id=intraday.DAG_ID,
    schedule=intraday.SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULTS,
    tags=["fpa"],
    doc_md=__doc__,
)
def fpa_intraday():
    new = task.short_circuit(intraday.check_inbox)()
    landed = task(tasks.land_and_parse)()
    go_on = task.short_circuit(tasks.needs_build)()
    built = task(tasks.build)()
    judged = task(tasks.gate)(built)
    task(tasks.publish, outlets=[Asset("fpa_warehouse")])(judged)
    new >> landed >> go_on >> built


fpa_intraday()
