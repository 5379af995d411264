"""Writing delivered files and recording what the warehouse must make of each one."""

import hashlib
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from fpa.clock import CST


def arrival(day: date, hour: int = 1, minute: int = 30) -> datetime:
    return datetime.combine(day, time(hour, minute), CST)


@dataclass
class Fate:
    """One delivered file and its expected fate (the truth's files.csv and load_audit)."""

    source: str  # insurer_policy | insurer_claim | report | target | population
    path: str  # relative to the inbox, with forward slashes
    received_at: datetime  # the file's arrival (its mtime)
    status: str  # loaded | rejected | duplicate | superseded | waiting (no .ok yet)
    sha256: str = ""
    reason_code: str = ""
    reason: str = ""
    rows_in_file: int = 0  # data rows, whatever the fate
    rows_quarantined: int = 0
    city_code: str = ""  # reports and targets
    period: str = ""  # reports: YYYY-MM; targets, population: YYYY; insurer: YYYY-MM-DD
    same_as: str = ""  # duplicate: the file first received with this content
    encoding: str = ""  # insurer CSVs: gb18030, or utf-8 where planted

    @property
    def in_load_audit(self) -> bool:
        return self.status != "waiting"

    @property
    def rows_received(self) -> int:
        # A duplicate or rejected file contributes no rows: the duplicate's rows were received
        # with its original, the rejected file's rows cannot be trusted (it stays in landing).
        return self.rows_in_file if self.status in ("loaded", "superseded") else 0

    @property
    def rows_loaded(self) -> int:
        return self.rows_received - (self.rows_quarantined if self.rows_received else 0)


@dataclass
class QuarantinedRow:
    path: str
    sheet: str  # "" for a CSV
    row_number: int  # physical line (CSV, header = 1) or worksheet row (1-based)
    reason_code: str


@dataclass
class Deliveries:
    inbox: Path
    fates: list[Fate] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    # every report workbook written (generate.reports.Report), in order of writing: the truth
    # of the data issues follows a bad row from a report to its correction
    reports: list = field(default_factory=list)

    def write(self, rel: str, data: bytes, received: datetime) -> str:
        path = self.inbox / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        ts = received.timestamp()
        os.utime(path, (ts, ts))
        return hashlib.sha256(data).hexdigest()
