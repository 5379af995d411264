"""Ingest benchmark: ours vs the floor (iconv + a raw DuckDB read_csv) vs the naive path
(pandas read_csv(encoding='gb18030') + openpyxl, row-wise cleaning), side by side, one run.

    uv run fpa generate --out /tmp/prov/inbox --years 2022 --scale province
    uv run python bench/ingest.py --inbox /tmp/prov/inbox

The floor is the issue's: iconv to UTF-8, then DuckDB's read_csv with its defaults into a table
of a DuckDB file. The issue measured it at 11.6-16.9 s and ~450 MB on a province year; a bare
count(*) (also printed, "count only") holds no rows and runs in well under half that memory, so
it is not what was measured. Two more paths show where the time goes: "required", the floor's
iconv plus what no loader of the contract can skip (the HMAC of every ID, the rows written)
with the contract's dialect and no type sniffing; and ours on the insurer files alone.

Each path runs in its own process; wall time and that process's peak RSS are measured around
it (os.wait4), and printed with the ratio to the floor.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def iconv_all(inbox: Path, work: Path) -> Path:
    """Every insurer CSV through iconv to UTF-8, one process a file; the folder they went to.
    A file iconv cannot convert (the planted UTF-8 one) is left out: the floor handles none."""
    out = work / "utf8"
    out.mkdir()
    for p in sorted((inbox / "insurer").rglob("*.csv")):
        with open(out / p.name, "wb") as f:
            done = subprocess.run(
                ["iconv", "-f", "GB18030", "-t", "UTF-8", str(p)],
                stdout=f,
                stderr=subprocess.DEVNULL,
            )
        if done.returncode:
            (out / p.name).unlink()
    return out


def floor(inbox: Path, work: Path) -> int:
    """The issue's floor: read_csv with its defaults (types sniffed) into a DuckDB file."""
    import duckdb

    out = iconv_all(inbox, work)
    con = duckdb.connect(str(work / "floor.duckdb"))
    n = 0
    for stem in ("JS_POLICY", "JS_CLAIM"):
        files = [str(p) for p in sorted(out.glob(f"{stem}*.csv"))]
        # ignore_errors: each file's trailer line is skipped, not checked
        con.execute(
            f"CREATE TABLE {stem} AS SELECT * FROM read_csv(?, ignore_errors = true)", [files]
        )
        n += con.execute(f"SELECT count(*) FROM {stem}").fetchone()[0]
    con.execute("CHECKPOINT")
    return n


def count_only(inbox: Path, work: Path) -> int:
    """iconv and a count(*) of read_csv: every line tokenised, no column kept, nothing held."""
    import duckdb

    out = iconv_all(inbox, work)
    con = duckdb.connect()
    n = 0
    for stem in ("JS_POLICY", "JS_CLAIM"):
        files = [str(p) for p in sorted(out.glob(f"{stem}*.csv"))]
        n += con.execute(
            "SELECT count(*) FROM read_csv(?, all_varchar = true, ignore_errors = true)",
            [files],
        ).fetchone()[0]
    return n


def required(inbox: Path, work: Path) -> int:
    """The floor's iconv plus the two things no loader of this contract can skip: the HMAC of
    every ID (fpa.personal's SQL) and the rows written to a DuckDB file, read with the
    contract's columns as text (no sniffing). Nothing is checked, typed or quarantined, no line
    is numbered: what ours costs beyond this is the checking."""
    import duckdb

    from fpa.personal import PersonHasher
    from fpa.sources.insurer import CLAIM_COLUMNS, PERSONAL, POLICY_COLUMNS, _struct

    out = iconv_all(inbox, work)
    con = duckdb.connect(str(work / "required.duckdb"))
    PersonHasher(b"bench key").install(con)
    n = 0
    for stem, columns in (("JS_POLICY", POLICY_COLUMNS), ("JS_CLAIM", CLAIM_COLUMNS)):
        files = [str(p) for p in sorted(out.glob(f"{stem}*.csv"))]
        kept = [
            PersonHasher.sql(f'"{c}"') if PERSONAL.get(c) == "id" else f'"{c}"'
            for c in columns
            if PERSONAL.get(c) not in ("name", "phone")
        ]
        # ignore_errors skips each file's trailer (and the mangled UTF-8 file's bad rows)
        con.execute(
            f"CREATE TABLE {stem} AS SELECT {', '.join(kept)} FROM read_csv(?, header = true, "
            f"auto_detect = false, columns = {_struct(columns)}, ignore_errors = true)",
            [files],
        )
        n += con.execute(f"SELECT count(*) FROM {stem}").fetchone()[0]
    con.execute("CHECKPOINT")
    return n


