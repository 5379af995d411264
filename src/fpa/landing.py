"""The inbox: which files are complete, what each is, and its one copy in the landing archive.

An insurer CSV counts as delivered only once its `.ok` marker is there. A file's arrival time
is its modification time (SFTP pulls keep it). Files are taken in order of arrival, so that
"the same content again" and "the later report" mean what they meant at the delivery.
"""

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpa.clock import CST

INSURER_NAME = re.compile(r"JS_(?P<kind>POLICY|CLAIM)_(?P<day>\d{8}).*\.csv", re.IGNORECASE)
WORKBOOK = (".xlsx", ".xls", ".xlsm")


@dataclass(frozen=True)
class Received:
    source: str  # insurer_policy | insurer_claim | report | target | unknown
    file_name: str  # relative to the inbox, forward slashes
    path: Path
    received_at: datetime
    size: int

    def sha256(self) -> str:
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()


@dataclass(frozen=True)
class Scan:
    complete: list[Received]
    waiting: list[str]  # insurer CSVs without their .ok yet


def _source(rel: str, name: str) -> str:
    top = rel.split("/", 1)[0]
    if top == "insurer":
        m = INSURER_NAME.fullmatch(name)
        return (
            "unknown"
            if not m
            else ("insurer_policy" if m["kind"].upper() == "POLICY" else "insurer_claim")
        )
    if top in ("reports", "targets") and name.lower().endswith(WORKBOOK):
        return "report" if top == "reports" else "target"
    return "unknown"


def scan(inbox: Path) -> Scan:
    complete, waiting = [], []
    for top in ("insurer", "reports", "targets"):
        for path in sorted((inbox / top).rglob("*")) if (inbox / top).is_dir() else []:
            name = path.name
            if not path.is_file() or name.startswith(("~$", ".")) or name.endswith(".ok"):
                continue  # office lock files, hidden files, markers
            rel = path.relative_to(inbox).as_posix()
            if top == "insurer" and not path.with_suffix(".ok").exists():
                waiting.append(rel)
                continue
            st = path.stat()
            complete.append(
                Received(
                    _source(rel, name),
                    rel,
                    path,
                    datetime.fromtimestamp(st.st_mtime, CST),
                    st.st_size,
                )
            )
    complete.sort(key=lambda r: (r.received_at, r.file_name))
    return Scan(complete, waiting)


def archive(received: Received, sha256: str, landing: Path) -> Path:
    """Copy a file once into the archive under its checksum; an existing copy is kept as is."""
    target = landing / sha256
    if not target.exists():
        tmp = landing / f".{sha256}.part"
        shutil.copyfile(received.path, tmp)
        os.replace(tmp, target)
    return target


def insurer_day(file_name: str) -> str:
    """YYYY-MM-DD of an insurer file's business day, from its name."""
    m = INSURER_NAME.fullmatch(file_name.rsplit("/", 1)[-1])
    d = m["day"]
    return f"{d[:4]}-{d[4:6]}-{d[6:]}"
