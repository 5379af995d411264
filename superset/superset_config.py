"""Superset's configuration for fpa-warehouse (SUPERSET_CONFIG_PATH points here).

Everything a deployment changes comes from the environment; the defaults are the embedded demo:
SQLite metadata and a file cache under FPA_SUPERSET_HOME. The compose profile sets Postgres and
Redis through the same variables.
"""

import json as _json
import os
import secrets
from pathlib import Path

HOME = Path(os.environ.get("FPA_SUPERSET_HOME", Path.cwd() / "demo" / "superset")).resolve()
HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    # Sessions and the encrypted connection fields need a stable key: the environment's, or one
    # made once for this home (the demo) and kept beside its metadata.
    if key := os.environ.get("SUPERSET_SECRET_KEY"):
        return key
    path = HOME / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = os.environ.get(
    "SUPERSET_DATABASE_URI", f"sqlite:///{HOME / 'superset.db'}?check_same_thread=false"
)

# Leadership reads Chinese; English stays selectable for the engineers.
BABEL_DEFAULT_LOCALE = "zh"
LANGUAGES = {
    "zh": {"flag": "cn", "name": "简体中文"},
    "en": {"flag": "us", "name": "English"},
}

# A cache for chart data and metadata: Redis when the compose profile names one, else files.
_redis = os.environ.get("FPA_REDIS_URL")


def _cache(name: str, timeout: int) -> dict:
    # one folder (or key prefix) per cache, so the data cache can be cleared on its own when a
    # night publishes (fpa superset refresh) without logging anyone out of a filter state
    if _redis:
        base = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": _redis}
    else:
        base = {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(HOME / "cache" / name)}
    return {**base, "CACHE_KEY_PREFIX": f"fpa_{name}_", "CACHE_DEFAULT_TIMEOUT": timeout}


CACHE_CONFIG = _cache("meta", 86400)
# Chart data: kept until the next publication clears it (the fpa_superset_refresh DAG, on the
# warehouse asset), at most a day; a chart's freshness-in-hours is at most that old.
DATA_CACHE_CONFIG = _cache("data", 86400)
FILTER_STATE_CACHE_CONFIG = _cache("filter", 86400 * 30)
EXPLORE_FORM_DATA_CACHE_CONFIG = _cache("explore", 86400 * 7)

if _redis:
    # The compose profile's Superset worker (SQL Lab's asynchronous queries, reports, cache
    # warm-up) and beat (the reports' clock): Celery's queue and results on the same Redis, whose
    # cache keys all carry an fpa_ prefix. Without Redis (the embedded demo) no worker runs and
    # Superset's default stays.
    from datetime import timedelta as _timedelta

    from cachelib.redis import RedisCache as _RedisCache
    from celery.schedules import crontab as _crontab
    from redis import Redis as _Redis

    # reports.scheduler reads the minute beat meant from its task's expiry minus this
    CELERY_BEAT_SCHEDULER_EXPIRES = _timedelta(weeks=1)

    class CeleryConfig:
        broker_url = _redis
        result_backend = _redis
        imports = ("superset.sql_lab", "superset.tasks.scheduler", "superset.tasks.cache")
        worker_prefetch_multiplier = 1
        task_acks_late = False
        # every minute: which report schedules are due (fpa.dashboards.reports); at midnight the
        # execution logs older than a schedule's retention go
        beat_schedule = {
            "reports.scheduler": {
                "task": "reports.scheduler",
                "schedule": _crontab(minute="*", hour="*"),
                "options": {"expires": int(CELERY_BEAT_SCHEDULER_EXPIRES.total_seconds())},
            },
            "reports.prune_log": {
                "task": "reports.prune_log",
                "schedule": _crontab(minute=0, hour=0),
            },
        }

    CELERY_CONFIG = CeleryConfig
    RESULTS_BACKEND = _RedisCache(host=_Redis.from_url(_redis), key_prefix="fpa_results_")

# Per-request costs of Superset on DuckDB that even a cached chart pays (see fast_paths.py)
from fpa.dashboards import fast_paths as _fast_paths  # noqa: E402

_fast_paths.read_reserved_words_once()
CUSTOM_TEMPLATE_PROCESSORS = _fast_paths.template_processors()

