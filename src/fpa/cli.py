"""The `fpa` command line (WAREHOUSE.md). Thin: every command calls one function of the package,
the same function Airflow's tasks call."""

import argparse
import os
import shlex
import sys
from datetime import date
from pathlib import Path

USAGE_ERROR = 2


def _generate(args: argparse.Namespace) -> int:
    from fpa.generate.inbox import generate, parse_years, stderr_progress

    try:
        years = parse_years(args.years)
        summary = generate(
            Path(args.out),
            years,
            args.scale,
            args.seed,
            args.clean,
            Path(args.truth) if args.truth else None,
            args.force,
            stderr_progress,
            date.fromisoformat(args.until) if args.until else None,
        )
    except (ValueError, FileExistsError) as e:
        print(f"fpa generate: {e}", file=sys.stderr)
        return USAGE_ERROR
    files = summary["files_by_status"]
    print(
        f"inbox {args.out}: {summary['policy_rows']:,} policy rows, "
        f"{summary['claim_rows']:,} claim rows, "
        + ", ".join(f"{n} {s}" for s, n in files.items())
        + " files"
    )
    print(f"truth {summary['truth_dir']}")
    return 0


def _usage_error(command: str, args: argparse.Namespace) -> str | None:
    """What is wrong with the paths of `ingest` or `load`, if anything."""
    if not args.warehouse or not (args.inbox or args.from_archive):
        return (
            f"fpa {command}: --warehouse and --inbox or --from-archive (or FPA_WAREHOUSE, "
            "FPA_INBOX) are needed"
        )
    if not args.from_archive and not Path(args.inbox).is_dir():
        return f"fpa {command}: no inbox at {args.inbox}"
    return None


def _ingest(args: argparse.Namespace) -> int:
    from fpa.ingest import ingest
    from fpa.night import reprocess_state
    from fpa.state import StateBusy

    if problem := _usage_error("ingest", args):
        print(problem, file=sys.stderr)
        return USAGE_ERROR
    try:
        if args.from_archive:
            result = reprocess_state(Path(args.warehouse), _say)
        else:
            result = ingest(Path(args.inbox), Path(args.warehouse), _say)
    except (StateBusy, FileNotFoundError) as e:
        print(f"fpa ingest: {e}", file=sys.stderr)
        return USAGE_ERROR
    print(result.summary())
    return 0


def _load(args: argparse.Namespace) -> int:
    if problem := _usage_error("load", args):
        print(problem, file=sys.stderr)
        return USAGE_ERROR
    from fpa import warm

    dbt = warm.start_dbt(Path(args.warehouse))  # before the night's own imports
    with warm.stopped_on_error(dbt):
        from fpa.night import load
        from fpa.state import StateBusy
    try:
        inbox = None if args.from_archive else Path(args.inbox)
        result = load(
            inbox, Path(args.warehouse), _say, from_archive=args.from_archive, dbt_process=dbt
        )
    except (StateBusy, FileNotFoundError) as e:
        print(f"fpa load: {e}", file=sys.stderr)
        return USAGE_ERROR
    print(result.summary())
    return result.exit_code


def _rollback(args: argparse.Namespace) -> int:
    from fpa.night import rollback
    from fpa.publish import NothingToRollBack
    from fpa.state import StateBusy

    if _no_warehouse("rollback", args):
        return USAGE_ERROR
    try:
        previous = rollback(Path(args.warehouse))
    except (NothingToRollBack, StateBusy) as e:
        print(f"fpa rollback: {e}", file=sys.stderr)
        return USAGE_ERROR
    print(f"put back the version kept as {previous.name}")
    return 0


def _feedback(args: argparse.Namespace) -> int:
    from fpa.feedback import UnknownProvider, write

    warehouse = _published("feedback", args)
    if warehouse is None:
        return USAGE_ERROR
    try:
        written = write(warehouse, Path(args.out), args.city)
    except UnknownProvider as e:
        print(f"fpa feedback: --city {e}", file=sys.stderr)
        return USAGE_ERROR
    for f in written:
        print(f"{f.path}: {len(f.issues)} open issue(s)")
    if not written:
        who = f"{args.city} has" if args.city else "no provider has"
        print(f"{who} no open data issue: no workbook written")
    return 0


