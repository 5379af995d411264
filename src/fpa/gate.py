"""The quality gate: Great Expectations 1.x suites (expectations/suites.yml) run as one checkpoint
against the candidate and the state database, before anything is published.

A blocking failure stops publication; a warning is published and shown on the quality dashboard.
The results of every run are kept in the state database (audit.quality_results) and copied into
the candidate as marts.quality_results, so readers see the history, blocked runs included.

A blocked night is never a dead end: the verdict names what blocks it (the expectation, its
table, what it saw, never personal data), the file behind it when the gate can tell (a row's
own file, or the files new since the last publication that feed the rows at fault) and the
command that gets past it: `fpa set-aside` of that file, or `fpa allow` of the rows (an entry
with who, why and until in the allow list beside the warehouse; the committed one in
expectations/ is read as well).
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from string import Template

import duckdb
import yaml
from jinja2 import BytecodeCache

from fpa import reference, scratch, warm
from fpa.clock import CST
from fpa.paths import PROJECT_ROOT, tighten, write_private
from fpa.settings import service_levels
from fpa.state import StatePaths

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SUITES_FILE = EXPECTATIONS_DIR / "suites.yml"
ALLOW_LIST = "allow_list.yml"  # in expectations/ and beside the warehouse
SEVERITIES = ("blocking", "warning")
ROWS_SHOWN = 20  # unexpected rows shown (and recorded) per failed expectation
FILES_NAMED = 3  # files behind a failure named (more: the gate cannot tell which one)
ALLOW_DAYS = 30  # the `until` the blocked message proposes
# the columns of a row at fault that say which figure it is (not what it measures): what an
# allow-list entry written by `fpa allow` matches on
ROW_KEYS = (
    "table_name",
    "column_name",
    "source",
    "file_name",
    "city_name",
    "city_code",
    "county_name",
    "county_code",
    "year",
    "month",
    "product_code",
)
ENTRY_FIELDS = ("suite", "expectation", "who", "why", "until")


# audit.quality_results and its copy marts.quality_results, which no dbt model describes: their
# columns, types and the labels the dashboards show (fpa.dashboards.bundle reads them here)
RESULT_COLUMNS = (
    ("run_id", "VARCHAR", "运行编号"),
    ("run_at", "TIMESTAMP WITH TIME ZONE", "运行时间"),
    ("suite", "VARCHAR", "检查集"),
    ("expectation", "VARCHAR", "检查项"),
    ("severity", "VARCHAR", "级别"),  # blocking | warning
    ("success", "BOOLEAN", "通过"),
    ("observed", "VARCHAR", "观察值"),  # what was seen: a value, or the rows at fault (or NULL)
)
RESULTS_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    + ", ".join(
        f"{name} {kind}" + ("" if name == "observed" else " NOT NULL")
        for name, kind, _ in RESULT_COLUMNS
    )
    + ")"
)


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
    table: str = ""  # the suite's table
    note: str = ""  # about the allow list (an entry that expired)
    files: list[str] = field(default_factory=list)  # the files behind a blocking failure
    files_why: str = ""  # how they were found


@dataclass
class Allowance:
    """An allow-list entry: the failure of `suite.expectation` (only on `rows` when given) is
    accepted by `who`, for `why`, up to and including `until`."""

    suite: str
    expectation: str
    who: str
    why: str
    until: date
    rows: list[dict] = field(default_factory=list)
    source: str = ""  # the file it was read from

    def matches(self, c: "Check") -> bool:
        if self.suite != c.suite or self.expectation != c.expectation:
            return False
        return not self.rows or _all_rows_allowed(c.rows, self.rows)


@dataclass
class AllowList:
    active: list[Allowance] = field(default_factory=list)
    expired: list[Allowance] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # entries not applied, and why


@dataclass
class GateResult:
    run_id: str
    run_at: datetime
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    allow_problems: list[str] = field(default_factory=list)

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
            on = f" on {c.table}" if c.table else ""
            lines.append(f"  {label} {c.suite}.{c.expectation}{on}{about}: {_line(c.observed)}")
            if c.note:
                lines.append(f"    {c.note}")
            if c.files:
                lines.append(f"    file(s) behind it ({c.files_why}): {', '.join(c.files)}")
            elif c.files_why:
                lines.append(f"    {c.files_why}")
        lines += [f"  allow list: {p}" for p in self.allow_problems]
        return "\n".join(lines)

    def way_out(self, warehouse: Path, today: date | None = None) -> list[str]:
        """The commands that get a blocked night past its gate: set the file behind a failure
        aside (its rows drop out of the next build), or allow the failure's rows; one command
        per file and per expectation. Empty when nothing blocks."""
        if not self.blocked:
            return []
        today = today or self.run_at.date()
        wh = shlex.quote(str(warehouse))
        aside: dict[str, str] = {}  # file -> why (the first expectation it is behind)
        allow, unnamed = [], []
        for c in self.failed("blocking"):
            name = f"{c.suite}.{c.expectation}"
            if len(c.files) == 1:
                aside.setdefault(c.files[0], f"blocked {name} on {self.run_at:%Y-%m-%d}")
            elif c.files or is_personal_data(c):
                which = f"one of {', '.join(c.files)}" if c.files else "the file it came from"
                unnamed.append(
                    f"  {name}: set {which} aside: "
                    f"fpa set-aside --warehouse {wh} --file FILE --why WHY"
                )
            if is_personal_data(c):
                continue  # personal data is never allowed out: its file goes
            allow.append(
                f"fpa allow --warehouse {wh} --expectation {name}"
                + "".join(f" --row {shlex.quote(r)}" for r in _row_args(c))
                + f" --who WHO --why WHY --until {today + timedelta(days=ALLOW_DAYS)}"
            )
        lines = []
        if aside:
            lines.append(
                "to publish without the file behind it (its rows drop out; its copy stays in "
                "landing):"
            )
            lines += [
                f"  fpa set-aside --warehouse {wh} --file {shlex.quote(f)} --why {shlex.quote(w)}"
                for f, w in aside.items()
            ]
        lines += unnamed
        if allow:
            lines.append(
                ("or, if" if aside else "if")
                + " the figures are right, allow them (WHO and WHY: yours; until: the last day):"
            )
            lines += [f"  {x}" for x in allow]
        return lines


def thresholds(path: Path = SUITES_FILE) -> dict[str, str]:
    """The gate's thresholds: the suites' own, and the feeds' service levels (fpa.settings, which
    dbt and the freshness alert read too)."""
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    own = {k: str(v) for k, v in config.get("thresholds", {}).items()}
    shared = {k: str(v) for k, v in service_levels().items()}
    twice = sorted(own.keys() & shared.keys())
    if twice:
        raise ValueError(f"{path}: {', '.join(twice)} is a service level (dbt_project.yml's vars)")
    return own | shared


def load_suites(path: Path = SUITES_FILE) -> dict:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    limits = thresholds(path)
    for suite_name, suite in config["suites"].items():
        for e in suite["expectations"]:
            if e.get("severity") not in SEVERITIES:
                raise ValueError(
                    f"{path}: {suite_name}.{e.get('name')}: severity must be one of {SEVERITIES}"
                )
            for key in ("unexpected_rows", "description"):
                if key in e:
                    # a threshold missing from the config is an error, not an empty string
                    e[key] = Template(e[key]).substitute(limits)
    return config["suites"]


def allow_list_files(warehouse: Path) -> list[Path]:
    """The committed allow list, and the operators' one beside the warehouse (`fpa allow`)."""
    return [EXPECTATIONS_DIR / ALLOW_LIST, warehouse.parent / ALLOW_LIST]


