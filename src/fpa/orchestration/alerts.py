"""Alerts by mail (the SMTP connection `smtp_default`, AIRFLOW_CONN_SMTP_DEFAULT): a failed task
names its DAG, task, reason and log; a stale feed names the feed and how late it is."""

import os

from fpa.orchestration.common import paths_from_env, reported

ALERT_TO = "FPA_ALERT_TO"  # comma-separated recipients
SMTP_CONN_ID = "smtp_default"

FAILURE_SUBJECT = "[fpa] {{ dag.dag_id }}.{{ ti.task_id }} failed ({{ run_id }})"
FAILURE_BODY = """<p>任务失败 / a task failed.</p>
<ul>
<li>DAG: {{ dag.dag_id }}</li>
<li>task: {{ ti.task_id }} (try {{ ti.try_number }})</li>
<li>run: {{ run_id }}</li>
<li>reason: <pre>{{ exception }}</pre></li>
<li>log: <a href="{{ ti.log_url }}">{{ ti.log_url }}</a></li>
</ul>"""


def recipients() -> list[str]:
    return [a.strip() for a in os.environ.get(ALERT_TO, "data@fpa.invalid").split(",") if a]


def on_failure():
    """The failure callback of every task of the nightly DAGs."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(
        to=recipients(),
        from_email="fpa-airflow@fpa.invalid",
        subject=FAILURE_SUBJECT,
        html_content=FAILURE_BODY,
        smtp_conn_id=SMTP_CONN_ID,
    )


class StaleFeed(RuntimeError):
    pass


@reported
def check_freshness() -> dict:
    """Fails (and so alerts) when a feed is later than its service level: the insurer's newest
    extract older than `insurer_late_after_hours`, a city whose report of the last month due is
    not in by its due time (the service levels of dbt_project.yml's vars, fpa.settings: the
    gate's warnings and dbt's source freshness read the same)."""
    from datetime import datetime

    import duckdb

    from fpa import reference
    from fpa.clock import CST
    from fpa.settings import last_due_month, report_due_at, service_levels
    from fpa.state import StatePaths

    sla_hours = service_levels()["insurer_late_after_hours"]
    _, warehouse = paths_from_env()
    now = datetime.now(CST)
    with duckdb.connect(str(StatePaths(warehouse).db), read_only=True) as con:
        newest = dict(
            con.execute(
                "SELECT source, max(received_at) FROM audit.load_audit "
                "WHERE status = 'loaded' GROUP BY source"
            ).fetchall()
        )
        report_months = dict(
            con.execute("SELECT city_code, max(month) FROM raw.reports GROUP BY ALL").fetchall()
        )
    late = []
    for source in ("insurer_policy", "insurer_claim"):
        at = newest.get(source)
        hours = None if at is None else (now - at).total_seconds() / 3600
        if hours is None or hours > sla_hours:
            when = "never" if at is None else f"{at.astimezone(CST):%Y-%m-%d %H:%M} CST"
            late.append(
                f"{source}: newest file {when} ({hours or float('inf'):.0f} h ago, "
                f"service level {sla_hours} h)"
            )
    expected = last_due_month(now)  # the month whose report is due
    behind: dict[str, list[str]] = {}  # newest month received -> cities, per city
    for city in reference.cities():
        newest_month = report_months.get(city.code)
        if newest_month is None or newest_month < expected:
            behind.setdefault(str(newest_month or "none"), []).append(city.name)
    for newest_month, cities in sorted(behind.items()):
        late.append(
            f"reports: newest month {newest_month} for {len(cities)} cities "
            f"({', '.join(cities)}), {expected:%Y-%m} was due by "
            f"{report_due_at(expected):%Y-%m-%d %H:%M} CST"
        )
    if late:
        raise StaleFeed("late feeds: " + "; ".join(late))
    return {"checked_at": now.isoformat()}
