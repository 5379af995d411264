"""Opening a delivered workbook so that no file can stop the night.

A spreadsheet reader allocates what a file declares: one cell at XFD1048576 makes calamine
ask for a grid of 16,384 × 1,048,576 cells and abort the process, a small zip that inflates to
gigabytes exhausts the machine. So every workbook is read in a child process (`Reader`) whose
address space is capped and whose time is bounded, after a pre-scan (`prescan`) that streams
the file's parts and rejects, before any reader allocates, a file over the limits (`Limits`:
far above any real report — a city's month has hundreds of activities, not millions). A file
that still kills the reader is rejected with the reason; the parent carries on. And the file
being read is recorded beside the state before it is read (`Marker`), so that a run killed
while reading it (by the kernel, say) rejects that file on the next night instead of dying on
it again.
"""

import io
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import traceback
import zipfile
from dataclasses import asdict, dataclass, fields
from multiprocessing.connection import Connection
from pathlib import Path

import python_calamine

from fpa.quarantine import Reason
from fpa.sources.common import Rejected

ENV_PREFIX = "FPA_WORKBOOK_MAX_"
READER_LIMITS_ENV = "FPA_WORKBOOK_READER_LIMITS"  # the limits, handed to the reader process


@dataclass(frozen=True)
class Limits:
    """What a workbook may be before it is read; each can be set by FPA_WORKBOOK_MAX_<NAME>
    (FPA_WORKBOOK_MAX_ROWS=50000, say)."""

    file_bytes: int = 20 << 20  # on disk (a real monthly report: tens of KB)
    inflated_bytes: int = 200 << 20  # all parts of an .xlsx/.ods once unzipped
    rows: int = 20_000  # of one sheet
    columns: int = 500  # of one sheet
    seconds: float = 60.0  # to read and parse one workbook
    memory_bytes: int = 2 << 30  # the reader process's address space

    @classmethod
    def from_env(cls) -> "Limits":
        values = {}
        for f in fields(cls):
            raw = os.environ.get(ENV_PREFIX + f.name.upper())
            if raw:
                values[f.name] = float(raw) if f.type in ("float", float) else int(raw)
        return cls(**values)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


_CELL_REF = re.compile(rb'<(?:\w+:)?c\b[^>]*?\sr="([A-Z]{1,4})([0-9]{1,8})"')
_ROW_REF = re.compile(rb'<(?:\w+:)?row\b[^>]*?\sr="([0-9]{1,8})"')
_CHUNK = 1 << 20


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def _column_letters(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def prescan(path: Path, limits: Limits) -> None:
    """Reject, before any reader allocates, a file over the limits: its size, what its zip
    parts inflate to (streamed and counted, never held), and the furthest cell a worksheet
    of an .xlsx addresses. An .xls is bounded by its format (65,536 × 256) and the reader's
    memory cap; an .ods's repeated rows are left to the reader's cap and the row limit (an
    office suite writes repeats of a million empty rows into every sheet it saves)."""
    size = path.stat().st_size
    if size > limits.file_bytes:
        raise Rejected(
            Reason.WORKBOOK_TOO_LARGE,
            f"the file is {_mib(size)}; the limit is {_mib(limits.file_bytes)}",
        )
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as z:
            inflated = 0
            for info in z.infolist():
                is_sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(
                    ".xml"
                )
                max_row = max_col = 0
                tail = b""
                with z.open(info) as part:
                    while chunk := part.read(_CHUNK):
                        inflated += len(chunk)
                        if inflated > limits.inflated_bytes:
                            raise Rejected(
                                Reason.WORKBOOK_TOO_LARGE,
                                f"its parts inflate to more than {_mib(limits.inflated_bytes)} "
                                f"(the file is {_mib(size)})",
                            )
                        if is_sheet:
                            text = tail + chunk
                            for m in _CELL_REF.finditer(text):
                                max_col = max(max_col, _column_number(m[1]))
                                max_row = max(max_row, int(m[2]))
                            for m in _ROW_REF.finditer(text):
                                max_row = max(max_row, int(m[1]))
                            tail = text[-256:]  # a reference cut by the chunk's end
                if is_sheet and (max_row > limits.rows or max_col > limits.columns):
                    raise Rejected(
                        Reason.WORKBOOK_TOO_LARGE,
                        f"{info.filename.rsplit('/', 1)[-1]} has a cell at "
                        f"{_column_letters(max_col)}{max_row} ({max_row:,} rows, {max_col:,} "
                        f"columns); the limit is {limits.rows:,} rows and {limits.columns:,} "
                        "columns",
                    )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as e:
        raise Rejected(Reason.WORKBOOK_CORRUPT, f"a broken zip ({type(e).__name__})") from e


def open_workbook(path: Path) -> python_calamine.CalamineWorkbook:
    """Content decides the format (the landing copy has no extension)."""
    try:
        return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(path.read_bytes()))
    except Exception as e:  # calamine raises its own error types for every broken file
        # the error's text can quote the file's cells: only its kind goes into the reason
        raise Rejected(Reason.WORKBOOK_CORRUPT, f"the reader says {type(e).__name__}") from e