class AllowRefused(ValueError):
    """An allow-list entry that cannot be written: what is wrong, in a sentence."""


def parse_allowance(e, today: date, source: str = "", new: bool = False) -> Allowance:
    """An entry checked: a mapping with every field of ENTRY_FIELDS, `who` and `why` not
    blank, `until` a date (YYYY-MM-DD); a new entry's `until` not in the past. Raises
    AllowRefused saying what is wrong."""
    if not isinstance(e, dict):
        raise AllowRefused(f"an entry is a mapping of {', '.join(ENTRY_FIELDS)}, not {e!r}")
    missing = [k for k in ENTRY_FIELDS if e.get(k) in (None, "") or not str(e[k]).strip()]
    if missing:
        raise AllowRefused(
            f"the entry for {e.get('suite')}.{e.get('expectation')} lacks {', '.join(missing)}: "
            "an allowance says who accepted what, why, and until when"
        )
    try:
        until = e["until"] if isinstance(e["until"], date) else date.fromisoformat(str(e["until"]))
    except ValueError:
        raise AllowRefused(f"until must be a date YYYY-MM-DD, not {e['until']!r}") from None
    if new and until < today:
        raise AllowRefused(f"until {until} is in the past: an allowance ends on a day to come")
    if new and (str(e["who"]).strip() == "WHO" or str(e["why"]).strip() == "WHY"):
        raise AllowRefused("WHO and WHY are for you to fill in: your name and your reason")
    if str(e["suite"]) == PERSONAL_DATA_SUITE:
        # an allowance would publish the ID numbers themselves: the rows that hold them go,
        # with their file (`fpa set-aside`), never out
        raise AllowRefused(
            f"{e['suite']}.{e['expectation']}: personal data is never allowed out; set the file "
            "that holds it aside (fpa set-aside)"
        )
    rows = e.get("rows") or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) and r for r in rows):
        raise AllowRefused("rows must be a list of column: value mappings")
    return Allowance(
        str(e["suite"]),
        str(e["expectation"]),
        str(e["who"]).strip(),
        str(e["why"]).strip(),
        until,
        rows,
        source,
    )