FEATURE_FLAGS = {
    # the insurance big numbers pick the province's row when no city is chosen (Jinja filter)
    "ENABLE_TEMPLATE_PROCESSING": True,
    "DASHBOARD_RBAC": False,
    # the weekly report by mail (fpa.dashboards.reports) where a worker and beat run: the compose
    # profile; screenshots by Playwright (Selenium would need a driver binary besides)
    "ALERT_REPORTS": bool(_redis),
    "PLAYWRIGHT_REPORTS_AND_THUMBNAILS": bool(_redis),
}

# --- Reports by mail (the compose profile: superset-worker screenshots, superset-beat's clock).
# The browser: Debian's headless shell where Playwright looks (fpa.dashboards.browser). Playwright
# starts it without background networking, component updates or /dev/shm; these switches add
# what else would try the closed network or a GPU (Superset's default, --headless, Playwright
# gives anyway).
WEBDRIVER_OPTION_ARGS = ["--disable-gpu", "--disable-quic", "--disable-sync", "--no-first-run"]
# the worker opens the dashboards here (the web server, from inside the network) ...
WEBDRIVER_BASEURL = os.environ.get("FPA_SUPERSET_URL", "http://127.0.0.1:8088").rstrip("/") + "/"
# ... and the mail links where the readers open them (the TLS proxy's address)
WEBDRIVER_BASEURL_USER_FRIENDLY = (
    os.environ.get("FPA_SUPERSET_PUBLIC_URL") or WEBDRIVER_BASEURL
).rstrip("/") + "/"


def _log_in_the_browser(context, user):
    """WEBDRIVER_AUTH_FUNC: Superset's own (MachineAuthProvider) gives the session cookie the
    domain `host:port` of WEBDRIVER_BASEURL, which Chromium does not send to that host: the
    screenshot would be of the login page. The cookie for the URL instead."""
    from superset.utils.machine_auth import MachineAuthProvider

    context.clear_cookies()
    context.add_cookies(
        [
            {"name": name, "value": value, "url": WEBDRIVER_BASEURL, "httpOnly": True}
            for name, value in MachineAuthProvider.get_auth_cookies(user).items()
        ]
    )
    return context


WEBDRIVER_AUTH_FUNC = _log_in_the_browser
# A dashboard's screenshot waits until every chart is drawn (fpa.dashboards.drawn, from
# _harden): Superset's own wait let a blank page be mailed on a busy machine. Past this many
# seconds the report fails and says so; a chart's own query stops at SQLLAB_TIMEOUT before.
SCREENSHOT_DRAWN_WAIT = 180
# taken as the report user (leadership's role), whoever owns a schedule: what is mailed is what
# the leadership sees, never an Admin's view
from superset.tasks.types import FixedExecutor as _FixedExecutor  # noqa: E402

from fpa.dashboards.reports import REPORT_USER as _REPORT_USER  # noqa: E402

ALERT_REPORTS_EXECUTORS = [_FixedExecutor(_REPORT_USER)]
ALERT_REPORTS_NOTIFICATION_DRY_RUN = False
EMAIL_REPORTS_SUBJECT_PREFIX = "【计生协数据仓库】"
EMAIL_REPORTS_CTA = "在 Superset 中打开"
# The mail server (Superset's own settings; Airflow's mail goes through its smtp_default
# connection). FPA_SMTP_SECURITY: starttls (port 587), ssl (port 465) or none (a relay on the
# local network).
_smtp_security = os.environ.get("FPA_SMTP_SECURITY", "starttls").lower()
if _smtp_security not in ("starttls", "ssl", "none"):
    raise ValueError(f"FPA_SMTP_SECURITY={_smtp_security!r}: starttls, ssl or none")
SMTP_HOST = os.environ.get("FPA_SMTP_HOST", "localhost")
SMTP_PORT = int(os.environ.get("FPA_SMTP_PORT", "587"))
SMTP_STARTTLS = _smtp_security == "starttls"
SMTP_SSL = _smtp_security == "ssl"
SMTP_SSL_SERVER_AUTH = _smtp_security != "none"  # the server's certificate is checked
SMTP_USER = os.environ.get("FPA_SMTP_USER", "")
SMTP_PASSWORD = os.environ.get("FPA_SMTP_PASSWORD", "")  # empty with the user: no login
SMTP_MAIL_FROM = os.environ.get("FPA_SMTP_MAIL_FROM", "data@fpa.invalid")
if _redis:
    from fpa.dashboards.browser import place_headless_shell as _place_headless_shell

    _place_headless_shell(HOME / "playwright")

