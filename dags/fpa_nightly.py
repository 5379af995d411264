"""fpa_nightly: pull -> land and parse -> (nothing new? skip the build) -> dbt build -> GX gate
-> publish -> mail each data provider whose open issues changed (its 数据问题清单).

Wiring only; every task is a function of fpa.orchestration (the same steps `fpa load` runs).
"""

import pendulum
from airflow.sdk import Asset, dag, task

from fpa.orchestration import alerts, feedback_mail, pull, tasks

# the published file: a downstream DAG (Superset's cache refresh) is scheduled on it
WAREHOUSE = Asset("fpa_warehouse")
DEFAULTS = {
    "pool": "fpa_duckdb",  # one slot: one writer of the DuckDB state at a time
    # CeleryExecutor (the compose profile): only the worker that mounts the warehouse serves this
    # queue; the local executors ignore it
    "queue": "fpa_duckdb",
    "retries": 1,
    "retry_delay": pendulum.duration(minutes=5),
    "on_failure_callback": alerts.on_failure(),
}


@dag(
    dag_id="fpa_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,  # no catch-up storm: history is loaded from the archive (docs/operations.md)
    max_active_runs=1,
    default_args=DEFAULTS,
    tags=["fpa"],
    doc_md=__doc__,
)
def fpa_nightly():
    pulled = task(pull.pull_new_files)()
    landed = task(tasks.land_and_parse)()
    # nothing new: the build is skipped and so are the gate and publish (their trigger rule),
    # but the feedback mail still runs — an intraday run may have published since the last one
    go_on = task.short_circuit(tasks.needs_build, ignore_downstream_trigger_rules=False)()
    built = task(tasks.build)()
    judged = task(tasks.gate)(built)
    published = task(tasks.publish, outlets=[WAREHOUSE])(judged)
    mailed = task(feedback_mail.mail_feedback, trigger_rule="none_failed")()
    pulled >> landed >> go_on >> built
    published >> mailed


fpa_nightly()
