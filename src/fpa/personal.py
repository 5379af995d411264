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
import re
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
    precomputed, and in SQL (sql()), which the loader uses: DuckDB hashes a batch on all its
    threads, where a Python UDF called row by row was a large share of an ingest."""

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


# scrub(): personal numbers in free text. Digits are ASCII or full width (a 备注 typed with a
# Chinese input method); a number counts only as a whole run of digits, so a longer one (a
# policy number, a timestamp) is not cut into an ID or a phone. Whatever the gate's
# personal_data suite flags (expectations/suites.yml) is masked, and more: it takes a number
# bounded by anything but a letter or digit, scrub() one bounded by anything but a digit.
_D = "[0-9\uff10-\uff19]"
_SEP = "[-\u2010-\u2015\uff0d ]"  # hyphen, dashes, full-width hyphen, space
_ID_TAIL = "[0-9\uff10-\uff19Xx\uff38\uff58]"
_PERSONAL_NUMBER = re.compile(
    # the lookahead first: a position that starts no number is passed over before the
    # lookbehind is tried (a third of the search)
    rf"(?=[0-9\uff10-\uff19+\uff0b(\uff08])(?<!{_D})(?:"
    rf"(?P<id>{_D}{{17}}{_ID_TAIL}|{_D}{{15}})"
    rf"|(?P<country>(?:\+|\uff0b)?[8\uff18][6\uff16]{_SEP}?)?"
    rf"(?P<mobile>[1\uff11][3-9\uff13-\uff19]{_D}{_SEP}?{_D}{{4}}{_SEP}?{_D}{{4}})"
    rf"|(?P<area>[(\uff08]?[0\uff10]{_D}{{2,3}}[)\uff09]?{_SEP}?)(?P<local>{_D}{{7,8}})"
    rf")(?!{_D})"
)
_DIGIT = re.compile(_D)
# every form above has 7 digits or separators in a row, starting with a digit: looking for
# them costs a fifteenth of the full pattern's search, and most free text has none
_MAYBE = re.compile(rf"{_D}(?:{_D}|{_SEP}){{6}}")


def _mask_match(m: re.Match) -> str:
    text = m.group()
    if m.group("id"):
        return mask_id(text)
    if m.group("mobile"):
        digits = _DIGIT.findall(m.group("mobile"))
        return (m.group("country") or "") + "".join(digits[:3]) + "****" + "".join(digits[-4:])
    # a landline: its area code is a region, kept; where it ends is a guess without a bracket
    # or separator, so then only 3 digits are
    area = m.group("area")
    if _DIGIT.match(area[-1]):
        return text[:3] + "*" * (len(text) - 3)
    return area + "*" * len(m.group("local"))


def scrub(text: str) -> str:
    """text with every ID number (18 characters, or an old 15-digit one), mobile number (11
    digits from 13–19, with or without +86 and separators) and landline (0 + a 2–3 digit area
    code, perhaps in brackets, + 7–8 digits) masked: an ID as mask_id() masks it, a mobile as
    138****5678, a landline to its area code. Dates, money, 6-digit region codes and other
    numbers are left as they are. The last defence for free text that may hold what a person
    typed (a reason, a 备注)."""
    if not text or len(text) < 10 or not _MAYBE.search(text):
        return text
    return _PERSONAL_NUMBER.sub(_mask_match, text)
