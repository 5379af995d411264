"""Personal data: the keyed hash that stands for a person, and masks for quarantined rows.

Names and phone numbers are dropped at parse time; an ID number is kept only as
HMAC-SHA256(key, normalised ID), truncated to its first 128 bits (RFC 2104 §5 allows truncation
to half the hash) and stored as a UHUGEINT: 16 bytes where the 64-digit hex took 64 and cost
compression on every write, and counting distinct persons compares integers, not strings. At
ten million persons the chance that two share a key is below 1 in 10^24. The key comes from
FPA_HMAC_KEY (production: an Airflow connection exports it), else from a key file the warehouse
creates beside its state on first use (the demo's local key). Losing the key means new runs
count the same people anew: keep it with the warehouse folder.
"""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_ENV = "FPA_HMAC_KEY"
_PADS = "temp.person_key_pads"


def load_key(state_dir: Path) -> bytes:
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    path = state_dir / "hmac.key"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return path.read_text().strip().encode()


class PersonHasher:
    """HMAC-SHA256-128 of normalised IDs, an int below 2**128: in Python with the keyed state
    precomputed (about 1 µs an ID), and in SQL (sql()), which the loader uses: DuckDB hashes a
    batch on all its threads, where a Python UDF called row by row cost 18 % of an ingest."""

    def __init__(self, key: bytes):
        if len(key) > 64:
            raise ValueError("HMAC key longer than the SHA-256 block: use at most 64 bytes")
        block = key.ljust(64, b"\0")
        self._inner_pad = bytes(b ^ 0x36 for b in block)
        self._outer_pad = bytes(b ^ 0x5C for b in block)
        self._inner = hashlib.sha256(self._inner_pad)
        self._outer = hashlib.sha256(self._outer_pad)
        self._key = key

    def __call__(self, id_number: str) -> int:
        inner = self._inner.copy()
        inner.update(id_number.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return truncate(outer.digest())

    def install(self, con) -> None:
        """Make sql() usable on a DuckDB connection: the keyed pads in a one-row temp table (a
        query parameter would be folded into the plan, where EXPLAIN and profiles show it)."""
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_PADS} (inner_pad BLOB, outer_pad BLOB)")
        con.execute(f"INSERT INTO {_PADS} VALUES (?, ?)", [self._inner_pad, self._outer_pad])

    @staticmethod
    def sql(id_sql: str) -> str:
        """SQL for the same hash of the VARCHAR expression id_sql, on a connection install() has
        prepared: HMAC spelled out with DuckDB's sha256 (RFC 2104: H(key ^ opad || H(key ^ ipad
        || message))), vectorised on DuckDB's threads; its first 32 hex digits as a UHUGEINT."""
        inner = f"sha256((SELECT inner_pad FROM {_PADS}) || encode({id_sql}))"
        outer = f"sha256((SELECT outer_pad FROM {_PADS}) || unhex({inner}))"
        return f"('0x' || left({outer}, 32))::UHUGEINT"

    def reference(self, id_number: str) -> int:  # the library's HMAC, for tests
        return truncate(hmac.new(self._key, id_number.encode(), hashlib.sha256).digest())


KEY_BYTES = 16  # of the HMAC kept


def truncate(digest: bytes) -> int:
    """The person key of a full HMAC-SHA256 digest: its first 128 bits, big-endian."""
    return int.from_bytes(digest[:KEY_BYTES], "big")


# SQL: the key of a person_key written before keys were truncated (64 hex digits)
HEX_KEY_TO_INT = "('0x' || left(person_key, 32))::UHUGEINT"


def mask_id(v: str | None) -> str | None:
    """The county prefix only: enough to trace a region, nothing of the person."""
    if not v:
        return v
    return v.strip()[:6] + "*" * max(len(v.strip()) - 6, 0)