# Nothing leaves the machine: no example data, no thumbnails service, no telemetry.
SUPERSET_LOAD_EXAMPLES = False
THUMBNAILS = False
ENABLE_PROXY_FIX = False
SQLLAB_CTAS_NO_LIMIT = False
ROW_LIMIT = 50000
# The browser test and the demo run on plain http on loopback.
TALISMAN_ENABLED = os.environ.get("TALISMAN_ENABLED", "false").lower() == "true"
SESSION_COOKIE_SECURE = False
WTF_CSRF_ENABLED = True
# Chart data over the REST API with a bearer token (tests, the refresh DAG) needs no CSRF token.
WTF_CSRF_EXEMPT_LIST = [
    "superset.views.core.log",
    "superset.views.core.explore_json",
    "superset.charts.data.api.data",
    "superset.dashboards.api.cache_dashboard_screenshot",
]

# --- Logins: at most AUTH_RATE_LIMIT attempts per client address and user name, on the form
# (/login/) and on the REST API (/api/v1/security/login), and AUTH_RATE_LIMIT_PER_ADDRESS from one
# address whatever the names (Flask-Limiter as Superset ships it; _limit_the_logins below puts
# the limits where Superset 6.1 leaves them off). Counters in Redis when the compose profile names
# one (shared by the gunicorn workers), else in each worker's memory (the embedded demo: with 2
# workers, at most twice the limit). Nothing else is limited: leadership behind one office
# address loads dashboards of ~30 requests each.
RATELIMIT_ENABLED = True
RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or _redis or "memory://"
RATELIMIT_STRATEGY = "moving-window"
RATELIMIT_APPLICATION = None
RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True  # Redis away: each worker counts on its own
RATELIMIT_KEY_PREFIX = "fpa_limiter"
AUTH_RATE_LIMITED = True
AUTH_RATE_LIMIT = os.environ.get("FPA_AUTH_RATE_LIMIT", "5 per 40 second")
AUTH_RATE_LIMIT_PER_ADDRESS = os.environ.get("FPA_AUTH_RATE_LIMIT_PER_ADDRESS", "30 per minute")


def _login_key() -> str:
    """The client's address and the user name it tries: a user's own logins from a shared
    office address do not lock the others out; a guessed password is limited per account."""
    from flask import request
    from flask_limiter.util import get_remote_address

    body = request.get_json(silent=True) if request.is_json else None
    name = (body or {}).get("username") if isinstance(body, dict) else None
    name = name or request.form.get("username") or ""
    return f"{get_remote_address()}|{str(name).strip().lower()[:64]}"


RATELIMIT_KEY_FUNC = _login_key

# --- SQL Lab: a query is stopped after SQLLAB_TIMEOUT seconds (SQLLAB_ASYNC_TIME_LIMIT_SEC on a
# Celery worker). Superset's own timer is SIGALRM, which only works in a main thread (never in
# gunicorn's request threads) and cannot stop DuckDB inside a call anyway: _harden has DuckDB
# interrupt the statement (the connection's interrupt(), from a timer thread). Charts' queries
# get the same limit (theirs take milliseconds).
SQLLAB_TIMEOUT = int(os.environ.get("FPA_SQLLAB_TIMEOUT", "30"))
SQLLAB_ASYNC_TIME_LIMIT_SEC = int(os.environ.get("FPA_SQLLAB_ASYNC_TIME_LIMIT_SEC", "600"))
# the browser waits a little longer than the server's limit for the answer, the error included
SUPERSET_WEBSERVER_TIMEOUT = max(60, SQLLAB_TIMEOUT + 10)

# Who owns or edited a dashboard, chart or dataset (names, e-mails) is for Admin and the data
# engineers: for everyone else _harden empties those fields of the REST API's answers and refuses
# the user pickers (/api/v1/<resource>/related/…).
from fpa.dashboards.provision import ENGINEER as _ENGINEER  # noqa: E402

