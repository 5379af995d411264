"""China Standard Time: every date and time of the sources (contract: Asia/Shanghai)."""

from datetime import timedelta, timezone

# A fixed offset: China has kept UTC+8 without daylight saving since 1991, and this needs no
# time zone database on the machine.
CST = timezone(timedelta(hours=8), "Asia/Shanghai")
