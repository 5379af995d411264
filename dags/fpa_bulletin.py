"""fpa_bulletin: each month at 08:00 CST the day after the cities' reports of the month before
were due (the 11th), the 统计通报 of the province and of each city as of the last day of the
month before, written beside the warehouse and mailed to each area's list.

Wiring only; what is written and who is mailed, in fpa.orchestration.bulletin_mail.
"""

import pendulum
from airflow.sdk import dag, task

from fpa.orchestration import alerts, bulletin_mail


@dag(
    dag_id="fpa_bulletin",
    schedule=bulletin_mail.SCHEDULE,
    # the first month the warehouse holds: a past month's bulletin can be asked for by a run
    # with that logical date (catchup is off: nothing is made for the past unasked)
    start_date=pendulum.datetime(2017, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={
        # it reads the published file only; on the worker that mounts it
        "queue": "fpa_duckdb",
        "retries": 1,
        "retry_delay": pendulum.duration(minutes=30),
        "on_failure_callback": alerts.on_failure(),
    },
    tags=["fpa"],
    doc_md=__doc__,
)
def fpa_bulletin():
    task(bulletin_mail.mail_bulletins)()


fpa_bulletin()
