"""The monthly 统计通报 by mail (fpa_bulletin): the day after every city's report of the month
before was due (the 11th: the due day is a service level, fpa.settings), the bulletins of the
province and of each city as of the last day of that month are written into `bulletins/` beside
the warehouse (fpa.bulletin, from the published file alone) and mailed: the province's to the
leadership list, each city's to its own.

Recipients are configuration (FPA_BULLETIN_CONTACTS, default config/bulletin_contacts.yml: an
area code -> addresses), never code. What went out is kept in `bulletin_sent.json` beside the
state, written after each mail, so a retried run does not mail an area twice and a failed mail
is tried again. A bulletin that cannot be written (the warehouse does not reach the day yet, no
PDF renderer) fails the task, and the failure mails the engineers like the nightly's.
"""

from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path

from fpa import bulletin, reference
from fpa.clock import CST
from fpa.orchestration.common import (
    contacts_from,
    paths_from_env,
    reported,
    sent_record,
    write_sent_record,
)
from fpa.orchestration.feedback_mail import Send, smtp_configured, smtp_send
from fpa.paths import PROJECT_ROOT
from fpa.settings import service_levels

CONTACTS_VAR = "FPA_BULLETIN_CONTACTS"
DEFAULT_CONTACTS = PROJECT_ROOT / "config" / "bulletin_contacts.yml"
SENT = "bulletin_sent.json"
PROVINCE = "450000"
# 08:00 CST the day after the reports of the month before were due (the 11th)
SCHEDULE = f"0 8 {service_levels()['report_due_day'] + 1} * *"


def as_of_for(run_on: date) -> date:
    """The last day of the month before the run's."""
    return run_on.replace(day=1) - timedelta(days=1)


def areas() -> list[tuple[str, str]]:
    """(code, name): the province first, then the 14 cities."""
    return [(PROVINCE, "自治区"), *((c.code, c.name) for c in reference.cities())]


def sent(warehouse: Path) -> dict[str, list[str]]:
    return sent_record(warehouse, SENT)


def subject(name: str, as_of: date) -> str:
    return f"【统计通报】{name}计生协统计通报（截至{as_of.year}年{as_of.month}月{as_of.day}日）"


def body(name: str, as_of: date, files: list[Path]) -> str:
    listed = "".join(f"<li>{escape(p.name)}</li>" for p in files)
    return (
        f"<p>{escape(name)}计生协统计通报（截至{as_of.year}年{as_of.month}月{as_of.day}日）"
        f"见附件：</p><ul>{listed}</ul><p>Word 版可直接编辑引用；数字均由数据仓库计算，"
        "无需手工录入。</p><p>— 广西计生协数据仓库（自动发送，请勿直接回复）</p>"
    )


def deliver(warehouse: Path, as_of: date, send: Send | None) -> dict[str, str]:
    """Write every area's bulletin; mail each to its list (send None: write only). Returns area
    code -> written, mailed, already_mailed or no_contact. Raises when a bulletin cannot be
    written whole (no PDF), after writing the others."""
    out = warehouse.parent / "bulletins"
    to = contacts_from(CONTACTS_VAR, DEFAULT_CONTACTS)
    record = sent(warehouse)
    done: dict[str, str] = {}
    failed: list[str] = []
    for code, name in areas():
        written = bulletin.write(warehouse, as_of, code, out)
        if written.pdf_error:
            failed.append(f"{name}: {written.pdf_error}")
            continue
        if send is None:
            done[code] = "written"
        elif as_of.isoformat() in record.get(code, []):
            done[code] = "already_mailed"
        elif not to.get(code):
            done[code] = "no_contact"
        else:
            files = [p for p in written.paths if p.suffix in (".pdf", ".docx")]
            send(to[code], subject(name, as_of), body(name, as_of, files), [str(p) for p in files])
            record.setdefault(code, []).append(as_of.isoformat())
            write_sent_record(warehouse, SENT, record)
            done[code] = "mailed"
    if failed:
        raise RuntimeError("bulletin without its PDF: " + "; ".join(failed))
    return done


@reported
def mail_bulletins(logical_date: datetime | None = None) -> dict:
    """fpa_bulletin's task: the run's month (its logical date, in CST) gives the day."""
    from fpa.orchestration.alerts import SMTP_CONN_ID

    _, warehouse = paths_from_env()
    run_on = (logical_date or datetime.now(CST)).astimezone(CST).date()
    as_of = as_of_for(run_on)
    mailed = smtp_configured(SMTP_CONN_ID)
    if not mailed:
        print(f"no connection {SMTP_CONN_ID}: the bulletins are written, none mailed")
    try:
        done = deliver(warehouse, as_of, smtp_send(SMTP_CONN_ID) if mailed else None)
    except bulletin.BulletinRefused as e:
        from airflow.exceptions import AirflowFailException

        # the warehouse does not reach the day (a late feed) or lacks a mart: a retry in half
        # an hour would find the same; the failure mail says why, a rerun after the fix mails
        raise AirflowFailException(f"no bulletin as of {as_of}: {e}") from e
    for code, what in done.items():
        print(f"bulletin {code} as of {as_of}: {what}")
    return done
