"""Fake but well-formed personal data: ID numbers, names and phone numbers, from a person key.

A person is a key (county, k); the same key always gives the same ID, name and phone, so one
person's rows agree across files. No real person's data is used: names are drawn from common
surnames and given-name characters, IDs are built from a county's real code prefix, a birth date
and a sequence number chosen by a bijection of k, with a correct GB 11643 check digit.
"""

import numpy as np
import pandas as pd

from fpa.normalise.ids import check_digits

SURNAMES = list("韦黄李陆覃蒙莫梁农罗刘陈杨廖卢潘蓝谢吴周张王何唐邓冯苏林曾钟赵欧阳甘")
GIVEN = list("秀丽兰芳华英梅玉凤桂春金海明国强建平文军志伟红艳燕霞婷敏杰涛斌勇宁凯")
MOBILE_PREFIXES = np.array(["138", "139", "150", "158", "177", "180", "186", "189"])

BIRTH_FROM = np.datetime64("1950-01-01")
BIRTH_DAYS = 20089  # births 1950-01-01 … 2004-12-31
_CAPACITY = BIRTH_DAYS * 1000  # (birth date, 3-digit sequence) pairs per county
_STEP = 7919  # prime, coprime with the capacity: k -> k*STEP mod capacity is a bijection


def id_bodies(county_codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The first 17 digits of the IDs of persons `keys` of counties `county_codes`, as int64:
    county code, birth date, sequence number."""
    if (keys >= _CAPACITY).any():
        raise ValueError("person key beyond the ID space of a county")
    slot = (keys.astype(np.int64) * _STEP + 104729) % _CAPACITY
    birth = BIRTH_FROM + (slot // 1000).astype("timedelta64[D]")
    y = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    m = (birth.astype("datetime64[M]") - birth.astype("datetime64[Y]")).astype(np.int64) + 1
    d = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    return county_codes.astype(np.int64) * 10**11 + y * 10**7 + m * 10**5 + d * 10**3 + slot % 1000


def check_codes(bodies: np.ndarray) -> np.ndarray:
    """The check character of each body as its index in "0123456789X"."""
    return np.searchsorted(np.array(list("0123456789X")), check_digits(bodies))


def _mix(keys: np.ndarray, salt: int) -> np.ndarray:
    x = (keys.astype(np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B97F4A7C15)
    return (x ^ (x >> np.uint64(29))).astype(np.uint64)


def name_codes(keys: np.ndarray) -> pd.Categorical:
    """Names as a categorical over every surname + one or two given characters."""
    h = _mix(keys, 1)
    ns, ng = np.uint64(len(SURNAMES)), np.uint64(len(GIVEN))
    s = (h % ns).astype(np.int64)
    g1 = ((h >> np.uint64(8)) % ng).astype(np.int64)
    g2 = ((h >> np.uint64(16)) % ng).astype(np.int64)
    two = ((h >> np.uint64(24)) % np.uint64(10)) < 6
    code = (s * len(GIVEN) + g1) * (len(GIVEN) + 1) + np.where(two, g2 + 1, 0)
    return pd.Categorical.from_codes(code, _ALL_NAMES)


_ALL_NAMES = [s + g1 + g2 for s in SURNAMES for g1 in GIVEN for g2 in [""] + GIVEN]


def phone_parts(keys: np.ndarray) -> tuple[pd.Categorical, np.ndarray]:
    """Mobile numbers as (3-digit prefix, 8 more digits)."""
    h = _mix(keys, 2)
    prefix = (h % np.uint64(len(MOBILE_PREFIXES))).astype(np.int64)
    rest = ((h >> np.uint64(8)) % np.uint64(10**8)).astype(np.int64)
    return pd.Categorical.from_codes(prefix, list(MOBILE_PREFIXES)), rest
