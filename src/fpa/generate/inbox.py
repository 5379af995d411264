"""`fpa generate`: one call writes an inbox (insurer/, reports/, targets/, population/) and its
truth."""

import shutil
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from fpa.generate import insurer, population, reports, truth
from fpa.generate.delivery import Deliveries
from fpa.generate.plan import build_plan, load_toml

SOURCES = ("insurer", "reports", "targets", "population")


def default_truth_dir(out: Path) -> Path:
    """Beside the inbox, never inside it: nothing in the inbox is anything but a delivery."""
    out = out.resolve()
    return out.with_name(out.name + ".truth")


def parse_years(text: str) -> list[int]:
    """`2017-2024`, `2022` or `2020,2022`."""
    years: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        years.update(range(int(lo), int(hi or lo) + 1))
    if not years or min(years) < 2000 or max(years) > 2099:
        raise ValueError(f"years out of range: {text}")
    return sorted(years)


def scale_factors(scale: str, years: list[int]) -> dict[int, float]:
    """Each year's size relative to the province (shape.toml's [scale.*])."""
    sc = load_toml("shape.toml")["scale"][scale]
    full = set(sc.get("province_years", []))
    return {y: 1.0 if y in full else sc["factor"] for y in years}


def generate(
    out: Path,
    years: list[int],
    scale: str = "small",
    seed: int = 20240101,
    clean: bool = False,
    truth_dir: Path | None = None,
    force: bool = False,
    progress=None,
    until: date | None = None,
) -> dict:
    """`until`: the range's last day (default 31 December of the last year)."""
    shape = load_toml("shape.toml")
    if scale not in shape["scale"]:
        raise ValueError(f"unknown scale {scale!r}: {', '.join(shape['scale'])}")
    if years != list(range(years[0], years[-1] + 1)):
        raise ValueError("years must be consecutive (a range such as 2017-2024)")
    sc = shape["scale"][scale]
    shape["volumes"] |= sc.get("volumes", {})  # what a scale changes of the shape
    truth_dir = truth_dir or default_truth_dir(out)
    existing = [out / s for s in SOURCES if (out / s).exists()]
    if existing and not force:
        raise FileExistsError(
            f"{out} already holds deliveries ({existing[0].name}/); use --force to replace them"
        )
    for p in existing + ([truth_dir] if truth_dir.exists() else []):
        shutil.rmtree(p)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    def say(msg: str) -> None:
        if progress:
            progress(f"[{time.monotonic() - t0:6.1f}s] {msg}")

    plan = build_plan(years, scale_factors(scale, years), seed, until)
    start = np.datetime64(f"{years[0]}-01-01")
    end = np.datetime64(until or f"{years[-1]}-12-31")
    say(f"plan: {int(plan.units.sum()):,} units, {int(plan.claims_n.sum()):,} settled claims")
    pol = insurer.realise_policies(plan, shape, start, end, clean)
    cl = insurer.realise_claims(plan, pol, shape, start, end, clean)
    insurer.claims_before_policies(pol, cl, end, seed)
    say(f"model: {len(pol):,} policies, {len(cl):,} claims")
    mode = sc["insurer_delivery"]
    prow = insurer.policy_rows(pol, shape, clean, mode, seed, end)
    crow = insurer.claim_rows(cl, pol, shape, clean, mode, seed, start, end)
    say(f"rows: {len(prow):,} policy rows, {len(crow):,} claim rows")
    d = Deliveries(out)
    insurer.write_files(d, prow, crow, shape, clean, seed, end.astype(date), say)
    if not clean:
        insurer.write_unfinished(d, prow, crow, end.astype(date), seed, cut=until is not None)
    say("insurer files written")
    report_years = years if sc["report_years"] == "all" else years[-1:]
    counted = reports.write_reports(
        d,
        plan,
        report_years,
        (sc["activities_per_report"], sc["trainings_per_report"]),
        shape,
        clean,
        say,
    )
    reports.write_targets(d, plan, clean)
    pops = population.write(d, plan, clean)
    say(f"{sum(f.source == 'report' for f in d.fates)} report workbooks written")
    model = insurer.InsurerModel(pol, prow, cl, crow)
    summary = truth.write(
        truth_dir,
        plan,
        model,
        counted,
        d,
        pops,
        {
            "seed": seed,
            "scale": scale,
            "years": f"{years[0]}-{years[-1]}",
            "until": str(end),
            "clean": clean,
            "policy_rows": len(prow),
            "claim_rows": len(crow),
            "inbox": str(out),
            "truth_dir": str(truth_dir),
        },
    )
    say(f"truth written to {truth_dir}")
    return summary


def stderr_progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