def _bulletin(args: argparse.Namespace) -> int:
    import re
    from datetime import date

    from fpa.bulletin import BulletinRefused, write

    warehouse = _published("bulletin", args)
    if warehouse is None:
        return USAGE_ERROR
    try:
        # YYYY-MM-DD only (fromisoformat alone takes 20221231 and 2022-W52 too)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.as_of):
            raise ValueError
        as_of = date.fromisoformat(args.as_of)
    except ValueError:
        print(f"fpa bulletin: --as-of {args.as_of}: not a day (YYYY-MM-DD)", file=sys.stderr)
        return USAGE_ERROR
    try:
        written = write(warehouse, as_of, args.area, Path(args.out))
    except BulletinRefused as e:
        print(f"fpa bulletin: {e}", file=sys.stderr)
        return USAGE_ERROR
    for path in written.paths:
        print(path)
    if written.pdf_error:
        # the Word file and the text are there; the PDF is the one thing missing (exit 1)
        print(f"fpa bulletin: no PDF: {written.pdf_error}", file=sys.stderr)
        return 1
    return 0


def _allow(args: argparse.Namespace) -> int:
    from fpa.gate import ALLOW_LIST, AllowRefused, allow, parse_row_arg

    if _no_warehouse("allow", args):
        return USAGE_ERROR
    warehouse = Path(args.warehouse).resolve()
    try:
        rows = [parse_row_arg(r) for r in args.row or []]
        a = allow(warehouse, args.expectation, args.who, args.why, args.until, rows)
    except AllowRefused as e:
        print(f"fpa allow: refused: {e}", file=sys.stderr)
        return USAGE_ERROR
    what = f"{len(a.rows)} row(s) of " if a.rows else ""
    print(
        f"allowed {what}{a.suite}.{a.expectation} until {a.until} (by {a.who}: {a.why}), "
        f"in {warehouse.parent / ALLOW_LIST}; the next `fpa load` applies it"
    )
    return 0


def _set_aside(args: argparse.Namespace) -> int:
    from fpa.night import SetAsideRefused, set_aside, undo_set_aside
    from fpa.state import StateBusy

    if _no_warehouse("set-aside", args):
        return USAGE_ERROR
    warehouse = Path(args.warehouse).resolve()
    try:
        if args.undo:
            undone = undo_set_aside(warehouse, args.file, _say)
            for d in undone:
                print(f"back: {d['file_name']} (read again from its copy in landing)")
            print("the next `fpa load` publishes with it")
            return 0
        if not args.why:
            print("fpa set-aside: --why is needed", file=sys.stderr)
            return USAGE_ERROR
        done = set_aside(warehouse, args.file, args.why, args.who)
    except (SetAsideRefused, StateBusy, FileNotFoundError) as e:
        print(f"fpa set-aside: {e}", file=sys.stderr)
        return USAGE_ERROR
    for d in done:
        print(
            f"set aside: {d.file_name} (was {d.status_before}; {d.rows_out:,} rows no longer "
            f"count; its copy stays in landing as {d.file_sha256[:16]}…)"
        )
    if not done:
        print(f"{args.file}: set aside already")
    undo = shlex.join(
        ["fpa", "set-aside", "--undo", "--warehouse", str(warehouse), "--file", args.file]
    )
    print(f"the next `fpa load` publishes without it; `{undo}` brings it back")
    return 0


def _no_warehouse(command: str, args: argparse.Namespace) -> bool:
    """True (and says so) when neither --warehouse nor FPA_WAREHOUSE names the warehouse."""
    if not args.warehouse:
        print(f"fpa {command}: --warehouse (or FPA_WAREHOUSE) is needed", file=sys.stderr)
    return not args.warehouse


def _published(command: str, args: argparse.Namespace) -> Path | None:
    """The published warehouse a reading command opens; None (and says why) when it is not
    named or not there."""
    if _no_warehouse(command, args):
        return None
    warehouse = Path(args.warehouse)
    if not warehouse.is_file():
        print(f"fpa {command}: {warehouse}: no published warehouse there", file=sys.stderr)
        return None
    return warehouse