TRUSTED_ROLES = ("Admin", _ENGINEER)
_PEOPLE_FIELDS = {
    "owners": [],
    "changed_by": None,
    "created_by": None,
    "last_saved_by": None,
    "changed_by_name": "",
    "created_by_name": "",
}
_PEOPLE_LIST = ("/related/", "/distinct/")


def _without_people(value):
    if isinstance(value, dict):
        return {
            k: _PEOPLE_FIELDS[k] if k in _PEOPLE_FIELDS else _without_people(v)
            for k, v in value.items()
            if k != "email"
        }
    if isinstance(value, list):
        return [_without_people(v) for v in value]
    return value


def _is_trusted() -> bool:
    from superset import security_manager

    try:
        user = security_manager.current_user
    except Exception:  # noqa: BLE001 - no session and no verified token: nobody in particular
        user = None
    roles = {r.name for r in getattr(user, "roles", None) or []}
    return bool(roles & set(TRUSTED_ROLES))


def _hide_people(response):
    from flask import request

    path = request.path
    if (
        not path.startswith("/api/v1/")
        or path.startswith("/api/v1/me/")
        or path.rstrip("/").endswith("/data")
        or "/data/" in path
        or response.mimetype != "application/json"
        or response.is_streamed
        or _is_trusted()
    ):
        return response
    if any(part in path for part in _PEOPLE_LIST):
        response.set_data(_json.dumps({"message": "Forbidden"}))
        response.status_code = 403
        return response
    try:
        body = _json.loads(response.get_data())
    except ValueError:
        return response
    response.set_data(_json.dumps(_without_people(body), ensure_ascii=False))
    return response


def _interrupt_duckdb_after_the_time_limit() -> None:
    import threading

    from superset.db_engine_specs.duckdb import DuckDBEngineSpec
    from superset.errors import ErrorLevel, SupersetErrorType
    from superset.exceptions import SupersetTimeoutException

    if getattr(DuckDBEngineSpec, "_fpa_time_limit", False):
        return
    execute = DuckDBEngineSpec.execute.__func__

    def limit() -> int:
        try:
            from celery import current_task

            if current_task and not current_task.request.called_directly:
                return SQLLAB_ASYNC_TIME_LIMIT_SEC  # SQL Lab's asynchronous mode, on a worker
        except Exception:  # noqa: BLE001, S110 - no Celery: the web server's limit
            pass
        return SQLLAB_TIMEOUT

    def timed_execute(cls, cursor, query, database, **kwargs):
        from fpa.dashboards.held_instance import refuse_what_changes_the_instance

        # first, what would change the DuckDB instance every query of the process shares
        refuse_what_changes_the_instance(cursor, query)
        seconds = limit()
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            cursor.interrupt()

        timer = threading.Timer(seconds, stop)
        timer.daemon = True
        timer.start()
        try:
            return execute(cls, cursor, query, database, **kwargs)
        except Exception as ex:
            if stopped.is_set():
                raise SupersetTimeoutException(
                    error_type=SupersetErrorType.SQLLAB_TIMEOUT_ERROR,
                    message=f"The query exceeded the {seconds} seconds timeout and was stopped.",
                    level=ErrorLevel.ERROR,
                    extra={"timeout": seconds},
                ) from ex
            raise
        finally:
            timer.cancel()

    DuckDBEngineSpec.execute = classmethod(timed_execute)
    DuckDBEngineSpec._fpa_time_limit = True


# Every DuckDB connection Superset opens (the warehouse's, bundle.py: read-only, no external
# access, no temporary folder) then has the local file system disabled, which leaves DuckDB the
# file already open and nothing else (without it, COPY … TO could still write the file's .wal
# siblings), and its configuration locked: no SET, PRAGMA or RESET of memory_limit, threads, the
# file systems or anything else. Connections open at the same time in a process share one DuckDB
# instance (DuckDB's instance cache; and each process holds one open between queries:
# fpa.dashboards.held_instance), whose settings another may have locked already: what
# counts is that the instance is so when the query runs; a connection it is not so on is not
# used.
DUCKDB_LOCKDOWN = (
    "SET disabled_filesystems = 'LocalFileSystem'",
    "SET lock_configuration = true",
)


