"""fpa_freshness: every hour, alert when a feed is later than its service level (the insurer's
nightly extracts, the cities' monthly reports by their due day: dbt/dbt_project.yml's vars).
Separate from the nightly run so a late feed is reported even when the night itself succeeds."""

import pendulum
from airflow.sdk import dag, task

from fpa.orchestration import alerts


@dag(
    dag_id="fpa_freshness",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={
        # it reads the warehouse's state: on the worker that mounts it, and never while a night
        # writes it (DuckDB refuses a reader while another process holds the file for writing)
        "pool": "fpa_duckdb",
        "queue": "fpa_duckdb",
        "on_failure_callback": alerts.on_failure(),
    },
    tags=["fpa"],
    doc_md=__doc__,
)
def fpa_freshness():
    task(alerts.check_freshness)()


fpa_freshness()