def sheet_rows(wb: python_calamine.CalamineWorkbook, name: str, limits: Limits) -> list[list]:
    """A sheet's cells, within the limits (an .xls or .ods the pre-scan cannot bound)."""
    try:
        sheet = wb.get_sheet_by_name(name)
    except Exception as e:
        raise Rejected(
            Reason.WORKBOOK_CORRUPT, f"sheet {name}: the reader says {type(e).__name__}"
        ) from e
    if sheet.height > limits.rows or sheet.width > limits.columns:
        raise Rejected(
            Reason.WORKBOOK_TOO_LARGE,
            f"sheet {name} has {sheet.height:,} rows and {sheet.width:,} columns; the limit is "
            f"{limits.rows:,} rows and {limits.columns:,} columns",
        )
    try:
        return sheet.to_python(skip_empty_area=False)
    except Exception as e:
        raise Rejected(
            Reason.WORKBOOK_CORRUPT, f"sheet {name}: the reader says {type(e).__name__}"
        ) from e


def merged_ranges(
    wb: python_calamine.CalamineWorkbook, name: str, path: Path
) -> list[tuple[int, int, int, int]]:
    """(first row, first column, last row, last column), 0-based, of each merged range of a
    sheet: calamine's for .xlsx and .xls, the spans of content.xml for an .ods (calamine
    keeps none of those)."""
    try:
        ranges = wb.get_sheet_by_name(name).merged_cell_ranges
    except Exception:
        ranges = None
    if ranges is not None:
        return [(r1, c1, r2, c2) for (r1, c1), (r2, c2) in ranges]
    return _ods_merges(path, name) if zipfile.is_zipfile(path) else []


_ODS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


def _ods_merges(path: Path, name: str) -> list[tuple[int, int, int, int]]:
    from xml.etree.ElementTree import iterparse  # noqa: PLC0415 (only .ods need it)

    def attr(el, a: str, default: int = 1) -> int:
        return int(el.get(f"{{{_ODS_TABLE}}}{a}", default))

    out: list[tuple[int, int, int, int]] = []
    try:
        with zipfile.ZipFile(path) as z, z.open("content.xml") as f:
            inside, r, c = False, 0, 0
            for event, el in iterparse(f, events=("start", "end")):
                tag = el.tag.rsplit("}", 1)[-1]
                if tag == "table" and event == "start":
                    inside, r = el.get(f"{{{_ODS_TABLE}}}name") == name, 0
                elif tag == "table" and event == "end":
                    if inside:
                        break
                elif inside and tag == "table-row" and event == "start":
                    c = 0
                elif inside and tag == "table-row" and event == "end":
                    r += attr(el, "number-rows-repeated")
                    el.clear()
                elif inside and tag in ("table-cell", "covered-table-cell") and event == "end":
                    rows, cols = attr(el, "number-rows-spanned"), attr(el, "number-columns-spanned")
                    if rows > 1 or cols > 1:
                        out.append((r, c, r + rows - 1, c + cols - 1))
                    c += attr(el, "number-columns-repeated")
    except (KeyError, zipfile.BadZipFile, SyntaxError, ValueError):
        return []
    return out


# --- the reader process ------------------------------------------------------------------