def _lock_down(dbapi_connection, _record) -> None:
    import duckdb
    import duckdb_engine

    from fpa.dashboards import held_instance

    if not isinstance(dbapi_connection, duckdb_engine.ConnectionWrapper):
        return
    cursor = dbapi_connection.cursor()
    for statement in DUCKDB_LOCKDOWN:
        try:
            cursor.execute(statement)
        except duckdb.InvalidInputException:  # locked already, by a connection beside it
            pass
    # checked (~1 ms): locked, and not even the open file is to be found through the file system
    cursor.execute("SELECT current_setting('lock_configuration')")
    (locked,) = cursor.fetchone()
    path = held_instance.database_path(cursor)
    try:
        cursor.execute("SELECT count(*) FROM glob(?)", (path,))
        disabled = False
    except duckdb.PermissionException:
        disabled = True
    if not (locked and disabled):
        raise RuntimeError(f"DuckDB not locked down ({locked=}, {disabled=}): not used")


def _lock_down_duckdb_connections() -> None:
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    if not event.contains(Pool, "connect", _lock_down):
        event.listen(Pool, "connect", _lock_down)


def _limit_the_logins(app) -> None:
    """Superset 6.1 puts AUTH_RATE_LIMIT on its SupersetAuthView, which only answers GET
    /login/; the form's POST goes to FAB's AuthDBView (sm.auth_view), and the REST API's to
    SecurityApi, neither limited. Both get it here, and the per-address limit."""
    from flask_appbuilder.security.api import SecurityApi
    from flask_limiter.util import get_remote_address
    from superset.extensions import appbuilder

    if not (app.config["RATELIMIT_ENABLED"] and app.config["AUTH_RATE_LIMITED"]):
        return
    limiter = appbuilder.sm.limiter
    for view in appbuilder.baseviews:
        if isinstance(view, SecurityApi) or view is appbuilder.sm.auth_view:
            limiter.limit(AUTH_RATE_LIMIT, methods=["POST"])(view.blueprint)
            limiter.limit(
                AUTH_RATE_LIMIT_PER_ADDRESS, methods=["POST"], key_func=get_remote_address
            )(view.blueprint)


def _harden(app) -> None:
    """FLASK_APP_MUTATOR: runs in every process that makes Superset's app (gunicorn workers, the
    Celery worker, `fpa superset sync`)."""
    _lock_down_duckdb_connections()
    _interrupt_duckdb_after_the_time_limit()
    from fpa.dashboards import held_instance

    held_instance.install()
    if _redis:  # where reports run (the only screenshots: THUMBNAILS is off)
        from fpa.dashboards.drawn import wait_before_superset_screenshots

        wait_before_superset_screenshots(SCREENSHOT_DRAWN_WAIT)
    _limit_the_logins(app)
    app.after_request(_hide_people)


FLASK_APP_MUTATOR = _harden

if os.environ.get("FPA_SUPERSET_EVENT_LOG", "file") == "file":
    # Who looked at what, one JSON line per event in the Superset home's events.log, instead of
    # a row committed to the metadata database on every chart request: the embedded SQLite
    # metadata stays small and takes no write lock per reader (measured: ~5 ms of a cached
    # chart's ~110 ms; FPA_SUPERSET_EVENT_LOG=db keeps Superset's own action log).
    import logging as _logging

    from superset.utils.log import AbstractEventLogger

    _events = _logging.getLogger("fpa.superset.events")
    _events.propagate = False
    _events.addHandler(_logging.FileHandler(HOME / "events.log", encoding="utf-8"))
    _events.setLevel(_logging.INFO)

    class FileEventLogger(AbstractEventLogger):
        def log(self, user_id, action, dashboard_id, duration_ms, slice_id, referrer, *args, **kw):
            for record in kw.get("records", []):
                _events.info(
                    _json.dumps(
                        {
                            "user_id": user_id,
                            "action": action,
                            "dashboard_id": dashboard_id,
                            "slice_id": slice_id,
                            "duration_ms": duration_ms,
                            **{k: v for k, v in record.items() if k in ("path", "event_name")},
                        },
                        ensure_ascii=False,
                        default=str,
                    )
                )

    EVENT_LOGGER = FileEventLogger()