def read_allow_list(warehouse: Path, today: date) -> AllowList:
    """Both allow lists. An entry that cannot be applied (a field missing, a date unreadable,
    a file that is not YAML) is not applied and said so in the verdict: a mistyped entry must
    not stop the night, nor allow anything."""
    out = AllowList()
    for path in allow_list_files(warehouse):
        if not path.exists():
            continue
        try:
            entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            out.problems.append(f"{path}: not read ({type(e).__name__}): none of it applied")
            continue
        if not isinstance(entries, list):
            out.problems.append(f"{path}: not a list of entries: none of it applied")
            continue
        for i, e in enumerate(entries, 1):
            try:
                a = parse_allowance(e, today, str(path))
            except AllowRefused as refused:
                out.problems.append(f"{path}, entry {i}: {refused}: not applied")
                continue
            (out.active if a.until >= today else out.expired).append(a)
    return out


def load_allow_list(warehouse: Path, today: date) -> list[Allowance]:
    """The entries that apply on `today`."""
    return read_allow_list(warehouse, today).active


def find_expectation(name: str, suites: dict | None = None) -> tuple[str, str]:
    """(suite, expectation) of NAME, given as `expectation` or `suite.expectation`."""
    suites = suites if suites is not None else load_suites()
    want_suite, _, want = name.rpartition(".")
    found = [
        (s, e["name"])
        for s, spec in suites.items()
        for e in spec["expectations"]
        if e["name"] == want and want_suite in ("", s)
    ]
    if not found:
        raise AllowRefused(
            f"no expectation {name!r} in {SUITES_FILE}: the blocked night's message names it "
            "as suite.expectation"
        )
    if len(found) > 1:
        raise AllowRefused(f"{name!r} names {len(found)} expectations: give suite.expectation")
    return found[0]


def allow(
    warehouse: Path,
    expectation: str,
    who: str,
    why: str,
    until: str | date,
    rows: list[dict[str, str]] | None = None,
    today: date | None = None,
) -> Allowance:
    """Add an entry to the allow list beside the warehouse (written whole, then renamed in):
    the next `fpa load` gate applies it. Who and why are scrubbed of ID and phone numbers: they
    are recorded in marts.quality_results, which readers see."""
    from fpa.personal import scrub

    today = today or datetime.now(CST).date()
    suite, name = find_expectation(expectation)
    entry = {
        "suite": suite,
        "expectation": name,
        "who": scrub(str(who or "").strip()),
        "why": scrub(str(why or "").strip()),
        "until": str(until),
    }
    if rows:
        entry["rows"] = [{str(k): str(v) for k, v in r.items()} for r in rows]
    allowance = parse_allowance(entry, today, new=True)
    entry["until"] = allowance.until.isoformat()
    path = warehouse.parent / ALLOW_LIST
    existing = []
    if path.exists():
        existing = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(existing, list):
            raise AllowRefused(f"{path} is not a list of entries: mend it by hand first")
    text = (
        "# Written by `fpa allow` (fpa.gate): failures of the quality gate an operator accepted,\n"
        "# read with expectations/allow_list.yml. An entry applies up to and including `until`.\n"
        + yaml.safe_dump(existing + [entry], allow_unicode=True, sort_keys=False)
    )
    write_private(path, text)
    return allowance


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


# the personal-data expectation's numbers are 11 characters or more (expectations/suites.yml)
SHORTEST_PERSONAL_NUMBER = 11
BIG_TABLE_ROWS = 100_000


