"""Superset's configuration for fpa-warehouse (SUPERSET_CONFIG_PATH points here).

Everything a deployment changes comes from the environment; the defaults are the embedded demo:
SQLite metadata and a file cache under FPA_SUPERSET_HOME. The compose profile sets Postgres and
Redis through the same variables.
"""

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
    # warm-up): Celery's queue and results on the same Redis, whose cache keys all carry an
    # fpa_ prefix. Without Redis (the embedded demo) no worker runs and Superset's default stays.
    from cachelib.redis import RedisCache as _RedisCache
    from redis import Redis as _Redis

    class CeleryConfig:
        broker_url = _redis
        result_backend = _redis
        imports = ("superset.sql_lab", "superset.tasks.scheduler", "superset.tasks.cache")
        worker_prefetch_multiplier = 1
        task_acks_late = False

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
}

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
RATELIMIT_ENABLED = False

if os.environ.get("FPA_SUPERSET_EVENT_LOG", "file") == "file":
    # Who looked at what, one JSON line per event in the Superset home's events.log, instead of
    # a row committed to the metadata database on every chart request: the embedded SQLite
    # metadata stays small and takes no write lock per reader (measured: ~5 ms of a cached
    # chart's ~110 ms; FPA_SUPERSET_EVENT_LOG=db keeps Superset's own action log).
    import json as _json
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
