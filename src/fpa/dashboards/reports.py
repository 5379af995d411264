"""The weekly report by mail: Superset's Alerts & Reports screenshots a dashboard (Playwright and
Debian's headless shell, fpa.dashboards.browser) as the report user and mails the PNG to a list.
Superset's Celery beat asks every minute which schedules are due (reports.scheduler) and its
worker takes the screenshot and sends the mail (reports.execute); both run in the compose
profile only (superset-beat, superset-worker), as Celery needs Redis here.

Recipients are configuration (FPA_REPORT_CONTACTS, default config/report_contacts.yml: a
dashboard slug -> addresses), never code; `fpa superset sync` creates or updates one schedule per
dashboard listed (provision.py), by name, so a second sync changes nothing.
"""

import os
from dataclasses import dataclass

from fpa.dashboards import spec
from fpa.orchestration.common import contacts_from
from fpa.paths import PROJECT_ROOT

CONTACTS_VAR = "FPA_REPORT_CONTACTS"
DEFAULT_CONTACTS = PROJECT_ROOT / "config" / "report_contacts.yml"
# Monday 08:00 in the association's time: the week's figures before the Monday meeting. The
# variable moves it (e.g. `* * * * *` to see one arrive within a minute).
CRONTAB_VAR = "FPA_WEEKLY_REPORT_CRONTAB"
WEEKLY = "0 8 * * 1"
TIMEZONE = "Asia/Shanghai"
# Who the screenshot is taken as (ALERT_REPORTS_EXECUTORS in superset_config.py): a user of the
# leadership role made by the sync, with a password nobody is given. The mail shows what the
# leadership sees, whoever created or edits a schedule (an Admin's own view is never mailed).
REPORT_USER = "fpa_report"


@dataclass(frozen=True)
class WeeklyReport:
    name: str
    slug: str
    recipients: tuple[str, ...]
    crontab: str
    timezone: str = TIMEZONE

    @property
    def description(self) -> str:
        return f"{self.name}：每周一 08:00（北京时间）自动发送，数据为发送时已发布的最新数据。"


def report_name(dashboard: spec.Dashboard) -> str:
    return f"{dashboard.title}周报"


def weekly_reports() -> list[WeeklyReport]:
    """One report per dashboard the contacts file lists, in the spec's order."""
    to = contacts_from(CONTACTS_VAR, DEFAULT_CONTACTS)
    unknown = set(to) - {d.slug for d in spec.DASHBOARDS}
    if unknown:
        raise ValueError(f"{CONTACTS_VAR}: no dashboard {sorted(unknown)}")
    crontab = os.environ.get(CRONTAB_VAR) or WEEKLY
    return [
        WeeklyReport(report_name(d), d.slug, tuple(to[d.slug]), crontab)
        for d in spec.DASHBOARDS
        if to.get(d.slug)
    ]
