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


# service levels of the sources (contracts; issue: insurer 36 h, reports by the 10th)
INSURER_SLA_HOURS = 36
REPORT_DUE_DAY = 10


class StaleFeed(RuntimeError):
    pass


@reported
def check_freshness() -> dict:
    """Fails (and so alerts) when a feed is later than its service level."""
    from datetime import datetime, timedelta

    import duckdb

    from fpa.clock import CST
    from fpa.state import StatePaths

    _, warehouse = paths_from_env()
    now = datetime.now(CST)
    with duckdb.connect(str(StatePaths(warehouse).db), read_only=True) as con:
        newest = dict(
            con.execute(
                "SELECT source, max(received_at) FROM audit.load_audit "
                "WHERE status = 'loaded' GROUP BY source"
            ).fetchall()
        )
        report_month = con.execute("SELECT max(month) FROM raw.reports").fetchone()[0]
    late = []
    for source in ("insurer_policy", "insurer_claim"):
        at = newest.get(source)
        hours = None if at is None else (now - at).total_seconds() / 3600
        if hours is None or hours > INSURER_SLA_HOURS:
            when = "never" if at is None else f"{at.astimezone(CST):%Y-%m-%d %H:%M} CST"
            late.append(
                f"{source}: newest file {when} ({hours or float('inf'):.0f} h ago, "
                f"service level {INSURER_SLA_HOURS} h)"
            )
    due = (now - timedelta(days=REPORT_DUE_DAY)).date().replace(day=1)
    expected = (due - timedelta(days=1)).replace(day=1)  # the month whose report is due
    if report_month is None or report_month < expected:
        late.append(
            f"reports: newest month {report_month}, {expected:%Y-%m} was due by the "
            f"{REPORT_DUE_DAY}th"
        )
    if late:
        raise StaleFeed("late feeds: " + "; ".join(late))
    return {"checked_at": now.isoformat()}
