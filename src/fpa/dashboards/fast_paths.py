"""Two costs Superset 6.1 pays on DuckDB for every chart request, even one its cache answers,
removed here (superset_config.py installs both; measured with cProfile on a cached chart of the
insurance dashboard):

1. duckdb_engine 0.17 asks DuckDB for its reserved words each time a SQLAlchemy dialect is made
   (`DuckDBIdentifierPreparer.__init__` runs a query on the default connection), and Superset
   makes a dialect for each template processor and query it builds: 6–7 per request, ~3 ms
   each. The words are fixed for a DuckDB version, so they are read once per process.
2. Superset runs every SQL fragment of a query (each metric, the chart's filter, a virtual
   dataset's SQL) through a new Jinja environment, compiling it each time (~3 ms for the
   dashboards' filters). A fragment without Jinja markup renders to itself, so it is returned
   as is; one with markup is compiled once per process and rendered in the request's own
   environment and context, as before. Installed through Superset's own hook,
   CUSTOM_TEMPLATE_PROCESSORS.
"""

from types import CodeType
from typing import Any

import duckdb

_MARKUP = ("{{", "{%", "{#")
# compiled templates by source: the charts' saved filters, a few dozen; bounded all the same
_COMPILED: dict[str, CodeType] = {}
_COMPILED_MAX = 1024


def read_reserved_words_once() -> None:
    import duckdb_engine
    from sqlalchemy.dialects.postgresql.base import PGIdentifierPreparer

    preparer = duckdb_engine.DuckDBIdentifierPreparer
    if getattr(preparer, "_fpa_words", None) is not None:
        return
    preparer._fpa_words = frozenset(
        word
        for (word,) in duckdb.connect()
        .execute("SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'")
        .fetchall()
    )

    def __init__(self, dialect: Any, **kwargs: Any) -> None:
        PGIdentifierPreparer.__init__(self, dialect, **kwargs)
        # an instance's own set: duckdb_engine's update() grew PostgreSQL's class-level one
        self.reserved_words = set(self.reserved_words) | preparer._fpa_words

    preparer.__init__ = __init__


def template_processors() -> dict[str, type]:
    """CUSTOM_TEMPLATE_PROCESSORS: DuckDB's Jinja processor, skipping fragments without markup."""
    from superset.jinja_context import JinjaTemplateProcessor, validate_template_context

    class DuckDBTemplateProcessor(JinjaTemplateProcessor):
        def process_template(self, sql: str, **kwargs: Any) -> str:
            if not any(mark in sql for mark in _MARKUP):
                return str(sql)
            try:
                code = _COMPILED.get(sql)
                if code is None:
                    code = self.env.compile(sql)
                    if len(_COMPILED) < _COMPILED_MAX:
                        _COMPILED[sql] = code
                # the code is the same for every SandboxedEnvironment Superset makes; bound to
                # this request's, it renders with this request's filters and macros
                template = self.env.template_class.from_code(
                    self.env, code, self.env.make_globals(None)
                )
                return template.render(
                    validate_template_context(self.engine, {**kwargs, **self._context})
                )
            except Exception:  # noqa: BLE001 - Superset's own path raises its own error for it
                return super().process_template(sql, **kwargs)

    return {"duckdb": DuckDBTemplateProcessor}
