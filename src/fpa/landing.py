"""The inbox: which files are complete, what each is, and its one copy in the landing archive.

An insurer CSV counts as delivered only once its `.ok` marker is there. A file's arrival time
is its modification time (SFTP pulls keep it). Files are taken in order of arrival, so that
"the same content again" and "the later report" mean what they meant at the delivery.

The inbox is written by others (an SFTP pull, a share): what is in it is never trusted to be a
file. It is walked without following anything (lstat, never stat): a symbolic link, to a file or
a folder, and a FIFO, socket or device is never opened, read or descended, and is recorded as
received and rejected (`unsafe_file`, source `unknown`); a regular file is opened without
following a link (O_NOFOLLOW) and checked to be the one the walk saw. Every other file the
contracts do not name, wherever it sits (the inbox's top level, a `.docx` among the reports, a
`readme.txt` beside the extracts), is received as source `unknown` (rejected, `unknown_file`).
A name is recorded printable: control characters, line breaks and bytes that are not UTF-8
are written as escapes (`\\n`, `\\x1b`, `\\u202e`), so that no log line, CSV or dashboard
cell is broken or spoofed by a name; and an ID or phone number in it masked (fpa.personal.scrub:
marts.load_audit publishes the names). Both are functions of the name: the same file has the
same recorded name every night.
"""

import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpa.clock import CST
from fpa.personal import scrub

INSURER_NAME = re.compile(r"JS_(?P<kind>POLICY|CLAIM)_(?P<day>\d{8}).*\.csv", re.IGNORECASE)
WORKBOOK = (".xlsx", ".xls", ".xlsm", ".ods")  # the readers tell the format by content
SOURCE_FOLDERS = ("insurer", "reports", "targets", "population")
# the source of a workbook by the folder it arrives in
WORKBOOK_SOURCES = {"reports": "report", "targets": "target", "population": "population"}
CHUNK = 1 << 20

# what a non-regular entry is, for its audit reason (never opened)
KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


@dataclass(frozen=True)
class Received:
    source: str  # insurer_policy | insurer_claim | report | target | population | unknown
    file_name: str  # relative to the inbox, forward slashes, printable (see printable)
    path: Path
    received_at: datetime
    size: int
    # what it is when it is not a regular file (KINDS): never opened, never landed
    unsafe: str = ""
    # (st_dev, st_ino) the walk saw: the file opened must be that one
    inode: tuple[int, int] | None = None

    def sha256(self) -> str:
        """The content's SHA-256; for an unsafe entry, which is never read, a digest of what
        the walk saw of it (its kind, name and link target), stable from night to night and
        never the digest of a content."""
        h = hashlib.sha256()
        if self.unsafe:
            h.update(b"fpa unsafe entry\0" + self.unsafe.encode() + b"\0")
            h.update(self.file_name.encode() + b"\0" + self._link_target())
            return h.hexdigest()
        fd = self.open()
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return h.hexdigest()

    def _link_target(self) -> bytes:
        try:
            return os.fsencode(os.readlink(self.path))
        except OSError:
            return b""

    def open(self) -> int:
        """A read-only descriptor of the regular file the walk saw. The last component is not
        followed (O_NOFOLLOW), a FIFO swapped in does not block the open (O_NONBLOCK), and the
        file opened must be a regular file, the same one (device, inode) as the walk's."""
        if self.unsafe:
            raise UnsafeFile(f"{self.file_name}: {self.unsafe}, never opened")
        fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (
            self.inode is not None and (st.st_dev, st.st_ino) != self.inode
        ):
            os.close(fd)
            raise UnsafeFile(f"{self.file_name}: changed since the inbox was read")
        os.set_blocking(fd, True)
        return fd


class UnsafeFile(OSError):
    pass


@dataclass(frozen=True)
class Scan:
    complete: list[Received]
    waiting: list[str]  # insurer CSVs without their .ok yet


