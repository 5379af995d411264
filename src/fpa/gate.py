"""The quality gate: Great Expectations 1.x suites (expectations/suites.yml) run as one checkpoint
against the candidate and the state database, before anything is published.

A blocking failure stops publication; a warning is published and shown on the quality dashboard.
The results of every run are kept in the state database (audit.quality_results) and copied into
the candidate as marts.quality_results, so readers see the history, blocked runs included.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from string import Template

import duckdb
import yaml
from jinja2 import BytecodeCache

from fpa import warm
from fpa.paths import PROJECT_ROOT
from fpa.state import StatePaths

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SUITES_FILE = EXPECTATIONS_DIR / "suites.yml"
ALLOW_LIST = "allow_list.yml"  # in expectations/ and beside the warehouse
SEVERITIES = ("blocking", "warning")
ROWS_SHOWN = 20  # unexpected rows shown (and recorded) per failed expectation


RESULTS_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    run_id VARCHAR NOT NULL,
    run_at TIMESTAMPTZ NOT NULL,
    suite VARCHAR NOT NULL,
    expectation VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,     -- blocking | warning
    success BOOLEAN NOT NULL,
    observed VARCHAR               -- what was seen: a value, or the rows at fault
)
"""


@dataclass
class Check:
    suite: str
    expectation: str
    severity: str
    success: bool
    observed: str
    description: str = ""
    # the rows at fault, each value as `observed` writes it: what an allow-list entry matches
    rows: list[dict[str, str]] = field(default_factory=list)


@dataclass
class GateResult:
    run_id: str
    run_at: datetime
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def blocked(self) -> bool:
        return any(not c.success and c.severity == "blocking" for c in self.checks)

    def failed(self, severity: str) -> list[Check]:
        return [c for c in self.checks if not c.success and c.severity == severity]

    def verdict(self) -> str:
        head = (
            f"gate {'BLOCKED' if self.blocked else 'passed'}: {len(self.checks)} expectations, "
            f"{len(self.failed('blocking'))} blocking failed, "
            f"{len(self.failed('warning'))} warnings ({self.seconds:.1f} s)"
        )
        lines = [head]
        for c in self.failed("blocking") + self.failed("warning"):
            label = "BLOCKING" if c.severity == "blocking" else "warning"
            about = f" ({c.description})" if c.description else ""
            lines.append(f"  {label} {c.suite}.{c.expectation}{about}: {c.observed}")
        return "\n".join(lines)


def thresholds(path: Path = SUITES_FILE) -> dict[str, str]:
    """The gate's thresholds (service levels of the feeds included: the freshness alert reads
    them too)."""
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {k: str(v) for k, v in config.get("thresholds", {}).items()}


def load_suites(path: Path = SUITES_FILE) -> dict:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    limits = thresholds(path)
    for suite_name, suite in config["suites"].items():
        for e in suite["expectations"]:
            if e.get("severity") not in SEVERITIES:
                raise ValueError(
                    f"{path}: {suite_name}.{e.get('name')}: severity must be one of {SEVERITIES}"
                )
            if "unexpected_rows" in e:
                # a threshold missing from the config is an error, not an empty string
                e["unexpected_rows"] = Template(e["unexpected_rows"]).substitute(limits)
    return config["suites"]


def load_allow_list(warehouse: Path, today: date) -> list[dict]:
    entries = []
    for path in (EXPECTATIONS_DIR / ALLOW_LIST, warehouse.parent / ALLOW_LIST):
        if path.exists():
            for e in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
                missing = {"suite", "expectation", "who", "why", "until"} - set(e)
                if missing:
                    raise ValueError(f"{path}: an entry lacks {sorted(missing)}: {e}")
                if date.fromisoformat(str(e["until"])) >= today:
                    entries.append(e)
    return entries