def _published_text_view(con) -> None:
    """gate.published_text: every text value of every table readers will see, with where it
    sits, for the personal-data expectation. A column of a big table whose every value is
    shorter than the shortest number sought is left out (DuckDB's statistics of the column's
    stored segments bound its longest value): the codes, dates and labels of the to-date marts,
    most of the values at ten years."""
    columns = con.execute(
        "SELECT c.schema_name, c.table_name, c.column_name, t.estimated_size "
        "FROM duckdb_columns() AS c JOIN duckdb_tables() AS t USING (database_name, "
        "schema_name, table_name) WHERE c.database_name = current_database() "
        "AND c.schema_name IN ('marts', 'ref', 'dashboards') "
        "AND c.data_type IN ('VARCHAR', 'JSON') ORDER BY ALL"
    ).fetchall()
    longest: dict[tuple[str, str], dict[str, int | None]] = {}
    for s, t, _, rows in columns:
        if rows >= BIG_TABLE_ROWS and (s, t) not in longest:
            longest[(s, t)] = dict(
                con.execute(
                    # NULL where a segment has no such statistic: the column is kept
                    "SELECT column_name, CASE WHEN bool_and(stats['max_string_length'] "
                    "IS NOT NULL) THEN max(stats['max_string_length']::BIGINT) END "
                    "FROM pragma_storage_info(?) WHERE segment_type IN ('VARCHAR', 'JSON') "
                    "GROUP BY column_name",
                    [f"{s}.{t}"],
                ).fetchall()
            )
    parts = [
        f"SELECT '{s}.{t}' AS table_name, '{c}' AS column_name, \"{c}\"::VARCHAR AS value "
        f"FROM {s}.{t}"
        for s, t, c, _ in columns
        # no bound (a small table, a segment without the statistic): the column is read
        if (bound := longest.get((s, t), {}).get(c)) is None or bound >= SHORTEST_PERSONAL_NUMBER
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
    from fpa.personal import scrub

    for c in result.checks:  # recorded and published: a file name may hold a phone number
        c.observed = scrub(c.observed)
    if docs_dir is not None:
        vendor_docs(docs_dir)
    tables = {name: spec["table"] for name, spec in suites.items()}
    for c in result.checks:
        c.table = tables.get(c.suite, "")
    allowed = read_allow_list(warehouse, run_at.date())
    result.allow_problems = allowed.problems
    _apply_allow_list(result, allowed)
    _blame(result, candidate, warehouse, suites)
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
    with scratch.temporary("gate") as tmp:
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
    # An ephemeral context keeps nothing, yet writes its whole configuration out as YAML after
    # each data source, asset and suite added (35 times a night, 0.28 s of the gate's ~2 s)
    context._save_project_config = lambda: None
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
    rebuilt the whole site (index included) after each validation (one per suite), and every
    page render builds a fresh Jinja environment that compiles its templates again: hundreds of
    compilations, most of the gate's time. One build, with the compiled templates shared
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
    tighten(local, inside=True)  # copied with the checkout's modes (0644)
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


def _apply_allow_list(result: GateResult, entries: AllowList | list) -> None:
    from fpa.personal import scrub

    if isinstance(entries, list):
        entries = AllowList(active=list(entries))
    for c in result.checks:
        if c.success:
            continue
        for e in entries.active:
            if e.matches(c):
                c.success = True
                c.observed = (
                    f"allowed by {scrub(e.who)} until {e.until} ({scrub(e.why)}): {c.observed}"
                )
                break
        else:
            lapsed = [e for e in entries.expired if e.matches(c)]
            if lapsed:
                e = max(lapsed, key=lambda a: a.until)
                c.note = (
                    f"the allow-list entry of {scrub(e.who)} for it expired on {e.until} "
                    f"({e.source}): no longer applied"
                )


def _all_rows_allowed(rows: list[dict[str, str]], allowed: list[dict]) -> bool:
    """Each row at fault — all of them, not only those shown — matches one allowed row (every
    key of the allowed row equal)."""
    return bool(rows) and all(
        any(all(row.get(k) == _fmt(v) for k, v in a.items()) for a in allowed) for row in rows
    )


def _line(text: str) -> str:
    """One line of the verdict: a value with a line break in it (a file name, a reason)
    escaped."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


PERSONAL_DATA_SUITE = "personal_data"  # expectations/suites.yml: ID and phone numbers


def is_personal_data(c: Check) -> bool:
    return c.suite == PERSONAL_DATA_SUITE


def _row_args(c: Check) -> list[str]:
    """`--row` values of `fpa allow` for the rows at fault: their identifying columns
    (ROW_KEYS) as KEY=VALUE,...; none (the whole expectation) when the rows have none of them
    or are more than shown."""
    if not c.rows or len(c.rows) > ROWS_SHOWN:
        return []
    out = []
    for row in c.rows:
        keys = [k for k in ROW_KEYS if k in row and "," not in row[k] and "=" not in row[k]]
        if not keys:
            return []
        arg = ",".join(f"{k}={row[k]}" for k in keys)
        if arg not in out:
            out.append(arg)
    return out


def parse_row_arg(text: str) -> dict[str, str]:
    """`--row city_name=河池市,year=2024` as a mapping."""
    row = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise AllowRefused(f"--row takes COLUMN=VALUE,COLUMN=VALUE, not {text!r}")
        row[key.strip()] = value.strip()
    return row


def _blame(result: GateResult, candidate: Path, warehouse: Path, suites: dict) -> None:
    """For each blocking failure, the files behind it, when the gate can tell: the rows' own
    files (a row naming its file, its checksum, a policy or claim number); for a figure (a
    city's or county's year and product, a city's month), the files loaded since the last
    publication that hold rows of it; for personal data, the files of the rows that hold it
    (tables with a file_name). Never more than FILES_NAMED: more is no answer."""
    failed = result.failed("blocking")
    if not failed:
        return
    state_db = StatePaths(warehouse).db
    try:
        with duckdb.connect(str(state_db), read_only=True) as state:
            since = _last_publication(state)
            for c in failed:
                if is_personal_data(c):
                    files, why = _personal_data_files(c, candidate, suites), "the rows that hold it"
                else:
                    files, why = _files_of_rows(state, c), "named by the rows at fault"
                    if not files:
                        files = _new_files_of_figures(state, c, since)
                        why = "loaded since the last publication, with rows in these figures"
                if len(files) > FILES_NAMED:
                    c.files_why = f"{len(files)} files {why}: the gate cannot tell which one"
                elif files:
                    c.files, c.files_why = [_shown_name(state, f) for f in files], why
    except duckdb.Error as e:  # naming a file is a help, never a reason to fail the night
        for c in failed:
            c.files_why = c.files_why or f"the files behind it could not be looked up ({e})"


def _shown_name(state, file_name: str) -> str:
    """A file as the way out names it: by its name, or by its checksum's first 16 digits when
    the name itself holds an ID or phone number (fpa set-aside takes either)."""
    from fpa.personal import scrub

    if scrub(file_name) == file_name:
        return file_name
    row = state.execute(
        "SELECT file_sha256 FROM audit.load_audit WHERE file_name = ? "
        "ORDER BY processed_at DESC LIMIT 1",
        [file_name],
    ).fetchone()
    return row[0][:16] if row else scrub(file_name)


def _last_publication(state) -> datetime | None:
    exists = state.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'audit' "
        "AND table_name = 'publish_log'"
    ).fetchone()[0]
    if not exists:
        return None
    return state.execute(
        "SELECT max(logged_at) FROM audit.publish_log WHERE action = 'published'"
    ).fetchone()[0]


def _names(state, where: str, params: list) -> list[str]:
    return [
        r[0]
        for r in state.execute(
            f"SELECT DISTINCT file_name FROM audit.load_audit WHERE {where} ORDER BY 1", params
        ).fetchall()
    ]


def _files_of_rows(state, c: Check) -> list[str]:
    rows = c.rows
    names = sorted({r["file_name"] for r in rows if r.get("file_name")})
    if names:
        return names
    shas = sorted({r["file_sha256"] for r in rows if r.get("file_sha256")})
    if shas:
        return _names(
            state,
            "file_sha256 IN (SELECT unnest(?)) AND status IN ('loaded', 'superseded')",
            [shas],
        )
    for key, table in (("policy_no", "raw.insurer_policies"), ("claim_no", "raw.insurer_claims")):
        keys = sorted({r[key] for r in rows if r.get(key)})
        if keys:
            return _names(
                state,
                f"status = 'loaded' AND file_sha256 IN (SELECT file_sha256 FROM {table} "
                f"WHERE {key} IN (SELECT unnest(?)))",
                [keys],
            )
    return []


def _new_files_of_figures(state, c: Check, since: datetime | None) -> list[str]:
    """Files loaded after `since` with rows in the figures at fault: insurer files for a
    (city or county, year, product), reports for a (city, month)."""
    new = "status = 'loaded' AND processed_at > ?"
    since = since or datetime(1970, 1, 1, tzinfo=CST)
    counties = reference.counties()
    by_city = {}
    for k in counties:
        by_city.setdefault(k.city_name, []).append(k.code)
        by_city.setdefault(k.city_code, []).append(k.code)
    figures = []
    for r in c.rows:
        if "year" in r and "product_code" in r:
            if r.get("county_name"):
                codes = [k.code for k in counties if k.name == r["county_name"]]
            else:
                codes = by_city.get(r.get("city_name") or r.get("city_code") or "", [])
            figures += [(code, r["product_code"], r["year"]) for code in codes]
    if figures:
        cols = [list(x) for x in zip(*figures, strict=True)]
        return _names(
            state,
            f"{new} AND file_sha256 IN ("
            "WITH f AS (SELECT unnest(?) AS county_code, unnest(?) AS product_code, "
            "unnest(?)::INTEGER AS year) "
            "SELECT p.file_sha256 FROM raw.insurer_policies p JOIN f ON p.county_code = "
            "f.county_code AND p.product_code = f.product_code AND year(p.written_on) = f.year "
            "UNION SELECT k.file_sha256 FROM raw.insurer_claims k JOIN f ON k.county_code = "
            "f.county_code AND k.product_code = f.product_code AND "
            "year(coalesce(k.settled_on, k.reported_on, k.event_on)) = f.year)",
            [since, *cols],
        )
    months = []
    for r in c.rows:
        city = r.get("city_code") or next(
            (x.code for x in reference.cities() if x.name == r.get("city_name")), None
        )
        if city and r.get("month"):
            months.append((city, str(r["month"])[:10]))
    if months:
        cols = [list(x) for x in zip(*months, strict=True)]
        return _names(
            state,
            f"{new} AND file_sha256 IN ("
            "WITH f AS (SELECT unnest(?) AS city_code, unnest(?)::DATE AS month) "
            "SELECT r.file_sha256 FROM raw.reports r JOIN f USING (city_code, month))",
            [since, *cols],
        )
    return []


def _personal_data_files(c: Check, candidate: Path, suites: dict) -> list[str]:
    """The files whose rows hold what the personal-data expectation found: its own query run
    again over the flagged tables that name a file per row, the file's name carried in the
    table_name the query returns (so the pattern is the suite's, written once)."""
    spec = next(
        (e for e in suites.get(c.suite, {}).get("expectations", []) if e["name"] == c.expectation),
        {},
    )
    query = spec.get("unexpected_rows")
    flagged = sorted({(r.get("table_name"), r.get("column_name")) for r in c.rows})
    if not query or not flagged:
        return []
    with duckdb.connect(str(candidate), read_only=True) as con:
        named = {
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_columns() "
                "WHERE database_name = current_database() AND column_name = 'file_name'"
            ).fetchall()
        }
        parts = [
            f"SELECT '{t}' || chr(0) || coalesce(file_name, '') AS table_name, "
            f"'{col}' AS column_name, \"{col}\"::VARCHAR AS value FROM {t}"
            for t, col in flagged
            if t in named and re.fullmatch(r"[a-z_]+\.[a-z_0-9]+", t) and re.fullmatch(r"\w+", col)
        ]
        if not parts:
            return []
        try:
            cur = con.execute(query.format(batch="(" + " UNION ALL ".join(parts) + ")"))
        except (KeyError, IndexError, ValueError, duckdb.Error):
            return []
        columns = [d[0] for d in cur.description]
        if "table_name" not in columns:
            return []
        at = columns.index("table_name")
        return sorted(
            {row[at].split("\0", 1)[1] for row in cur.fetchall() if "\0" in row[at]} - {""}
        )


def record(result: GateResult, candidate: Path, warehouse: Path) -> None:
    """This run's results into the state (history) and the candidate (history + this run)."""
    rows = [
        (result.run_id, result.run_at, c.suite, c.expectation, c.severity, c.success, c.observed)
        for c in result.checks
    ]
    width = len(RESULT_COLUMNS)
    columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[]] * width
    insert = "INSERT INTO {table} SELECT " + ", ".join(["unnest(?)"] * width)
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
    if not warm.child_of_the_night():
        sys.exit(1)
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
    warm.exit_now(0)  # its engines opened the candidate and the state read-only
