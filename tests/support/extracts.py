"""Insurer policy extracts built by hand, row by row, as the contract lays them out (GB18030,
CRLF, header, rows, TRAILER), each with its .ok marker and its arrival (mtime): the data-issue
tests write a bad row one night and its correction another."""

import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from fpa.clock import CST
from support.deliveries import POLICY_HEADER, id_number

HEXCHI = ("451202", "金城江区", "河池市")


def person(n: int, county: str = HEXCHI[0]) -> str:
    """A well-formed ID number (GB 11643 check digit) of a person born in 1980 in `county`."""
    return id_number(f"{county}1980{(n % 12) + 1:02d}{(n % 28) + 1:02d}{n % 1000:03d}")


def broken(id_no: str) -> str:
    """The same ID with a wrong check character."""
    check = "0123456789X"
    return id_no[:17] + check[(check.index(id_no[17]) + 1) % 11]


def policy(
    no: str,
    written: date,
    id_no: str,
    units: int = 2,
    premium: str = "100.00",
    status: str = "有效",
    changed: date | None = None,
    county: tuple[str, str, str] = HEXCHI,
) -> str:
    """One JSGA policy row (50 元 a unit)."""
    _, county_name, city_name = county
    return (
        f"{no},JSGA,计生家庭关爱保险,{written},{written},{written.replace(year=written.year + 1)},"
        f"{units},{premium},测试某,身份证,{id_no},13900001234,{city_name},{county_name},"
        f"中国人寿河池分公司,{status},{changed or ''}"
    )


def arrival(day: date, hour: int = 1, minute: int = 30) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CST).timestamp()


def policy_file(
    inbox: Path, day: date, rows: list[str], when: float, name: str = "", cut: bool = False
) -> Path:
    """JS_POLICY_<day>.csv (or `name`) with its rows, their TRAILER (none when cut: a transfer
    cut short) and a .ok marker, arriving at `when`."""
    lines = [POLICY_HEADER, *rows]
    if not cut:
        total = sum(Decimal(r.split(",")[7]) for r in rows)
        lines.append(f"TRAILER,{len(rows)},{total:.2f}")
    path = inbox / "insurer" / (name or f"JS_POLICY_{day:%Y%m%d}.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    path.with_suffix(".ok").touch()
    os.utime(path, (when, when))
    return path