def prepare(candidate: Path, warehouse: Path) -> None:
    """What the comparisons with the published file need, in the candidate's `gate` schema
    (dropped before publication): row counts of every table then and now, and the published
    city-year figures."""
    con = duckdb.connect(str(candidate))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS gate")
        now = _table_counts(con, "")
        before: dict[str, int] = {}
        con.execute(
            "CREATE OR REPLACE TABLE gate.previous_insurance_city_year AS "
            "SELECT * FROM marts.insurance_city_year LIMIT 0"
        )
        if warehouse.exists():
            con.execute(f"ATTACH '{warehouse}' AS published (READ_ONLY)")
            before = _table_counts(con, "published")
            if "marts.insurance_city_year" in before:
                con.execute(
                    "INSERT INTO gate.previous_insurance_city_year "
                    "SELECT * FROM published.marts.insurance_city_year"
                )
            con.execute("DETACH published")
        _published_text_view(con)
        names = sorted(set(now) | set(before))
        con.execute(
            "CREATE OR REPLACE TABLE gate.table_counts AS SELECT unnest(?) AS table_name, "
            "unnest(?)::BIGINT AS rows_published, unnest(?)::BIGINT AS rows_now",
            [names, [before.get(n) for n in names], [now.get(n) for n in names]],
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _published_text_view(con) -> None:
    """gate.published_text: every text value of every table readers will see, with where it
    sits, for the personal-data expectation."""
    columns = con.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() "
        "AND schema_name IN ('marts', 'ref', 'dashboards') "
        "AND data_type IN ('VARCHAR', 'JSON') ORDER BY ALL"
    ).fetchall()
    parts = [
        f"SELECT '{s}.{t}' AS table_name, '{c}' AS column_name, \"{c}\"::VARCHAR AS value "
        f"FROM {s}.{t}"
        for s, t, c in columns
    ]
    con.execute("CREATE OR REPLACE VIEW gate.published_text AS " + " UNION ALL ".join(parts))


def _table_counts(con, catalog: str) -> dict[str, int]:
    where = f"database_name = '{catalog}'" if catalog else "database_name = current_database()"
    tables = con.execute(
        f"SELECT schema_name, table_name FROM duckdb_tables() WHERE {where} "
        "AND schema_name = 'marts' AND table_name != 'quality_results'"
    ).fetchall()
    prefix = f"{catalog}." if catalog else ""
    return {
        f"{s}.{t}": con.execute(f"SELECT count(*) FROM {prefix}{s}.{t}").fetchall()[0][0]
        for s, t in tables
    }


def run_gate(
    candidate: Path,
    warehouse: Path,
    run_id: str,
    run_at: datetime,
    docs_dir: Path | None = None,
    child: subprocess.Popen | None = None,
) -> GateResult:
    """Judge the candidate; record the results in the state and in the candidate. `child`: a
    GX process started by warm_up()."""
    started = time.monotonic()
    if docs_dir is not None:  # the docs of this run only
        shutil.rmtree(docs_dir, ignore_errors=True)
    prepare(candidate, warehouse)
    suites = load_suites()
    result = GateResult(run_id, run_at)
    result.checks = _checkpoint_in_child(
        candidate, StatePaths(warehouse).db, suites, docs_dir, child
    )
    if docs_dir is not None:
        vendor_docs(docs_dir)
    _apply_allow_list(result, load_allow_list(warehouse, run_at.date()))
    result.seconds = time.monotonic() - started
    record(result, candidate, warehouse)
    return result


def warm_up() -> subprocess.Popen:
    """Start the GX process now, before dbt builds; it runs the job `run_gate` gives it."""
    return warm.start("fpa.gate", {"GX_ANALYTICS_ENABLED": "false"})


def _checkpoint_in_child(
    candidate: Path,
    state_db: Path,
    suites: dict,
    docs_dir: Path | None,
    child: subprocess.Popen | None = None,
) -> list[Check]:
    """GX runs in a process of its own: its engines keep DuckDB files open for the life of the
    process, and the candidate and the state are opened read-write after it."""
    child = child or warm_up()
    with tempfile.TemporaryDirectory(prefix="fpa-gate-") as tmp:
        out = Path(tmp) / "checks.json"
        job = {
            "candidate": str(candidate),
            "state_db": str(state_db),
            "suites": suites,
            "docs_dir": str(docs_dir) if docs_dir else None,
            "out": str(out),
        }
        log, _ = child.communicate(json.dumps(job, ensure_ascii=False))
        if child.returncode != 0 or not out.exists():
            tail = " / ".join(log.strip().splitlines()[-5:])
            raise GateError(f"the GX checkpoint did not run (exit {child.returncode}): {tail}")
        return [Check(**c) for c in json.loads(out.read_text(encoding="utf-8"))]


class GateError(RuntimeError):
    pass


