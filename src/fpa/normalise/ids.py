"""Mainland ID numbers (居民身份证号码, GB 11643-1999): check digit and normal form."""

import numpy as np

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # indexed by (weighted sum of the 17 digits) mod 11


def check_digit(body: str) -> str:
    """The 18th character for a 17-digit body."""
    if len(body) != 17 or not body.isdigit():
        raise ValueError(f"an ID body has 17 digits, got {body!r}")
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def normalise(id_number: str) -> str:
    """Stray spaces removed and a lower-case x made upper case (the only forms that normalise)."""
    return id_number.strip().upper()


def is_valid(id_number: str) -> bool:
    n = normalise(id_number)
    return len(n) == 18 and n[:17].isdigit() and check_digit(n[:17]) == n[17]


def check_digits(bodies: np.ndarray) -> np.ndarray:
    """Vectorised check_digit over 17-digit bodies given as int64 (for millions of IDs at once)."""
    rest = bodies.astype(np.int64).copy()
    total = np.zeros(len(rest), dtype=np.int64)
    for w in reversed(WEIGHTS):  # least significant digit carries the last weight
        total += (rest % 10) * w
        rest //= 10
    return np.array(list(CHECK_CHARS))[total % 11]
