"""Where the project's own data lives (seeds, configuration), wherever it is run from; and the
rule for what the warehouse writes: its owner's only."""

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The package runs from a checkout (uv's editable install) or the project's image, both of which
# carry the whole tree; FPA_HOME points elsewhere when needed.
PROJECT_ROOT = Path(os.environ.get("FPA_HOME") or Path(__file__).resolve().parents[2])
DBT_DIR = PROJECT_ROOT / "dbt"
SEEDS_DIR = DBT_DIR / "seeds"

# The state holds keyed hashes, the HMAC key beside it, every delivered file as it came (names
# and ID numbers in clear) and the candidates; the logs hold what the tools print. None of it is
# for another account of the machine: folders 0700, files 0600 (the published file 0400).
PRIVATE_UMASK = 0o077


@contextmanager
def private_files() -> Iterator[None]:
    """Everything created in the block, by this process and by the children it starts, is its
    owner's only. The umask is the process's: children (dbt, GX, Airflow) inherit it, and
    DuckDB's files (database, WAL, spill) and the tools' logs are created under it."""
    before = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(before)


def private_dir(path: Path) -> Path:
    """`mkdir -p` whose new folders are 0700 (whatever the umask), and `path` itself made 0700
    with what an earlier version left readable inside it (tighten)."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    path.mkdir(parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, 0o700)
    tighten(path)
    return path


def private_parent(file: Path) -> None:
    """The folder of a file the warehouse writes (the published file's own folder): created
    0700 when it does not exist. An existing folder is the operator's (a home directory, a
    mount) and is left as it is: what is sensitive in it sits in 0700 folders or 0400/0600
    files of its own."""
    if not file.parent.exists():
        private_dir(file.parent)


def tighten(folder: Path, inside: bool = False) -> None:
    """A folder written by an earlier version (0755, files 0644) made owner-only, its contents
    included. A folder that is 0700 already is taken to be tight inside (one stat a night),
    unless `inside`: what was copied into it kept the modes of its source."""
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or not (inside or st.st_mode & 0o077):
        return
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            p = os.path.join(root, name)
            s = os.lstat(p)
            if not stat.S_ISLNK(s.st_mode) and s.st_mode & 0o077:
                os.chmod(p, stat.S_IMODE(s.st_mode) & ~0o077)
    os.chmod(folder, 0o700)


def private_file(path: Path) -> None:
    """A file created by a library that ignores the umask, or before it was set."""
    if path.exists() and os.stat(path).st_mode & 0o077:
        os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~0o077)


def write_private(path: Path, data: str | bytes) -> None:
    """`path` replaced whole by `data` (text as UTF-8), its owner's only (0600) from the
    moment it exists: written beside it under a hidden name, never through a link, then
    renamed over it, so a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(tmp, path)
