"""Build the dbt project into a candidate file (SHAPE.md: builds/<run id>.duckdb).

The candidate reads the state database attached read-only and holds the marts; it becomes the
published file only after the gate (fpa.publish). `fpa load` and Airflow's build task both call
`build`.
"""

import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from fpa import scratch, warm
from fpa.paths import DBT_DIR, PRIVATE_UMASK, private_dir, private_file
from fpa.state import StatePaths, hash_received

# the three paths dbt/profiles.yml reads
BUILD_FILE_VAR = "FPA_BUILD_FILE"
STATE_DB_VAR = "FPA_STATE_DB"
WORK_DB_VAR = "FPA_WORK_DB"
PARSE_FILE = "partial_parse.msgpack"  # dbt's saved parse, in its target folder
BUILDING = "building.duckdb"  # the candidate's name while dbt writes it, in the builds folder


@dataclass
class BuildResult:
    candidate: Path
    success: bool = False
    nodes: Counter = field(default_factory=Counter)  # (resource type, status) -> n
    failures: list[str] = field(default_factory=list)  # readable, one per failed node
    seconds: float = 0.0
    parsed_ahead: bool = False  # dbt's child parsed the project while the night read its files
    parse_cached: bool = False  # ... or read its parse from manifest_cache()
    history_built: float | None = None  # s into the build: the whole-history models were built
    selector: str = ""  # dbt/selectors.yml: what the build built

    def summary(self) -> str:
        kinds: dict[str, Counter] = {}
        for (kind, status), n in self.nodes.items():
            kinds.setdefault(kind, Counter())[status] += n
        parts = [
            f"{kind}s " + "/".join(f"{n} {s}" for s, n in sorted(c.items()))
            for kind, c in sorted(kinds.items())
        ]
        verdict = "ok" if self.success else f"FAILED ({len(self.failures)})"
        return f"dbt build {verdict} in {self.seconds:.1f} s: " + ", ".join(parts)


def builds_dir(warehouse: Path) -> Path:
    # absolute: dbt resolves a relative --target-path against the project, not the caller
    return warehouse.resolve().parent / "builds"


def work_db(warehouse: Path) -> Path:
    """The incremental models' database: kept from night to night (a candidate is new each
    night), in a folder of its own so that sweeping old candidates never touches it."""
    return builds_dir(warehouse) / "incremental" / "work.duckdb"


def dbt_env(candidate: Path, warehouse: Path, relative_to: Path | None = None) -> dict[str, str]:
    """What dbt/profiles.yml needs to build `candidate` from the state beside `warehouse`:
    absolute paths, or relative to `relative_to` (the folder dbt then runs in)."""
    private_dir(work_db(warehouse).parent)  # DuckDB creates the file only
    return _env(candidate, warehouse, relative_to)


def _env(candidate: Path, warehouse: Path, relative_to: Path | None) -> dict[str, str]:
    """dbt_env() without creating anything (the child parsing ahead: the night's first run may
    not have made the folders yet)."""
    paths = (candidate.resolve(), StatePaths(warehouse).db.resolve(), work_db(warehouse).resolve())
    if relative_to is not None:
        paths = tuple(os.path.relpath(p, relative_to) for p in paths)
    return {BUILD_FILE_VAR: str(paths[0]), STATE_DB_VAR: str(paths[1]), WORK_DB_VAR: str(paths[2])}


def project_files() -> list[Path]:
    """The dbt project's code: what a build is a function of, besides the state."""
    code = [DBT_DIR / "dbt_project.yml", DBT_DIR / "profiles.yml", DBT_DIR / "selectors.yml"]
    for folder in ("models", "macros", "tests", "seeds"):
        code += sorted((DBT_DIR / folder).rglob("*.*"))
    return code


