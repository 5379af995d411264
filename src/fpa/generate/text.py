"""Money as text, exactly."""

import numpy as np


def fmt_cents(cents) -> np.ndarray:
    """Cents as yuan with two decimals, exactly (no float on the way)."""
    return np.array(
        [
            f"-{-c // 100}.{-c % 100:02d}" if c < 0 else f"{c // 100}.{c % 100:02d}"
            for c in np.asarray(cents, dtype=np.int64).tolist()
        ],
        dtype=object,
    )
