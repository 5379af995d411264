"""The 数据问题清单 by mail: after a published night, each provider (a city's association, the
insurer) whose open issues changed since its last mail gets its workbook (fpa.feedback); a
provider whose issues did not change gets nothing, and one whose last issue was resolved gets a
short mail saying so, without a workbook.

"Changed" is the set of open issue_ids (stable night after night, marts.data_issues): what was
mailed is kept per provider in `feedback_sent.json` beside the state, written after each mail
that went out, so a mail that failed is tried again on the next night. Recipients are
configuration (FPA_FEEDBACK_CONTACTS, default config/feedback_contacts.yml), never code. The
mail says how many issues and of which kind; every value of a row is in the attachment only,
masked like the rest.
"""

from collections.abc import Callable
from datetime import date, datetime
from html import escape
from pathlib import Path

from fpa import feedback
from fpa.clock import CST
from fpa.orchestration.common import (
    contacts_from,
    paths_from_env,
    reported,
    sent_record,
    write_sent_record,
)
from fpa.paths import PROJECT_ROOT

CONTACTS_VAR = "FPA_FEEDBACK_CONTACTS"
DEFAULT_CONTACTS = PROJECT_ROOT / "config" / "feedback_contacts.yml"
SENT = "feedback_sent.json"
FROM = "fpa-warehouse@fpa.invalid"
# send(to, subject, html, files): the SMTP connection in Airflow, anything in a test
Send = Callable[[list[str], str, str, list[str]], None]


def contacts() -> dict[str, list[str]]:
    return contacts_from(CONTACTS_VAR, DEFAULT_CONTACTS)


def sent(warehouse: Path) -> dict[str, list[str]]:
    return sent_record(warehouse, SENT)


def _record(warehouse: Path, record: dict[str, list[str]]) -> None:
    write_sent_record(warehouse, SENT, record)


def subject(f: feedback.Feedback, on: date, new: int, resolved: int) -> str:
    day = f"{on.year}年{on.month}月{on.day}日"
    if not f.issues:
        return f"【数据问题清单】{f.name}：原有问题已全部解决（{day}）"
    return (
        f"【数据问题清单】{f.name}：未解决{len(f.issues)}个，新增{new}个，已解决{resolved}个"
        f"（{day}）"
    )


def body(f: feedback.Feedback, new: int, resolved: int) -> str:
    who = escape(f"{f.name}计生协" if f.provider != feedback.INSURER else f.name)
    if not f.issues:
        return (
            f"<p>{who}：</p><p>上次通知的{resolved}个数据问题均已解决，目前没有未解决的问题。"
            "谢谢！</p><p>— 广西计生协数据仓库（自动发送，请勿直接回复）</p>"
        )
    kinds = "".join(f"<li>{escape(feedback.KINDS[k])}：{n}个</li>" for k, n in f.by_kind().items())
    rates = ""
    if f.rates and f.rates["expected"]:
        r = f.rates
        rates = (
            f"<p>{r['year']}年月报：应报{r['expected']}份，实报{r['received']}份，"
            f"按时{r['on_time']}份（报送率{r['rate']:.1%}，及时率{r['rate_on_time']:.1%}）。</p>"
        )
    return (
        f"<p>{who}：</p><p>贵单位报送的数据目前有{len(f.issues)}个问题尚未解决"
        f"（较上次通知新增{new}个，已解决{resolved}个）：</p><ul>{kinds}</ul>{rates}"
        "<p>每个问题所在的文件、行、列，原始数据（个人信息已遮盖）和处理办法见附件"
        f"《{escape(f.path.name)}》。更正后重新报送即可，问题解决后会自动从清单中移除。</p>"
        "<p>— 广西计生协数据仓库（自动发送，请勿直接回复）</p>"
    )


def deliver(warehouse: Path, send: Send, on: date | None = None) -> dict[str, str]:
    """Mail each provider whose open issues changed since its last mail; returns provider ->
    what was done (mailed, resolved, unchanged, no_contact)."""
    on = on or datetime.now(CST).date()
    found = {f.provider: f for f in feedback.write(warehouse, warehouse.parent / "feedback", on=on)}
    record, to = sent(warehouse), contacts()
    names = feedback.providers()
    done: dict[str, str] = {}
    for provider in sorted(set(found) | {p for p, ids in record.items() if ids}):
        f = found.get(provider) or feedback.Feedback(provider, names.get(provider, provider))
        before, now = set(record.get(provider, [])), set(f.issue_ids)
        if before == now:
            done[provider] = "unchanged"
            continue
        if not to.get(provider):
            done[provider] = "no_contact"
            continue
        new, resolved = len(now - before), len(before - now)
        send(
            to[provider],
            subject(f, on, new, resolved),
            body(f, new, resolved),
            [str(f.path)] if f.path else [],
        )
        record[provider] = sorted(now)
        _record(warehouse, record)
        done[provider] = "mailed" if now else "resolved"
    return done


def smtp_send(conn_id: str) -> Send:
    """Through Airflow's SMTP connection (the same as the failure and freshness mail)."""

    def send(to: list[str], subject: str, html: str, files: list[str]) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=conn_id) as hook:
            hook.send_email_smtp(
                to=to, subject=subject, html_content=html, from_email=FROM, files=files
            )

    return send


def smtp_configured(conn_id: str) -> bool:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


@reported
def mail_feedback() -> dict:
    """fpa_nightly's last task: runs after a publication and after a night that had nothing to
    build (an intraday run may have published since the last mail); not after a failure."""
    from fpa.orchestration.alerts import SMTP_CONN_ID

    _, warehouse = paths_from_env()
    if not warehouse.exists():
        print("nothing published yet: no feedback")
        return {}
    if not smtp_configured(SMTP_CONN_ID):
        # a deployment without mail (the demo, the scale-out profile before its connection is
        # added): the workbooks are written, nothing is recorded as mailed
        found = feedback.write(warehouse, warehouse.parent / "feedback")
        print(f"no connection {SMTP_CONN_ID}: {len(found)} workbook(s) written, none mailed")
        return {f.provider: "not_mailed" for f in found}
    done = deliver(warehouse, smtp_send(SMTP_CONN_ID))
    for provider, what in done.items():
        print(f"feedback {provider}: {what}")
    return done