def ours(inbox: Path, work: Path) -> int:
    from fpa.ingest import ingest

    result = ingest(inbox, work / "wh" / "fpa.duckdb")
    return result.rows_loaded + result.rows_quarantined


def naive(inbox: Path, work: Path) -> int:
    import openpyxl
    import pandas as pd

    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

    def ok(id_: str) -> bool:
        s = str(id_).strip().upper()
        if len(s) != 18 or not s[:17].isdigit():
            return False
        total = sum(int(d) * w for d, w in zip(s, weights, strict=False))
        return "10X98765432"[total % 11] == s[17]

    n = 0
    frames = []
    for p in sorted((inbox / "insurer").rglob("*.csv")):
        if not p.with_suffix(".ok").exists():
            continue
        try:
            df = pd.read_csv(p, encoding="gb18030", dtype=str, keep_default_na=False)
        except UnicodeDecodeError:
            df = pd.read_csv(p, encoding="utf-8", dtype=str, keep_default_na=False)
        df = df[df.iloc[:, 0] != "TRAILER"]
        id_col = "证件号码" if "证件号码" in df.columns else "被保险人证件号码"
        df["valid"] = [ok(v) for v in df[id_col]]  # row by row, as a user would
        frames.append(df)
        n += len(df)
    for p in sorted((inbox / "reports").rglob("*.xlsx")) + sorted(
        (inbox / "targets").rglob("*.xlsx")
    ):
        try:
            wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        except Exception:
            continue
        for ws in wb.worksheets:
            n += sum(1 for _ in ws.iter_rows(values_only=True))
    return n


PATHS = {
    "floor (iconv + DuckDB read_csv into a table)": floor,
    "count only (iconv + DuckDB read_csv count)": count_only,
    "required (floor + HMAC + write)": required,
    "ours (insurer only)": ours,
    "ours (whole inbox)": ours,
    "naive (pandas + openpyxl)": naive,
}


def run_child(name: str, inbox: Path) -> tuple[float, int, float, str]:
    with tempfile.TemporaryDirectory(prefix="fpa-bench-") as work:
        source = inbox
        if name == "ours (insurer only)":
            source = Path(work) / "inbox"
            shutil.copytree(inbox / "insurer", source / "insurer")
        t = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, str(HERE), "--child", name, "--inbox", str(source), "--work", work],
            stdout=subprocess.PIPE,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t
        out = proc.stdout.read().strip()
        if status:
            raise SystemExit(f"{name} failed: {out}")
        return wall, usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inbox", type=Path, required=True)
    ap.add_argument("--child")
    ap.add_argument("--work", type=Path)
    ap.add_argument("--only", nargs="*", help="run only these paths (by their first word)")
    args = ap.parse_args()
    if args.child:
        print(PATHS[args.child](args.inbox, args.work))
        return
    size = sum(p.stat().st_size for p in (args.inbox / "insurer").rglob("*.csv"))
    print(f"inbox {args.inbox}: insurer CSVs {size / 2**20:.0f} MiB")
    rows = []
    for name in PATHS:
        if args.only and name.split()[0] not in args.only:
            continue
        wall, rss, cpu, out = run_child(name, args.inbox)
        rows.append((name, wall, rss, cpu, out))
        print(f"  {name}: {wall:.1f} s, {rss} MiB, cpu {cpu:.1f} s ({out} rows)", flush=True)
    base = next((r for r in rows if r[0].startswith("floor")), rows[0])
    count = next((r for r in rows if r[0].startswith("count")), base)
    # CPU time (user + system, all threads) is printed too: on a machine shared with other
    # work, wall time measures the neighbours as much as the path
    print(
        "\n| path | wall s | × floor | × count only | peak RSS MiB | × floor | cpu s | × floor "
        "| rows |\n|---|---|---|---|---|---|---|---|---|"
    )
    for name, wall, rss, cpu, out in rows:
        print(
            f"| {name} | {wall:.1f} | {wall / base[1]:.2f} | {wall / count[1]:.2f} | {rss} "
            f"| {rss / base[2]:.2f} | {cpu:.1f} | {cpu / base[3]:.2f} | {out} |"
        )


if __name__ == "__main__":
    main()
