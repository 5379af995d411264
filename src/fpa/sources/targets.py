"""The province's yearly insurance targets (contract §3): 市 · 任务数（份）, then 合计."""

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from fpa.clock import CST
from fpa.normalise.numbers import NumberError, parse_number
from fpa.normalise.regions import resolve
from fpa.quarantine import Reason
from fpa.sources.common import Outcome, Rejected
from fpa.sources.spreadsheet import Limits, open_workbook, sheet_rows
from fpa.state import RowBuffer

YEAR_IN_NAME = re.compile(r"关爱保险指导性任务数_(?P<y>\d{4})")
YEAR_IN_TITLE = re.compile(r"(?P<y>\d{4})\s*年")


FIRST_YEAR = 2017  # the first year the province issued targets for


def parse(
    out: RowBuffer, landed: Path, file_name: str, sha256: str, received_at, limits: Limits
) -> Outcome:
    """A targets workbook's rows, added to `out`; raise Rejected before adding any."""
    wb = open_workbook(landed)
    base = file_name.rsplit("/", 1)[-1]
    name_year = YEAR_IN_NAME.search(base)
    rows = sheet_rows(wb, wb.sheet_names[0], limits)
    title = next((str(v) for r in rows[:2] for v in r if isinstance(v, str) and v.strip()), "")
    title_year = YEAR_IN_TITLE.search(title)
    years = {int(m["y"]) for m in (name_year, title_year) if m}
    if len(years) != 1:
        reason = Reason.TITLE_FILENAME_MISMATCH if len(years) > 1 else Reason.UNKNOWN_LAYOUT
        raise Rejected(reason, f"{base}: title {title!r} and file name give years {years}")
    year = years.pop()
    next_year = datetime.now(CST).year + 1  # a year's targets are issued before it starts
    if not FIRST_YEAR <= year <= next_year:
        raise Rejected(
            Reason.PERIOD_OUT_OF_RANGE,
            f"{base}: targets for {year}; targets are taken for {FIRST_YEAR} to {next_year}",
        )
    header = next((i for i, r in enumerate(rows) if r and str(r[0]).strip() == "市"), None)
    if header is None:
        raise Rejected(Reason.UNKNOWN_LAYOUT, f"{base}: no header row 市 · 任务数（份）")
    loaded, total = [], None
    for r in rows[header + 1 :]:
        label = str(r[0]).strip() if r and r[0] is not None else ""
        if not label:
            continue
        try:
            value = parse_number(r[1] if len(r) > 1 else None).value
        except NumberError as e:
            raise Rejected(Reason.UNKNOWN_LAYOUT, f"{base}: {label}: {e}") from e
        if label.startswith("合计"):
            total = value
            break
        city = resolve(label)
        if city is None or city.level != "city" or value is None:
            raise Rejected(Reason.UNKNOWN_LAYOUT, f"{base}: row {label!r} is no city target")
        loaded.append((sha256, year, city.code, int(value), received_at))
    out.add("raw.targets", loaded)
    s = sum(Decimal(x[3]) for x in loaded)
    note = f"合计 {total} differs from the rows' {s}" if total is not None and total != s else ""
    return Outcome("loaded", "", note, len(loaded), 0)