def _say(m: str) -> None:
    print(m, file=sys.stderr, flush=True)


def _add_superset_paths(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warehouse", default=os.environ.get("FPA_WAREHOUSE"), help="default: $FPA_WAREHOUSE"
    )
    p.add_argument(
        "--home",
        default=os.environ.get("FPA_SUPERSET_HOME"),
        help="Superset's metadata, cache and keys (default: $FPA_SUPERSET_HOME or ./demo/superset)",
    )


def _superset_sync(args: argparse.Namespace) -> int:
    from fpa.dashboards.service import SupersetError, default_home, sync

    if _no_warehouse("superset sync", args):
        return USAGE_ERROR
    home = default_home(args.home)
    try:
        done = sync(Path(args.warehouse), home)
    except SupersetError as e:
        print(f"fpa superset sync: {e}", file=sys.stderr)
        return 1
    weekly = ", ".join(f"{name} (id {i})" for name, i in done["reports"].items()) or "none"
    print(
        f"superset ({home}): database {args.warehouse}, {len(done['datasets'])} datasets, "
        f"{len(done['charts'])} charts, dashboards {', '.join(done['dashboards'])}; "
        f"weekly reports: {weekly}"
    )
    return 0


def _superset_bundle(args: argparse.Namespace) -> int:
    from fpa.dashboards.bundle import BUNDLE_DIR, write

    print(f"{len(write())} files in {BUNDLE_DIR}")
    return 0