def _checkpoint(candidate: Path, state_db: Path, suites: dict, docs_dir: Path | None) -> list:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.core.result_format import ResultFormat
    from great_expectations.expectations.metadata_types import FailureSeverity

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    sources = {}
    for name, db in (("candidate", candidate), ("state", state_db)):
        # read-only, and no ROLLBACK on returning a connection to the pool (DuckDB via
        # SQLAlchemy otherwise fails on it)
        sources[name] = context.data_sources.add_sql(
            name=name,
            connection_string=f"duckdb:///{db}",
            kwargs={"connect_args": {"read_only": True}, "pool_reset_on_return": None},
        )
    definitions, meta = [], {}
    for suite_name, spec in suites.items():
        schema, table = spec["table"].split(".")
        asset = sources[spec["datasource"]].add_table_asset(
            name=suite_name, table_name=table, schema_name=schema
        )
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
        for e in spec["expectations"]:
            severity = (
                FailureSeverity.CRITICAL if e["severity"] == "blocking" else FailureSeverity.WARNING
            )
            common = {"meta": {"name": e["name"]}, "severity": severity}
            if "unexpected_rows" in e:
                expectation = gx.expectations.UnexpectedRowsExpectation(
                    unexpected_rows_query=e["unexpected_rows"],
                    description=e.get("description"),
                    **common,
                )
            else:
                cls = getattr(gx.expectations, _camel(e["type"]))
                expectation = cls(**e.get("kwargs", {}), **common)
            suite.add_expectation(expectation)
            meta[(suite_name, e["name"])] = e
        definitions.append(
            context.validation_definitions.add(
                gx.ValidationDefinition(
                    name=suite_name,
                    data=asset.add_batch_definition_whole_table("whole"),
                    suite=suite,
                )
            )
        )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="nightly_gate",
            validation_definitions=definitions,
            result_format={"result_format": ResultFormat.COMPLETE},
        )
    )
    try:
        run = checkpoint.run()
    finally:
        for source in sources.values():
            source.get_engine().dispose()
    if docs_dir is not None:
        _build_docs(context, docs_dir)
    checks = []
    for validation in run.run_results.values():
        suite_name = validation.suite_name
        for r in validation.results:
            name = r.expectation_config.meta["name"]
            e = meta[(suite_name, name)]
            rows = [
                {k: _fmt(v) for k, v in row.items()}
                for row in ((r.result or {}).get("details") or {}).get("unexpected_rows") or []
            ]
            checks.append(
                Check(
                    suite_name,
                    name,
                    e["severity"],
                    bool(r.success),
                    _observed(r, rows),
                    e.get("description", ""),
                    rows,
                )
            )
    return checks