def project_digest() -> str:
    h = hashlib.sha256()
    for f in project_files():
        h.update(f.relative_to(DBT_DIR).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def forget_increments(warehouse: Path) -> None:
    """Drop the incremental models' tables: the next build computes them in full. After a
    reprocess (the raw rows are new), a failed build (a table may be half updated) or a change
    of the dbt project (the tables were computed by other code)."""
    folder = work_db(warehouse).parent
    if folder.exists():
        shutil.rmtree(folder)


def last_build(warehouse: Path) -> Path:
    """A copy of the last successful build's candidate as dbt left it, which the next build
    starts from: the to-date marts are incremental by year in it (dbt/macros/insurance_to_date.sql)
    instead of written whole each night, and the seeds and views are not written again
    (dbt/selectors.yml). Beside the work database, so that it is kept, stamped and forgotten
    with it: its rows were computed from the work database's tables as they are."""
    return work_db(warehouse).with_name("last_build.duckdb")


def _stamp(warehouse: Path) -> Path:
    """The digest of the project version that built the work database."""
    return work_db(warehouse).with_name("project.sha256")


def _workbooks_stamp(warehouse: Path) -> Path:
    """The workbooks_digest() of the last build's inputs, beside its copy."""
    return work_db(warehouse).with_name("workbooks.sha256")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def workbooks_digest(warehouse: Path) -> str:
    """What the marts of the workbooks' sources (reports, targets, population) are a function
    of, besides the project: every file received that is not an insurer extract, with its
    status (a report superseded, a file set aside). Equal to the last build's, the night's
    build leaves those marts as that build wrote them (dbt/selectors.yml)."""
    h = hashlib.sha256()
    hash_received(h, StatePaths(warehouse).db, "source NOT LIKE 'insurer%'")
    return h.hexdigest()


def from_nothing(warehouse: Path, digest: str | None = None) -> bool:
    """Whether the next build computes its incremental models whole (no work database, or one
    built by another version of the project): the night then starts the gate's process only
    when the models that need more memory computed whole are built (on_history_built; dbt
    decides their limit by is_incremental(), macros/set_build_memory_limit.sql)."""
    stamp = _stamp(warehouse)
    return (
        not work_db(warehouse).exists()
        or not stamp.exists()
        or stamp.read_text() != (digest or project_digest())
    )


def _check_increments(warehouse: Path) -> tuple[Path, str]:
    """The work database, forgotten first if it was built by another version of the project.
    Returns the file that records the version and this version, to write after a successful
    build."""
    digest = project_digest()
    if from_nothing(warehouse, digest):
        forget_increments(warehouse)
    return _stamp(warehouse), digest


def dbt_args(command: str | list[str], warehouse: Path, into: Path | None = None) -> list[str]:
    """A dbt command line (`"build"`, `["source", "freshness"]`) for the warehouse's build;
    `into`: the folder of its target and logs, builds/dbt unless given."""
    target = into or builds_dir(warehouse) / "dbt"  # manifest, run_results, logs of the build
    return [
        *([command] if isinstance(command, str) else command),
        "--project-dir",
        str(DBT_DIR),
        "--profiles-dir",
        str(DBT_DIR),
        "--target-path",
        str(target / "target"),
        "--log-path",
        str(target / "logs"),
        "--log-level",
        "warn",
        "--log-level-file",
        "info",
        "--no-use-colors",
    ]


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")  # the one installed with this package
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def parse_cache() -> Path:
    """Where the last parse of this project is kept for warehouses that have none yet (a new
    warehouse, a test's): dbt validates a saved parse itself (its version, the profile, every
    file's checksum) and reparses what changed, so a stale one only costs the parse it saves."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    # one per checkout: a parse records the project's absolute paths
    checkout = hashlib.sha256(str(DBT_DIR.resolve()).encode()).hexdigest()[:16]
    return base / "fpa" / "dbt" / checkout / PARSE_FILE


MANIFESTS_KEPT = 4  # other versions' and environments' (a test's, a checkout between two)
MANIFEST_FORMAT = 2  # how _ManifestPickler writes one (1: dbt's own pickling, unreadable)


def manifest_cache(env: dict[str, str], project: str) -> Path:
    """Where the manifest of a parse of this project version under this profile environment is
    kept, pickled, beside the saved parse of parse_cache(): read back in 0.01 s where dbt took
    0.7-1.1 s to parse from its saved parse, which a night's build waited for. Named by what a
    parse is a function of: the project's code (project_digest), the profile's environment,
    dbt's own environment variables, and the versions of Python, dbt and its adapter."""
    from dbt.adapters.duckdb.__version__ import version as adapter
    from dbt.version import __version__ as dbt_version

    flags = {k: v for k, v in os.environ.items() if k.startswith("DBT_")}
    key = json.dumps(
        [MANIFEST_FORMAT, project, env, flags, sys.version, dbt_version, adapter], sort_keys=True
    )
    name = f"manifest-{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"
    return parse_cache().with_name(name)


def _cached_manifest(path: Path):
    """The manifest pickled at path, or None (absent, cut short, another version's). A pickle
    runs code as it loads: only a file of this user's, in a folder only it can write, is read."""
    try:
        with open(path, "rb") as f:
            if not all(_owned_alone(st) for st in (os.fstat(f.fileno()), path.parent.stat())):
                return None
            return pickle.load(f)
    except Exception:  # noqa: BLE001 - whatever is wrong with it, the project is parsed again
        return None


def _owned_alone(st: os.stat_result) -> bool:
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _keep_manifest(manifest, path: Path) -> None:
    """Pickle a parse's manifest to path, whole or not at all, its owner's only; the oldest of
    the others beyond MANIFESTS_KEPT removed. A cache that cannot be written only costs the next
    build its parse."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            _ManifestPickler(f, protocol=pickle.HIGHEST_PROTOCOL).dump(manifest)
        os.replace(partial, path)
        kept = sorted(path.parent.glob("manifest-*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-MANIFESTS_KEPT]:
            old.unlink(missing_ok=True)
    except Exception:  # noqa: BLE001 - see above
        pass


class _ManifestPickler(pickle.Pickler):
    """dbt's Manifest.__reduce_ex__ (1.11) passes its lookups one field off from where they
    belong (it leaves out `fixtures`): a manifest whose lookups were built, as a parse that
    changed files leaves them, loads with a lookup of one kind where another belongs, and the
    build fails to compile. Pickled here by its public fields; its lookups and caches are built
    again as they are used."""

    def reducer_override(self, obj):
        from dbt.contracts.graph.manifest import Manifest

        if type(obj) is not Manifest:
            return NotImplemented
        public = {f.name: getattr(obj, f.name) for f in fields(obj) if not f.name.startswith("_")}
        return _manifest_from_fields, (public,)


def _manifest_from_fields(public: dict):
    from dbt.contracts.graph.manifest import Manifest

    return Manifest(**public)


def _manifest(args: list[str], env: dict[str, str], project: str):
    """(the manifest of a parse of the project, whether it was read from manifest_cache), or
    (None, False) when the parse fails. A parse is kept only when the code did not change
    while dbt parsed it (it would then be of other code than its name says)."""
    cache = manifest_cache(env, project)
    cached = _cached_manifest(cache)
    if cached is not None:
        return cached, True
    manifest = _parse(args)
    if manifest is not None and project_digest() == project:
        _keep_manifest(manifest, cache)
    return manifest, False


def build(
    warehouse: Path,
    run_id: str,
    child: subprocess.Popen | None = None,
    on_history_built: Callable[[], None] | None = None,
) -> BuildResult:
    """`dbt build` (seeds, models and data tests) into builds/<run_id>.duckdb. `child`: a dbt
    process started by warm.start_dbt(). on_history_built: called once the models that need a
    build's larger memory (config meta whole_history_memory) are built, while dbt builds the
    rest (the night starts the gate's process then).

    The nightly selector (dbt/selectors.yml) leaves the unit tests and the seeds' own data
    tests to the test suite, as dbt advises: their inputs are the code's, so a night would only
    run the same checks of the code again.

    dbt runs in its own process: dbt-duckdb keeps its database open for the life of the
    process, and the gate must open the candidate read-only afterwards. The caller holds the
    state lock, so nothing writes the state database while dbt reads it."""
    # dbt builds under one fixed name, renamed after, and is given paths relative to the builds
    # folder it runs in: the profile is then the same from run to run and from warehouse to
    # warehouse, and dbt's partial parsing spares each night a full parse of the project
    folder = builds_dir(warehouse)
    workfile = folder / BUILDING
    candidate = folder / f"{run_id}.duckdb"
    private_dir(folder)  # candidates hold every mart and the dbt logs their SQL
    for stale in (workfile, workfile.with_name(workfile.name + ".wal"), candidate):
        stale.unlink(missing_ok=True)
    result = BuildResult(candidate)
    target = folder / "dbt" / "target"
    run_results = target / "run_results.json"
    for stale in (run_results, target / FAILED_NODES):
        stale.unlink(missing_ok=True)
    _seed_parse(target / PARSE_FILE)
    stamp, digest = _check_increments(warehouse)
    # unstamped while dbt writes: a night killed mid-build (its tables half merged) leaves no
    # stamp, and the next build computes them whole
    stamp.unlink(missing_ok=True)
    base = last_build(warehouse)
    workbooks = workbooks_digest(warehouse)
    selector, threads = "nightly", 1  # a build from nothing: one model of the history at a time
    if base.exists():  # taken, not copied: the build's success makes the next one
        os.replace(base, workfile)
        # a night's models read a day's rows, and most of a small node's time is dbt's own
        # work: two at once keep DuckDB busy while dbt prepares the next (7.1 -> 4.8 s of
        # nodes at ten years), within the one memory limit they share
        selector, threads = "nightly_from_last_build", 2
        if _read(_workbooks_stamp(warehouse)) == workbooks:
            selector = "nightly_no_new_workbooks"
    result.selector = selector
    _workbooks_stamp(warehouse).unlink(missing_ok=True)  # written again with a success
    args = ["build", "--selector", selector, "--threads", str(threads)]
    job = {
        # dbt's own manifest.json (written at a night's start and again at its end, 0.4 s
        # each) is not needed: the child writes run_results.json and the failed nodes' names
        "args": dbt_args([*args, "--no-write-json"], warehouse),
        "target": str(target),
        "env": dbt_env(workfile, warehouse, relative_to=folder),
        "cwd": str(folder),
        # the parse the child makes when it has none made ahead for this code
        "parse": dbt_args(PARSE, warehouse),
        "project": digest,  # a parse made ahead is used only for the code it parsed
    }
    started = time.monotonic()
    child = child or warm.start_dbt(warehouse)

    def history_built() -> None:
        result.history_built = time.monotonic() - started
        if on_history_built:
            on_history_built()

    log = _run_job(child, job, history_built)
    result.seconds = time.monotonic() - started
    result.parsed_ahead = PARSED_AHEAD in log
    result.parse_cached = PARSE_CACHED in log
    if workfile.exists():
        private_file(workfile)
        os.replace(workfile, candidate)
    if not run_results.exists():
        tail = log.strip().splitlines()[-5:]
        result.failures.append(f"dbt could not run (exit {child.returncode}): " + " / ".join(tail))
        forget_increments(warehouse)
        return result
    for r in json.loads(run_results.read_text(encoding="utf-8"))["results"]:
        kind = r["unique_id"].split(".")[0]
        result.nodes[(kind, r["status"])] += 1
        if r["status"] in ("error", "fail"):
            message = (r.get("message") or r["status"]).strip().splitlines()
            result.failures.append(
                f"{_node(target, r['unique_id'])}: {message[0] if message else r['status']}"
            )
    result.success = child.returncode == 0 and not result.failures
    if result.success:
        _keep_parse(target / PARSE_FILE)
        # before the gate writes its results into the candidate and the publication takes its
        # work schemas out (the views a night does not write again)
        _copy(candidate, base)
        stamp.write_text(digest)
        _workbooks_stamp(warehouse).write_text(workbooks)
    else:
        forget_increments(warehouse)
    return result


def _run_job(child: subprocess.Popen, job: dict, on_history_built) -> str:
    """Give the child its job and read its log as it comes, calling on_history_built at the
    child's line HISTORY_BUILT; the whole log."""
    try:
        child.stdin.write(json.dumps(job))
        child.stdin.close()
    except BrokenPipeError:  # the child died first: its log says why
        pass
    lines = []
    for line in child.stdout:
        lines.append(line)
        if on_history_built and line.rstrip("\n") == HISTORY_BUILT:
            on_history_built()
            on_history_built = None
    child.wait()
    return "".join(lines)


def _copy(file: Path, to: Path) -> None:
    """Whole or not at all. A copy that cannot be written (a full disk) only costs the next
    build its start: it then writes every mart, as after a change of the project."""
    partial = to.with_name(f"{to.name}.{os.getpid()}")
    try:
        shutil.copyfile(file, partial)
        os.replace(partial, to)
    except OSError:
        partial.unlink(missing_ok=True)


FAILED_NODES = "failed_nodes.json"  # beside run_results.json: {unique_id: readable name}


def _node(target: Path, unique_id: str) -> str:
    """A failed node as a reader can find it, as the child named it (_describe)."""
    try:
        names = json.loads((target / FAILED_NODES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        names = {}
    kind, _, rest = unique_id.partition(".")
    return names.get(unique_id) or f"{kind} {rest.partition('.')[2].split('.')[0] or unique_id}"


def _describe(node) -> str:
    """`model stg_x`, or for a data test what it tests (`test accepted_values of
    stg_insurer__policies.policy_status`): a test's unique id ends with a hash, and its name is
    cut where its arguments are not ASCII."""
    kind = node.unique_id.split(".")[0]
    if kind != "test":
        return f"{kind} {node.name}"
    meta = getattr(node, "test_metadata", None)
    test = (meta.name if meta else None) or node.name
    on = (getattr(node, "attached_node", None) or "").rpartition(".")[2]
    column = getattr(node, "column_name", None)
    where = f"{on}.{column}" if on and column else on
    return f"test {test} of {where}" if where else f"test {test}"


def _write_results(outcome, target: Path) -> None:
    """What `--no-write-json` leaves out and the night reads: dbt's run_results.json, written by
    dbt's own code, and the failed nodes' names."""
    result = outcome.result
    if result is None or not hasattr(result, "write"):
        return  # dbt stopped before running anything: no run_results, the night says so
    result.write(str(target / "run_results.json"))
    failed = {
        r.node.unique_id: _describe(r.node)
        for r in result.results
        if str(getattr(r.status, "value", r.status)) in ("error", "fail")
    }
    (target / FAILED_NODES).write_text(json.dumps(failed, ensure_ascii=False), encoding="utf-8")


def _seed_parse(saved: Path) -> None:
    cached = parse_cache()
    if not saved.exists() and cached.exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        _copy(cached, saved)  # whole: the child parsing ahead may be reading it


def _keep_parse(saved: Path) -> None:
    if not saved.exists():
        return
    cached = parse_cache()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.name}.{os.getpid()}")
        shutil.copyfile(saved, partial)
        os.replace(partial, cached)  # whole or not at all: other builds may be reading it
    except OSError:
        pass  # a cache that cannot be written only costs the next new warehouse its parse


PARSE = ["parse", "--no-write-json"]  # the child's own parse, before the job's build

# the child's lines in its log: the job used the parse made ahead (BuildResult.parsed_ahead);
# the last model that needs the larger memory is built (build's on_history_built); the parse
# was read from manifest_cache() (BuildResult.parse_cached)
PARSED_AHEAD = "fpa.build: the project was parsed while the night read its files"
HISTORY_BUILT = "fpa.build: the models that read the whole history are built"
PARSE_CACHED = "fpa.build: the parse of this project version was read from the cache"


@dataclass
class _Ahead:
    env: dict[str, str]
    project: str  # project_digest() when it parsed
    manifest: object
    cached: bool  # read from manifest_cache(), not parsed


def _parse(args: list[str]):
    """The manifest of a `dbt parse`, or None when it fails (the build then parses again and
    reports what is wrong, as it always did)."""
    from dbt.cli.main import dbtRunner

    try:
        outcome = dbtRunner().invoke(args)
    except Exception:  # noqa: BLE001 - reported by the build's own parse
        return None
    return outcome.result if outcome.success else None


def _parse_ahead(warehouse: Path, folder: Path) -> _Ahead | None:
    """In dbt's child, before its job: parse the project as the job will (the same profile
    environment, relative to the builds folder, so the same for every warehouse), while the
    night reads its files. Read from manifest_cache() when this version was parsed before;
    else parsed starting from the warehouse's saved parse or the cache (dbt reads its saved
    manifest and checks every file: a second or so).

    Nothing of the warehouse is written: the child runs before the night holds the state lock
    (another night may be building there), so it parses in `folder`, a private one of its own,
    and its saved parse goes to the warehouse's target only with the job."""
    builds = builds_dir(warehouse)
    env = _env(builds / BUILDING, warehouse, relative_to=builds)
    (folder / "target").mkdir()
    for saved in (builds / "dbt" / "target" / PARSE_FILE, parse_cache()):
        try:
            shutil.copyfile(saved, folder / "target" / PARSE_FILE)
            break
        except OSError:
            continue
    project = project_digest()
    os.environ.update(env)
    manifest, cached = _manifest(dbt_args(PARSE, warehouse, into=folder), env, project)
    return _Ahead(env, project, manifest, cached) if manifest is not None else None


def _announce_history_built(manifest) -> Callable:
    """A dbt callback that prints HISTORY_BUILT when every model configured with meta
    whole_history_memory has finished (in whatever state: a failed build stops the night)."""
    left = {
        uid for uid, node in manifest.nodes.items() if node.config.meta.get("whole_history_memory")
    }

    def watch(event) -> None:
        if left and event.info.name == "NodeFinished":
            left.discard(event.data.node_info.unique_id)
            if not left:
                print(HISTORY_BUILT, flush=True)

    return watch


def _child(warehouse: str | None) -> int:
    """The child of warm.start_dbt: import dbt, parse ahead when the warehouse is known, then
    wait for the job on stdin and run it. The build is given a manifest (the parse made ahead,
    or one made now), so that the child can name the models that read the whole history as
    they finish. Ended unused (warm.stop: a night with nothing new), it removes its parse
    folder on the way out."""
    # the work database, the candidate and the logs are its owner's only, whoever started the
    # child (a caller that starts it before its own umask is set: a benchmark, a test)
    os.umask(PRIVATE_UMASK)
    folder = scratch.folder("dbt-parse") if warehouse else None

    def ended(*_) -> None:
        # at once: an interpreter's exit with dbt and a manifest loaded took over 5 s on a busy
        # machine, and warm.stop kills what it waited 5 s for
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        os._exit(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, ended)
    if not warm.child_of_the_night():
        ended()
    try:
        from dbt.cli.main import dbtRunner

        ahead = _parse_ahead(Path(warehouse), folder) if warehouse else None
        spec = json.loads(sys.stdin.read() or "null")
        if spec is None:  # stdin closed without a job
            return 0
        target = Path(spec["target"])
        # the parse is the job's when the code and the profile's environment are
        reused = ahead and (ahead.env, ahead.project) == (spec["env"], spec["project"])
        os.environ.update(spec["env"])
        os.chdir(spec["cwd"])
        if reused:
            manifest, cached = ahead.manifest, ahead.cached
        else:
            manifest, cached = _manifest(spec["parse"], spec["env"], spec["project"])
        if cached:
            print(PARSE_CACHED, flush=True)
        callbacks = [_announce_history_built(manifest)] if manifest is not None else []
        outcome = dbtRunner(manifest=manifest, callbacks=callbacks).invoke(spec["args"])
        _write_results(outcome, target)
        if reused:
            print(PARSED_AHEAD, flush=True)
            saved = folder / "target" / PARSE_FILE
            if saved.exists():  # what `build` keeps for the next night
                _copy(saved, target / PARSE_FILE)
        return 0 if outcome.success else 1
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def _leave(code: int) -> None:
    """End the child without the interpreter's teardown, which with dbt and a manifest loaded
    took 0.7–1 s that every night waited for, once DuckDB has closed the files dbt wrote.
    dbt-duckdb keeps its database open for the life of the process and closes it at exit (its
    atexit handler): closed here, DuckDB checkpoints the candidate and the work database and
    removes their write-ahead logs. Were a log still beside either (the database held open
    elsewhere), the ordinary exit closes it: the night moves the candidate without its log."""
    connections = sys.modules.get("dbt.adapters.duckdb.connections")
    if connections is None:  # no job ran: dbt opened no database
        warm.exit_now(code)
    manager = connections.DuckDBConnectionManager
    env = manager._ENV
    manager.close_all_connections()
    if env is not None:
        env.close()
    written = [os.environ.get(var) for var in (BUILD_FILE_VAR, WORK_DB_VAR)]
    if any(p and Path(f"{p}.wal").exists() for p in written):
        sys.exit(code)
    warm.exit_now(code)


if __name__ == "__main__":
    _leave(_child(sys.argv[1] if len(sys.argv) > 1 else None))