def _superset_refresh(args: argparse.Namespace) -> int:
    from fpa.dashboards.service import SupersetError, default_home, refresh

    home = default_home(args.home)
    try:
        done = refresh(home, args.url)
    except SupersetError as e:
        print(f"fpa superset refresh: {e}", file=sys.stderr)
        return 1
    print(f"superset ({home}): {done}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from fpa.demo import run_demo

    return run_demo(Path(args.dir), args.scale, serve=not args.no_serve)


def _add_paths(p: argparse.ArgumentParser) -> None:
    """--inbox and --warehouse, defaulting to FPA_INBOX and FPA_WAREHOUSE (WAREHOUSE.md)."""
    p.add_argument("--inbox", default=os.environ.get("FPA_INBOX"), help="default: $FPA_INBOX")
    p.add_argument(
        "--warehouse",
        default=os.environ.get("FPA_WAREHOUSE"),
        help="the published DuckDB file; what is kept between runs lives beside it "
        "(default: $FPA_WAREHOUSE)",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fpa",
        description="The Guangxi Family Planning Association data warehouse "
        "(广西计生协数据仓库): generate sample deliveries, load them, publish the marts.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser(
        "generate",
        help="write a realistic inbox and its truth file",
        description="Write insurer/, reports/, targets/ and population/ as the source "
        "contracts describe, with the known deviations mixed in unless --clean, "
        "and beside the inbox a truth folder (DIR.truth/) with the exact figures "
        "the warehouse must publish and the fate of every file.",
    )
    g.add_argument("--out", required=True, metavar="DIR", help="the inbox to write")
    g.add_argument("--years", default="2017-2024", help="a range such as 2017-2024 (default)")
    g.add_argument(
        "--scale",
        default="small",
        choices=["small", "province", "demo"],
        help="small: about 1/100 of a province, for tests (default); province: "
        "a real year, about 3 million policy rows; demo: the province's figures "
        "every year, sold in policies of several units (about 1/6 of the rows)",
    )
    g.add_argument(
        "--until",
        metavar="YYYY-MM-DD",
        help="the range's last day, in its last year (default 31 December): that year "
        "holds what is sold and settled by then",
    )
    g.add_argument("--seed", type=int, default=20240101, help="same seed, same bytes")
    g.add_argument("--clean", action="store_true", help="no deviations: the template exactly")
    g.add_argument("--truth", metavar="DIR", help="where the truth goes (default: DIR.truth)")
    g.add_argument("--force", action="store_true", help="replace deliveries already in DIR")
    g.set_defaults(run=_generate)

    ld = sub.add_parser(
        "load",
        help="one nightly run: land, parse, build, gate, publish",
        description="Land every new file of the inbox, parse, build the dbt "
        "project, run the quality gate and publish. Exit 0 when published, 1 "
        "when the gate blocked publication, 2 on a usage error.",
    )
    _add_paths(ld)
    ld.add_argument(
        "--from-archive",
        action="store_true",
        help="the backfill: rebuild the state from the landing archive beside the warehouse "
        "(every file received, in order of arrival, no inbox needed), then build, gate and "
        "publish",
    )
    ld.set_defaults(run=_load)

    ig = sub.add_parser(
        "ingest",
        help="land and parse every new file of the inbox (the first step of load)",
        description="Land every complete new file of the inbox in the archive beside the "
        "warehouse, parse it, quarantine bad rows with their reason and record every file in "
        "the load audit. Idempotent: files already received are skipped.",
    )
    _add_paths(ig)
    ig.add_argument(
        "--from-archive",
        action="store_true",
        help="build the state anew from the landing archive beside the warehouse, without "
        "the inbox (every file received, in its order of arrival)",
    )
    ig.set_defaults(run=_ingest)

    rb = sub.add_parser(
        "rollback",
        help="put back the previously published version",
        description="Put back the previously published warehouse file.",
    )
    rb.add_argument(
        "--warehouse", default=os.environ.get("FPA_WAREHOUSE"), help="default: $FPA_WAREHOUSE"
    )
    rb.set_defaults(run=_rollback)

    fb = sub.add_parser(
        "feedback",
        help="write each data provider's 数据问题清单 (its open data issues) as a workbook",
        description="One workbook per city with open data issues, DIR/<市>数据问题清单_<YYYYMMDD>"
        ".xlsx (and 中国人寿_数据问题清单_<YYYYMMDD>.xlsx for the insurer): a summary sheet "
        "(this year's reporting and on-time rates, open issues by kind) and one row per open "
        "issue of marts.data_issues with the row as delivered (personal data masked), the "
        "reason and what to do. Nothing for a provider without open issues.",
    )
    fb.add_argument(
        "--warehouse", default=os.environ.get("FPA_WAREHOUSE"), help="default: $FPA_WAREHOUSE"
    )
    fb.add_argument("--out", required=True, metavar="DIR", help="the folder to write into")
    fb.add_argument("--city", metavar="CODE", help="one city's code (or insurer) only")
    fb.set_defaults(run=_feedback)

    bl = sub.add_parser(
        "bulletin",
        help="write the 统计通报 (statistical bulletin) of the province or a city as of a day",
        description="The statistical bulletin (BULLETIN.md) of the province (450000, default) "
        "or one city as of a day, from the published warehouse alone: DIR/<地区>计生协统计通报_"
        "<YYYY>年<M>月<D>日.docx (地区: 自治区, or the city's name), the same as .pdf (by "
        "LibreOffice) and its text as .md. Exit 0 when all three are written, 1 when the PDF "
        "could not be made (the other two are written), 2 on a usage error (nothing written).",
    )
    bl.add_argument(
        "--warehouse", default=os.environ.get("FPA_WAREHOUSE"), help="default: $FPA_WAREHOUSE"
    )
    bl.add_argument("--as-of", required=True, metavar="YYYY-MM-DD", help="the day it is as of")
    bl.add_argument(
        "--area", default="450000", metavar="CODE", help="450000 (the province, default) or a city"
    )
    bl.add_argument("--out", required=True, metavar="DIR", help="the folder to write into")
    bl.set_defaults(run=_bulletin)

    al = sub.add_parser(
        "allow",
        help="accept a failure of the quality gate (who, why, until) so the night publishes",
        description="Add an entry to the allow list beside the warehouse (allow_list.yml; "
        "expectations/allow_list.yml is read as well): the gate treats the failure of the "
        "expectation, on the rows given (else on any row), as passed until the day given, and "
        "records who allowed it and why. A blocked `fpa load` prints this command.",
    )
    al.add_argument(
        "--warehouse", default=os.environ.get("FPA_WAREHOUSE"), help="default: $FPA_WAREHOUSE"
    )
    al.add_argument(
        "--expectation", required=True, metavar="NAME", help="suite.expectation (or expectation)"
    )
    al.add_argument(
        "--row",
        action="append",
        metavar="COLUMN=VALUE,...",
        help="only the rows at fault with these values (repeatable); omit: any row",
    )
    al.add_argument("--who", required=True, help="who accepts it")
    al.add_argument("--why", required=True, help="why the figure is right")
    al.add_argument("--until", required=True, metavar="YYYY-MM-DD", help="the last day it applies")
    al.set_defaults(run=_allow)

    sa = sub.add_parser(
        "set-aside",
        help="take a delivered file out: its rows no longer count, the next load publishes",
        description="Set a delivered file aside: its load-audit row becomes rejected (set_aside) "
        "with your reason, its raw and quarantined rows are deleted (a report's earlier "
        "revision counts again), its copy stays in the landing archive. Kept in set_aside.yml "
        "beside the warehouse, applied again when the state is rebuilt from the archive. A "
        "blocked `fpa load` prints this command.",
    )
    sa.add_argument(
        "--warehouse", default=os.environ.get("FPA_WAREHOUSE"), help="default: $FPA_WAREHOUSE"
    )
    sa.add_argument(
        "--file",
        required=True,
        metavar="NAME",
        help="the file as the load audit names it (relative to the inbox), or the first 12+ "
        "digits of its sha256",
    )
    sa.add_argument("--why", help="why it is set aside (recorded in the load audit)")
    sa.add_argument("--who", help="who sets it aside (default: the login name)")
    sa.add_argument(
        "--undo",
        action="store_true",
        help="bring a file set aside back: the decision is forgotten and the state rebuilt from "
        "the archive",
    )
    sa.set_defaults(run=_set_aside)

    ss = sub.add_parser(
        "superset", help="Superset dashboards as code", description="Superset dashboards as code."
    )
    ssub = ss.add_subparsers(dest="superset_command", required=True, metavar="SUBCOMMAND")
    sync = ssub.add_parser(
        "sync",
        help="create or update the database, datasets, charts, "
        "dashboards and roles from superset/ (idempotent)",
        description="Create or update Superset's database connection, "
        "datasets, charts, dashboards, roles and row-level security from the bundle in "
        "superset/bundle/ (a second sync changes nothing; an edited chart is updated).",
    )
    _add_superset_paths(sync)
    sync.set_defaults(run=_superset_sync)
    bd = ssub.add_parser(
        "bundle",
        help="regenerate superset/bundle/ from src/fpa/dashboards/spec.py and the marts' dbt meta",
    )
    bd.set_defaults(run=_superset_bundle)
    rf = ssub.add_parser(
        "refresh",
        help="after a publication: clear the chart-data cache and warm every chart",
    )
    _add_superset_paths(rf)
    rf.add_argument("--url", default=os.environ.get("FPA_SUPERSET_URL"), help="Superset to warm")
    rf.set_defaults(run=_superset_refresh)

    dm = sub.add_parser(
        "demo",
        help="the whole system on this machine, embedded defaults",
        description="Run the system on this machine with embedded defaults: write (or "
        "reuse) the calibrated sample inbox (2017 to yesterday), load it into "
        "./demo/warehouse, show the headline figures beside the truth, sync Superset, then "
        "serve Superset and Airflow on 127.0.0.1 until Ctrl-C.",
    )
    dm.add_argument(
        "--no-serve",
        action="store_true",
        help="stop after the load and the Superset sync (start no server)",
    )
    dm.add_argument("--dir", default="demo", help="working folder (default: ./demo)")
    dm.add_argument(
        "--scale",
        default="demo",
        choices=["small", "province", "demo"],
        help="demo (default): the province's figures every year, in policies of several "
        "units; small: 1/100, seconds; province: every year full size, every row",
    )
    dm.set_defaults(run=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    from fpa.paths import PRIVATE_UMASK

    # the warehouse's files (state, landing, candidates, logs) and the servers' are the
    # owner's only; the children started (dbt, GX, Superset, Airflow) inherit it
    os.umask(PRIVATE_UMASK)
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
