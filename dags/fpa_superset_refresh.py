"""fpa_superset_refresh: when fpa_nightly publishes the warehouse (the fpa_warehouse asset),
clear Superset's cached chart data and warm every chart, so leadership never reads yesterday's
figures from the cache."""

import pendulum
from airflow.sdk import Asset, dag, task

from fpa.orchestration import alerts, tasks


@dag(
    dag_id="fpa_superset_refresh",
    schedule=[Asset("fpa_warehouse")],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "on_failure_callback": alerts.on_failure()},
    tags=["fpa"],
    doc_md=__doc__,
)
def fpa_superset_refresh():
    task(tasks.refresh_superset)()


fpa_superset_refresh()