def printable(name: str) -> str:
    """A name as it is recorded and shown: control and format characters (line breaks, tabs,
    ESC, bidirectional overrides, zero-width marks), line and paragraph separators and the bytes
    that are not UTF-8 (surrogate-escaped by the file system layer) as backslash escapes; every
    other character as it is."""
    out = []
    for ch in name:
        cat = unicodedata.category(ch)
        if cat == "Cs" and 0xDC80 <= ord(ch) <= 0xDCFF:  # an undecodable byte
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif cat in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
            out.append(named or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"))
        else:
            out.append(ch)
    return "".join(out)


def _source(rel: str, name: str) -> str:
    top = rel.split("/", 1)[0] if "/" in rel else ""
    if top == "insurer":
        m = INSURER_NAME.fullmatch(name)
        return (
            "unknown"
            if not m
            else ("insurer_policy" if m["kind"].upper() == "POLICY" else "insurer_claim")
        )
    if top in WORKBOOK_SOURCES and name.lower().endswith(WORKBOOK):
        return WORKBOOK_SOURCES[top]
    return "unknown"


def _skipped(name: str) -> bool:
    """Office lock files, hidden files and folders (a sync tool's, an editor's)."""
    return name.startswith(("~$", "."))


def _walk(folder: Path, rel: tuple[str, ...] = ()):
    """(relative parts, path, lstat) of every entry under folder that is not a folder, in
    name order; folders are descended only when they are folders themselves (lstat), never
    through a link."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except (NotADirectoryError, FileNotFoundError, PermissionError):
        return  # gone, or not readable yet: its files are received the night they can be read
    for entry in entries:
        if _skipped(entry.name):
            continue
        st = entry.stat(follow_symlinks=False)
        parts = (*rel, entry.name)
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(Path(entry.path), parts)
        else:
            yield parts, Path(entry.path), st


def _is_marker(path: Path) -> bool:
    """An insurer file's .ok marker: a regular file of that name (a link is no marker)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def scan(inbox: Path) -> Scan:
    complete, waiting = [], []
    for parts, path, st in _walk(inbox):
        name = parts[-1]
        rel = scrub(printable("/".join(parts)))
        received_at = datetime.fromtimestamp(st.st_mtime, CST)
        kind = KINDS.get(stat.S_IFMT(st.st_mode))
        if kind is not None or not stat.S_ISREG(st.st_mode):
            complete.append(
                Received("unknown", rel, path, received_at, 0, unsafe=kind or "not a regular file")
            )
            continue
        if name.endswith(".ok"):
            continue  # markers
        source = _source(rel, name)
        if source.startswith("insurer_") and not _is_marker(path.with_suffix(".ok")):
            waiting.append(rel)
            continue
        complete.append(
            Received(source, rel, path, received_at, st.st_size, inode=(st.st_dev, st.st_ino))
        )
    complete.sort(key=lambda r: (r.received_at, r.file_name))
    return Scan(complete, waiting)


def archive(received: Received, sha256: str, landing: Path) -> Path:
    """Copy a file once into the archive under its checksum; an existing copy is kept as is.
    The copy is its owner's only (0600), whatever the inbox's file was; an unsafe entry is
    never copied."""
    target = landing / sha256
    if not target.exists():
        tmp = landing / f".{sha256}.part"
        src = received.open()
        try:
            dst = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
            )
            try:
                os.fchmod(dst, 0o600)  # a part file left by a killed run had its own mode
                _copy_bytes(src, dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        os.replace(tmp, target)
    return target


def _copy_bytes(src: int, dst: int) -> None:
    """src's bytes to dst. The kernel copies them (copy_file_range: no pass through this
    process's memory, half the CPU of a read/write loop on a backfill's gigabytes); where it
    cannot (another file system on an old kernel, a file system without it), the loop does."""
    try:
        while os.copy_file_range(src, dst, 1 << 30):
            pass
        return
    except OSError:
        os.lseek(src, 0, os.SEEK_SET)
        os.lseek(dst, 0, os.SEEK_SET)
        os.ftruncate(dst, 0)
    while chunk := os.read(src, CHUNK):
        os.write(dst, chunk)


def receipt(
    landing: Path,
    source: str,
    file_name: str,
    sha256: str,
    received_at: datetime,
    reason_code: str | None = None,
    reason: str | None = None,
) -> Received:
    """A file received before (a row of audit.load_audit, `fpa load --from-archive`), as the
    archive holds it: its landing copy; for an entry rejected as unsafe, which was never landed,
    the same rejection again (its kind is what its reason ends with)."""
    copy = landing / sha256
    received_at = received_at.astimezone(CST)
    if reason_code == "unsafe_file":
        kind = (reason or "").rsplit(": ", 1)[-1] or "not a regular file"
        return Received(source, file_name, copy, received_at, 0, unsafe=kind)
    return Received(source, file_name, copy, received_at, copy.stat().st_size)


def insurer_day(file_name: str) -> str:
    """YYYY-MM-DD of an insurer file's business day, from its name."""
    m = INSURER_NAME.fullmatch(file_name.rsplit("/", 1)[-1])
    d = m["day"]
    return f"{d[:4]}-{d[4:6]}-{d[6:]}"