def _parse(kind: str, path: str, file_name: str, sha256: str, received_at, limits: Limits):
    from fpa.sources import population, reports, targets
    from fpa.state import RowBuffer

    out = RowBuffer()
    try:
        prescan(Path(path), limits)
        module = {"report": reports, "target": targets, "population": population}[kind]
        outcome = module.parse(out, Path(path), file_name, sha256, received_at, limits)
    except Rejected as r:
        return ("rejected", str(r.code), r.detail)
    except MemoryError:
        return ("rejected", str(Reason.WORKBOOK_TOO_LARGE), "it needs more memory than the limit")
    except Exception as e:  # a parser bug must not stop the night; the file waits for a fix
        frame = traceback.extract_tb(e.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return (
            "rejected",
            str(Reason.WORKBOOK_CORRUPT),
            f"the parser failed ({type(e).__name__} at {where}): after a fix, "
            "`fpa load --from-archive` reads it again",
        )
    return ("loaded", out.tables, outcome)


def _serve(conn, limits: Limits) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(_parse(*job, limits))


class Reader:
    """One child process that parses workbooks one at a time, started on first use and again
    after a file killed it or ran out of time. A plain subprocess on a socket pair, not a
    multiprocessing.Process: an Airflow task on a Celery worker runs in a daemonic process,
    which multiprocessing forbids to have children, and a fork beside DuckDB's threads is
    unsafe."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits.from_env()
        self._proc: subprocess.Popen | None = None
        self._conn = None

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "fpa.sources.spreadsheet", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env={**os.environ, READER_LIMITS_ENV: json.dumps(asdict(self.limits))},
        )
        theirs.close()
        self._conn = Connection(ours.detach())

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._conn.close()
        self._proc = self._conn = None

    def parse(self, kind: str, path: Path, file_name: str, sha256: str, received_at):
        """("loaded", tables, Outcome) or ("rejected", reason code, detail)."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        try:
            self._conn.send((kind, str(path), file_name, sha256, received_at))
            if self._conn.poll(self.limits.seconds):
                return self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass
        else:
            self._stop()
            return (
                "rejected",
                str(Reason.WORKBOOK_TOO_LARGE),
                f"reading it took longer than {self.limits.seconds:g} s",
            )
        try:
            code = self._proc.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        self._stop()
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit {code}"
        return (
            "rejected",
            str(Reason.READER_CRASHED),
            f"it stopped the reader ({how}) within its {_mib(self.limits.memory_bytes)} memory cap",
        )

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._conn.send(None)
                self._proc.wait(5)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                pass
        self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Marker:
    """The file being read, written beside the state before it is read. If the run dies while
    reading it, the next run moves the entry to a list of files that killed a run (kept until
    a run has recorded them) and rejects those files unread."""

    def __init__(self, state_root: Path):
        self.path = state_root / "reading.json"
        self.crashed_path = state_root / "crashed.json"

    def _read(self, path: Path) -> dict[str, str]:
        try:
            entries = json.loads(path.read_text())
            return {e["sha256"]: e["file_name"] for e in entries}
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return {}

    def _write(self, path: Path, entries: dict[str, str]) -> None:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            rows = [{"sha256": k, "file_name": v} for k, v in entries.items()]
            json.dump(rows, f, ensure_ascii=False)
        os.replace(tmp, path)

    def crashed(self) -> dict[str, str]:
        """sha256 → file name of every file a killed run was reading, not yet recorded."""
        entries = self._read(self.crashed_path) | self._read(self.path)
        if self.path.exists():
            self._write(self.crashed_path, entries)
            self.path.unlink()
        return entries

    def reading(self, sha256: str, file_name: str) -> None:
        self._write(self.path, {sha256: file_name})

    def done(self) -> None:
        self.path.unlink(missing_ok=True)

    def recorded(self) -> None:
        """The run has committed its outcomes, those of the crashed files among them."""
        self.crashed_path.unlink(missing_ok=True)


if __name__ == "__main__":  # the reader process (Reader._start)
    _serve(Connection(int(sys.argv[1])), Limits(**json.loads(os.environ[READER_LIMITS_ENV])))