def _build_docs(context, docs_dir: Path) -> None:
    """The Data Docs of this run, built once after the checkpoint. GX's UpdateDataDocsAction
    rebuilt the whole site (index included) after each of the 16 validations, and every page
    render builds a fresh Jinja environment that compiles its templates again: 816 template
    compilations, ~80 % of the gate's time. One build, with the compiled templates shared
    between those environments, writes the same pages."""
    from great_expectations.render.view.view import DefaultJinjaView

    cache = _TemplateCodeCache()
    own_init = DefaultJinjaView.__init__

    def init_sharing_compiled_templates(self, *args, **kwargs):
        own_init(self, *args, **kwargs)
        self.env.bytecode_cache = cache

    context.add_data_docs_site(
        site_name="gate",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    DefaultJinjaView.__init__ = init_sharing_compiled_templates
    try:
        context.build_data_docs(site_names=["gate"])
    finally:
        DefaultJinjaView.__init__ = own_init


class _TemplateCodeCache(BytecodeCache):
    """Compiled templates kept in memory. Jinja keys each entry by the template's name and the
    checksum of its source, so an entry is only reused for exactly that template."""

    def __init__(self) -> None:
        self._codes: dict[tuple[str, str], object] = {}

    def load_bytecode(self, bucket) -> None:
        bucket.code = self._codes.get((bucket.key, bucket.checksum))

    def dump_bytecode(self, bucket) -> None:
        self._codes[(bucket.key, bucket.checksum)] = bucket.code


def vendor_docs(docs_dir: Path) -> None:
    """Point the Data Docs at copies of their CSS/JS (expectations/vendor/) instead of CDNs:
    offline, the pages would otherwise render empty."""
    vendor = EXPECTATIONS_DIR / "vendor"
    local = docs_dir / "static" / "vendor"
    shutil.copytree(vendor, local, dirs_exist_ok=True)
    mapping = json.loads((vendor / "vendor.json").read_text(encoding="utf-8"))
    logo = docs_dir / "static" / "images" / "logo-long.png"
    for page in docs_dir.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for url, path in mapping.items():
            html = html.replace(f'"{url}"', f'"{os.path.relpath(local / path, page.parent)}"')
        html = re.sub(
            r'"https://great-expectations-web-assets[^"]*logo-long\.png[^"]*"',
            f'"{os.path.relpath(logo, page.parent)}"',
            html,
        )
        # integrity/crossorigin make a browser refuse the scripts on a file:// page
        html = re.sub(r'\s(?:integrity|crossorigin)="[^"]*"', "", html)
        page.write_text(html, encoding="utf-8")


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _observed(r, rows: list[dict[str, str]]) -> str:
    """What the expectation saw, readable: the rows at fault as `column=value` pairs."""
    res = r.result or {}
    info = r.exception_info or {}
    # one dict, or one per metric
    errors = [info] if "raised_exception" in info else list(info.values())
    messages = {e.get("exception_message") for e in errors if e.get("raised_exception")}
    if messages:
        return "error: " + "; ".join(sorted(str(m) for m in messages))
    if (res.get("details") or {}).get("unexpected_rows") is not None:
        shown = "; ".join(
            ", ".join(f"{k}={v}" for k, v in row.items()) for row in rows[:ROWS_SHOWN]
        )
        more = f" (+{len(rows) - ROWS_SHOWN} more)" if len(rows) > ROWS_SHOWN else ""
        return f"{len(rows)} row(s): {shown}{more}" if rows else "0 rows"
    if "unexpected_count" in res:
        sample = res.get("partial_unexpected_list") or []
        return f"{res['unexpected_count']} unexpected of {res.get('element_count')}" + (
            f", e.g. {sample[:5]}" if sample else ""
        )
    return json.dumps(res.get("observed_value"), ensure_ascii=False, default=str)


def _fmt(v) -> str:
    if isinstance(v, float | Decimal):
        return f"{v:,}"
    return str(v)


def _apply_allow_list(result: GateResult, entries: list[dict]) -> None:
    for c in result.checks:
        if c.success:
            continue
        for e in entries:
            if e["suite"] != c.suite or e["expectation"] != c.expectation:
                continue
            if not e.get("rows") or _all_rows_allowed(c.rows, e["rows"]):
                c.success = True
                c.observed = f"allowed by {e['who']} until {e['until']} ({e['why']}): {c.observed}"
                break


def _all_rows_allowed(rows: list[dict[str, str]], allowed: list[dict]) -> bool:
    """Each row at fault — all of them, not only those shown — matches one allowed row (every
    key of the allowed row equal)."""
    return bool(rows) and all(
        any(all(row.get(k) == _fmt(v) for k, v in a.items()) for a in allowed) for row in rows
    )


def record(result: GateResult, candidate: Path, warehouse: Path) -> None:
    """This run's results into the state (history) and the candidate (history + this run)."""
    rows = [
        (result.run_id, result.run_at, c.suite, c.expectation, c.severity, c.success, c.observed)
        for c in result.checks
    ]
    columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[]] * 7
    insert = "INSERT INTO {table} SELECT " + ", ".join(["unnest(?)"] * 7)
    with duckdb.connect(str(StatePaths(warehouse).db)) as state:
        state.execute(RESULTS_DDL.format(table="audit.quality_results"))
        state.execute("DELETE FROM audit.quality_results WHERE run_id = ?", [result.run_id])
        if rows:
            state.execute(insert.format(table="audit.quality_results"), columns)
        state.execute("CHECKPOINT")
    with duckdb.connect(str(candidate)) as con:
        con.execute(f"ATTACH '{StatePaths(warehouse).db}' AS state (READ_ONLY)")
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute("DROP TABLE IF EXISTS marts.quality_results")
        con.execute(RESULTS_DDL.format(table="marts.quality_results"))
        con.execute(
            "INSERT INTO marts.quality_results SELECT * FROM state.audit.quality_results "
            "ORDER BY run_at, suite, expectation"
        )
        # the 数据质量 dashboard's table of this run's checks (a table, not a query over the
        # history: see dbt/models/dashboards)
        con.execute("CREATE SCHEMA IF NOT EXISTS dashboards")
        con.execute(
            "CREATE OR REPLACE TABLE dashboards.quality_latest AS "
            "SELECT * FROM marts.quality_results WHERE run_id = ? ORDER BY suite, expectation",
            [result.run_id],
        )
        con.execute("DETACH state")
        con.execute("CHECKPOINT")


if __name__ == "__main__":  # the child of warm_up: import GX first, then wait for the job
    import great_expectations  # noqa: F401

    spec = json.loads(sys.stdin.read())
    found = _checkpoint(
        Path(spec["candidate"]),
        Path(spec["state_db"]),
        spec["suites"],
        Path(spec["docs_dir"]) if spec["docs_dir"] else None,
    )
    Path(spec["out"]).write_text(
        json.dumps([asdict(c) for c in found], ensure_ascii=False), encoding="utf-8"
    )
