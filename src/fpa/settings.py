"""Settings dbt and the Python share, written once in dbt/dbt_project.yml's `vars`: dbt reads them
as vars, and everything else here. The feeds' service levels (the quality gate's ${...}
thresholds of expectations/suites.yml, the hourly freshness alert, the reports' due date of the
bulletin and the generator's truth), the first report month and DuckDB's memory limit."""

from datetime import date, datetime, time, timedelta
from functools import cache

import yaml

from fpa.clock import CST
from fpa.paths import DBT_DIR


@cache
def dbt_vars() -> dict:
    text = (DBT_DIR / "dbt_project.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["vars"]


def service_levels() -> dict[str, int]:
    """Each feed's service level by name (insurer_late_after_hours, report_due_day, …)."""
    return {k: int(v) for k, v in dbt_vars()["service_levels"].items()}


def memory_limit() -> str:
    """DuckDB's memory limit for the process that writes the state (dbt's build has its own,
    build_memory_limit, read by dbt only)."""
    return str(dbt_vars()["memory_limit"])


def first_report_month() -> date:
    return date.fromisoformat(str(dbt_vars()["first_report_month"]))


def report_due_at(month: date) -> datetime:
    """When a city's report of `month` is due: 23:59:59 CST on the due day of the following
    month (KPIS.md "Reporting"; dbt's macros/reporting.sql reads the same day). A report
    arriving before 00:00:00 the day after is on time."""
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    day = service_levels()["report_due_day"]
    return datetime.combine(following.replace(day=day), time(23, 59, 59), CST)


def last_due_month(at: datetime) -> date:
    """The newest month whose report was due by `at` (its first day)."""
    month = at.astimezone(CST).date().replace(day=1)
    while report_due_at(month) > at:
        month = (month - timedelta(days=1)).replace(day=1)
    return month
