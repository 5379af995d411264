"""Pull new deliveries from SFTP into the local inbox (production); nothing to do with the
embedded default (a local inbox that deliveries are written to directly).

The SFTP server holds the same folders as the inbox (insurer/, reports/, targets/,
population/). Only complete files are taken: an insurer CSV only once its `.ok` is there. A file
is fetched into a hidden `.<name>.part` beside its place (landing skips hidden files), resumed
from where a killed pull stopped, and renamed into place when whole; the `.ok` is written last.
A file already pulled (same size and modification time) is not fetched again, and a fetched file
the warehouse has received before under the same name and SHA-256 (the inbox was cleared since)
is not placed again. The same content under a new name is placed: landing records it as a
duplicate.
"""

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from fpa.orchestration.common import paths_from_env, reported
from fpa.state import StatePaths

SFTP_CONN_VAR = "FPA_SFTP_CONN_ID"  # an Airflow connection id; unset: local inbox only
SFTP_ROOT_VAR = "FPA_SFTP_ROOT"  # the folder on the server holding the FOLDERS
FOLDERS = ("insurer", "reports", "targets", "population")
CHUNK = 1 << 20


@dataclass
class PullResult:
    pulled: list[str] = field(default_factory=list)
    already: int = 0  # same size and time as the copy in the inbox
    landed_before: list[str] = field(default_factory=list)  # content in the archive already
    waiting: list[str] = field(default_factory=list)  # insurer CSVs without their .ok yet

    def as_dict(self) -> dict:
        return {
            "pulled": self.pulled,
            "already": self.already,
            "landed_before": self.landed_before,
            "waiting": self.waiting,
        }


@reported
def pull_new_files() -> dict:
    """The Airflow task: pull from the connection named by FPA_SFTP_CONN_ID, if any."""
    inbox, warehouse = paths_from_env()
    conn_id = os.environ.get(SFTP_CONN_VAR)
    if not conn_id:
        print(f"{SFTP_CONN_VAR} not set: deliveries arrive in the local inbox {inbox}")
        return {"source": "local inbox"}
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    hook = SFTPHook(ssh_conn_id=conn_id)
    with hook.get_managed_conn() as sftp:
        result = pull(sftp, os.environ.get(SFTP_ROOT_VAR, "."), inbox, landed_hashes(warehouse))
    print(
        f"pulled {len(result.pulled)}, {result.already} pulled before, "
        f"{len(result.landed_before)} received before, {len(result.waiting)} waiting for .ok"
    )
    return {"source": conn_id, **result.as_dict()}


def landed_hashes(warehouse: Path) -> set[tuple[str, str]]:
    """(file name, SHA-256) of every file the warehouse has received."""
    db = StatePaths(warehouse).db
    if not db.exists():
        return set()
    with duckdb.connect(str(db), read_only=True) as con:
        return set(con.execute("SELECT file_name, file_sha256 FROM audit.load_audit").fetchall())


def pull(sftp, root: str, inbox: Path, landed: set[tuple[str, str]]) -> PullResult:
    """`sftp`: a paramiko SFTPClient (what the Airflow SFTP hook hands out)."""
    result = PullResult()
    for folder in FOLDERS:
        remote_dir = f"{root.rstrip('/')}/{folder}"
        try:
            entries = {e.filename: e for e in sftp.listdir_attr(remote_dir)}
        except FileNotFoundError:
            continue
        for name, entry in sorted(entries.items()):
            if name.startswith(".") or name.endswith(".ok") or not stat.S_ISREG(entry.st_mode):
                continue
            rel = f"{folder}/{name}"
            marker = Path(name).with_suffix(".ok").name
            if folder == "insurer" and marker not in entries:
                result.waiting.append(rel)
                continue
            local = inbox / folder / name
            if (
                local.exists()
                and local.stat().st_size == entry.st_size
                and int(local.stat().st_mtime) == int(entry.st_mtime)
            ):
                result.already += 1
                continue
            part = local.with_name(f".{name}.part")
            digest = _fetch(sftp, f"{remote_dir}/{name}", part, entry.st_size)
            if (rel, digest) in landed and not local.exists():
                part.unlink()
                result.landed_before.append(rel)
                continue
            os.utime(part, (entry.st_atime, entry.st_mtime))  # arrival time = the server's
            os.replace(part, local)
            if folder == "insurer":
                local.with_suffix(".ok").touch()
            result.pulled.append(rel)
    return result


def _fetch(sftp, remote: str, part: Path, size: int) -> str:
    """Download into `part`, resuming a partial copy; the SHA-256 of the whole."""
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    with sftp.open(remote, "rb") as src, open(part, "ab") as dst:
        src.seek(have)
        src.prefetch(size)  # read ahead from the current position to the end
        while chunk := src.read(CHUNK):
            dst.write(chunk)
    h = hashlib.sha256()
    with open(part, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
