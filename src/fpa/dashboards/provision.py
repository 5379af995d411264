"""`fpa superset sync`, inside Superset: run as `python -m fpa.dashboards.provision` with the job
as JSON on stdin (fpa.dashboards.sync starts it with Superset's environment).

In one process (each Superset command pays ~10 s of imports): bring the metadata database to
Superset's schema, sync the built-in roles, make sure the admin exists, import the bundle
(database, datasets, charts, dashboards — each overwritten by uuid, so a second sync changes
nothing and an edited chart is updated), then the association's roles, row-level security and
the given users. Prints a JSON summary on its last line.
"""

import json
import secrets
import sys
import uuid
from pathlib import Path

from fpa.dashboards import bundle, reports, spec
from fpa.reference import cities

LEADERSHIP = "fpa_leadership"
ENGINEER = "fpa_engineer"
CITY_PREFIX = "fpa_city_"
# the datasets a city viewer may read: each has city_code, which their filter restricts
CITY_DATASETS = [
    "insurance_area_year", "insurance_province_recent", "activities_named", "training_named",
    # 数据质量: their own reports, files, rows set aside and data issues
    "load_audit_nightly", "quarantine_named", "report_completeness_named", "data_issues_named",
    "reporting_rates_named",
    # 进度: the province's rows have no city_code, so the filter hides them as on the marts
    "insurance_progress_named", "insurance_progress_trend", "insurance_coverage_named",
    # the county map: their city's counties
    "insurance_county_map",
]  # fmt: skip
# The engineer has Gamma's permissions but these: no edits (Gamma can edit charts and dashboards
# of their own), and, as no one but Admin, no tagging of any object (seen or not), no dropping of
# cached results, no dashboard export (export_as_example puts the datasets' whole tables in it)
NO_WRITES = ("can_write", "can_delete", "can_import", "can_add", "can_edit")
NOT_FOR_ENGINEERS = {
    ("can_bulk_create", "Tag"),
    ("can_tag", "Chart"),
    ("can_tag", "Dashboard"),
    ("can_invalidate", "CacheRestApi"),
    ("can_export_as_example", "Dashboard"),
    ("can_export", "Dashboard"),
}
# Readers (leadership, the city viewers) get what viewing the dashboards needs and nothing else,
# named one by one rather than Gamma minus a list: a permission a new Superset adds to Gamma is
# not theirs until it is written here. Their data is only ever the chart-data API's, which
# applies the row-level filters: JSON for the charts and, with can_csv, the same query as CSV or
# Excel (tests/test_superset_security.py asks every export route of Superset 6.1 as 河池市).
READER_PERMISSIONS = (
    ("can_read", "Dashboard"),
    ("can_read", "Chart"),  # the charts' definitions and /api/v1/chart/data
    ("can_csv", "Superset"),  # the chart data as CSV / XLSX (the same filtered query)
    ("can_dashboard", "Superset"),
    ("can_dashboard_permalink", "Superset"),
    ("can_read", "DashboardPermalinkRestApi"),
    ("can_read", "DashboardFilterStateRestApi"),
    ("can_share_dashboard", "Superset"),
    ("can_time_range", "Api"),
    ("can_read", "CssTemplate"),
    ("can_read", "Theme"),
    ("can_read", "AvailableDomains"),
    ("can_read", "CurrentUserRestApi"),
    ("can_read", "SecurityRestApi"),  # its CSRF token, for the filters' state
    ("can_get", "MenuApi"),
    ("can_log", "Superset"),
    ("can_language_pack", "Superset"),
    ("can_recent_activity", "Log"),
    ("can_userinfo", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
    ("menu_access", "Home"),
    ("menu_access", "Dashboards"),
)


def city_role(city_code: str) -> str:
    return f"{CITY_PREFIX}{city_code}"


def _contents_for(kind: str, files: dict[str, str]) -> dict[str, str]:
    """The importer checks metadata.yaml's type against its own model."""
    out = dict(files)
    out["metadata.yaml"] = (
        f"version: {bundle.VERSION}\ntype: {kind}\ntimestamp: '2026-01-01T00:00:00+00:00'\n"
    )
    return out


def main(job: dict) -> dict:
    from flask import g
    from flask_migrate import upgrade
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset.commands.chart.importers.v1 import ImportChartsCommand
        from superset.commands.dashboard.importers.v1 import ImportDashboardsCommand
        from superset.commands.database.importers.v1 import ImportDatabasesCommand
        from superset.commands.dataset.importers.v1 import ImportDatasetsCommand
        from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable
        from superset.models.core import Database
        from superset.utils.core import RowLevelSecurityFilterType

        from superset import appbuilder, db, security_manager

        sm = security_manager
        upgrade()
        # a new metadata database: Superset's own permissions and built-in roles first
        if sm.find_role("Gamma") is None or not sm.find_role("Gamma").permissions:
            appbuilder.add_permissions(update_perms=True)
            sm.sync_role_definitions()
            db.session.commit()

        admin = job["admin"]
        user = sm.find_user(username=admin["username"])
        if user is None:
            user = sm.add_user(
                admin["username"], "Admin", "User", f"{admin['username']}@fpa.local",
                sm.find_role("Admin"), password=admin["password"],
            )  # fmt: skip
            db.session.commit()
        g.user = user

        files = bundle.contents(Path(job["warehouse"]), Path(job["bundle"]))
        ImportDatabasesCommand(_contents_for("Database", files), overwrite=True).run()
        ImportDatasetsCommand(_contents_for("SqlaTable", files), overwrite=True).run()
        ImportChartsCommand(_contents_for("Slice", files), overwrite=True).run()
        ImportDashboardsCommand(_contents_for("Dashboard", files), overwrite=True).run()
        db.session.commit()

        database = db.session.query(Database).filter_by(database_name=bundle.DATABASE).one()
        datasets = {
            t.table_name: t
            for t in db.session.query(SqlaTable).filter_by(database_id=database.id).all()
            if t.table_name in bundle.DATASETS
        }

        def pvm(permission: str, view: str):
            found = sm.find_permission_view_menu(permission, view)
            return found or sm.add_permission_view_menu(permission, view)

        def access(names) -> list:
            return [pvm("datasource_access", datasets[n].get_perm()) for n in names]

        gamma = [
            p for p in sm.find_role("Gamma").permissions
            if p.permission.name not in NO_WRITES
            and (p.permission.name, p.view_menu.name) not in NOT_FOR_ENGINEERS
        ]  # fmt: skip
        sql_lab = list(sm.find_role("sql_lab").permissions)
        # Superset's own permissions only: none is made here for a view Superset does not have
        reader = [
            found for p, v in READER_PERMISSIONS
            if (found := sm.find_permission_view_menu(p, v)) is not None
        ]  # fmt: skip

        def set_role(name: str, perms: list) -> None:
            role = sm.find_role(name) or sm.add_role(name)
            role.permissions = list(dict.fromkeys(perms))

        set_role(LEADERSHIP, reader + access(datasets))
        set_role(
            ENGINEER,
            gamma + sql_lab + access(datasets) + [pvm("database_access", database.perm)],
        )
        for city in cities():
            set_role(city_role(city.code), reader + access(CITY_DATASETS))
            name = f"fpa city {city.code}"
            rls = db.session.query(RowLevelSecurityFilter).filter_by(name=name).one_or_none()
            if rls is None:
                rls = RowLevelSecurityFilter(name=name)
                db.session.add(rls)
            rls.description = f"{city.name}：只看本市的行"
            rls.filter_type = RowLevelSecurityFilterType.REGULAR.value
            rls.group_key = "city"
            rls.clause = f"city_code = '{city.code}'"
            rls.tables = [datasets[n] for n in CITY_DATASETS]
            rls.roles = [sm.find_role(city_role(city.code))]
        db.session.commit()

        for u in job.get("users", []):
            role = sm.find_role(u["role"])
            found = sm.find_user(username=u["username"])
            if found is None:
                sm.add_user(
                    u["username"], u.get("first_name", u["username"]), u.get("last_name", "-"),
                    f"{u['username']}@fpa.local", role, password=u["password"],
                )  # fmt: skip
            else:
                found.roles = [role]
                sm.reset_password(found.id, u["password"])
        db.session.commit()

        from superset.models.dashboard import Dashboard
        from superset.models.slice import Slice

        weekly = _weekly_reports(sm, db, user)
        db.session.commit()

        return {
            "database": database.id,
            "datasets": {n: t.id for n, t in datasets.items()},
            "charts": {
                c.key: s.id
                for c in bundle.all_charts()
                for s in db.session.query(Slice).filter_by(
                    uuid=uuid.UUID(bundle.uid("chart", c.key))
                )
            },
            "dashboards": {
                d.slug: b.id
                for d in spec.DASHBOARDS
                for b in db.session.query(Dashboard).filter_by(slug=d.slug)
            },
            "reports": weekly,
        }


def _weekly_reports(sm, db, owner) -> dict[str, int]:
    """The report user (leadership's role, a password nobody is given: Superset's reports log it
    in with a session cookie of their own), and one schedule per dashboard of the contacts file,
    found by name: created, or updated in place, so a second sync changes nothing. A dashboard
    taken off the file keeps its schedule, inactive (its execution log stays readable).
    Returns name -> schedule id of the active ones."""
    from superset.models.dashboard import Dashboard
    from superset.reports.models import (
        ReportDataFormat,
        ReportRecipients,
        ReportRecipientType,
        ReportSchedule,
        ReportScheduleType,
    )

    if sm.find_user(username=reports.REPORT_USER) is None:
        sm.add_user(
            reports.REPORT_USER, "周报", "截图", f"{reports.REPORT_USER}@fpa.local",
            sm.find_role(LEADERSHIP), password=secrets.token_urlsafe(32),
        )  # fmt: skip
    wanted = {r.name: r for r in reports.weekly_reports()}
    out = {}
    for d in spec.DASHBOARDS:
        name = reports.report_name(d)
        schedule = (
            db.session.query(ReportSchedule)
            .filter_by(name=name, type=ReportScheduleType.REPORT)
            .one_or_none()
        )
        report = wanted.get(name)
        if report is None:
            if schedule is not None:
                schedule.active = False
            continue
        dashboard = db.session.query(Dashboard).filter_by(slug=d.slug).one()
        if schedule is None:
            schedule = ReportSchedule(name=name, type=ReportScheduleType.REPORT, owners=[owner])
            db.session.add(schedule)
        schedule.description = report.description
        schedule.email_subject = report.name  # Superset's own adds the dashboard's title to it
        schedule.dashboard = dashboard
        schedule.chart = None
        schedule.crontab = report.crontab
        schedule.timezone = report.timezone
        schedule.report_format = ReportDataFormat.PNG
        schedule.active = True
        # the chart-data cache holds the file published last (each publication clears it): the
        # screenshot reads what a reader would, without recomputing every chart on DuckDB
        schedule.force_screenshot = False
        config = json.dumps({"target": ", ".join(report.recipients)})
        emails = [r for r in schedule.recipients if r.type == ReportRecipientType.EMAIL]
        if len(emails) == 1:
            emails[0].recipient_config_json = config
        else:
            schedule.recipients = [
                ReportRecipients(type=ReportRecipientType.EMAIL, recipient_config_json=config)
            ]
        db.session.flush()
        out[name] = schedule.id
    return out


def clear_data_cache() -> dict:
    """A night published: every cached chart result is of the previous file."""
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset.extensions import cache_manager

        cache_manager.data_cache.clear()
    return {"cleared": "data cache"}


if __name__ == "__main__":
    job = json.loads(sys.stdin.read())
    summary = clear_data_cache() if job.get("mode") == "clear_data_cache" else main(job)
    print(json.dumps(summary, ensure_ascii=False))
