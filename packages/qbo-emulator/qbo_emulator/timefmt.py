"""Time as QuickBooks Online writes and reads it.

QBO stamps objects with second-precision Pacific times (``-08:00`` in winter, ``-07:00`` in
summer), puts a millisecond Pacific time in each response's ``time`` field, and accepts
datetime literals in queries with any offset, ``Z``, no offset (company time, Pacific) or a
bare date. Everything inside the emulator is an integer epoch second; this module converts.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")

# DST changes happen on whole UTC hours, so the offset is constant within a UTC hour.
_offset_by_hour: dict[int, int] = {}


def pacific_offset(epoch: int) -> int:
    """Seconds east of UTC (-28800 or -25200) of Pacific time at ``epoch``."""
    hour = epoch // 3600
    off = _offset_by_hour.get(hour)
    if off is None:
        dt = datetime.fromtimestamp(hour * 3600, PACIFIC)
        off = int(dt.utcoffset().total_seconds())
        _offset_by_hour[hour] = off
    return off


def _suffix(off: int) -> str:
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"


_day_str: dict[int, str] = {}
_SUFFIX = {-28800: "-08:00", -25200: "-07:00"}


def _date_of_day(day: int) -> str:
    s = _day_str.get(day)
    if s is None:
        t = time.gmtime(day * 86400)
        s = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        _day_str[day] = s
    return s


def fmt(epoch: int) -> str:
    """``2024-03-10T01:59:59-08:00``: the MetaData timestamp format."""
    epoch = int(epoch)
    off = _offset_by_hour.get(epoch // 3600)
    if off is None:
        off = pacific_offset(epoch)
    local = epoch + off
    day, sec = divmod(local, 86400)
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    suffix = _SUFFIX.get(off) or _suffix(off)
    return f"{_date_of_day(day)}T{h:02d}:{m:02d}:{s:02d}{suffix}"


def fmt_ms(epoch: float) -> str:
    """``2020-09-29T06:03:53.438-07:00``: the response envelope ``time`` format."""
    whole = int(epoch)
    ms = round((epoch - whole) * 1000)
    if ms >= 1000:
        whole, ms = whole + 1, 0
    s = fmt(whole)
    return f"{s[:19]}.{ms:03d}{s[19:]}"


def pacific_date(epoch: int) -> str:
    """The Pacific calendar date of ``epoch`` as ``YYYY-MM-DD``."""
    epoch = int(epoch)
    return _date_of_day((epoch + pacific_offset(epoch)) // 86400)


def local_epoch(  # noqa: PLR0917
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0
) -> int:
    """Epoch of a Pacific wall-clock time (the earlier instant when ambiguous)."""
    return int(datetime(year, month, day, hour, minute, sec, tzinfo=PACIFIC).timestamp())


def date_epoch(d: str) -> int:
    """Epoch of Pacific midnight starting the date ``YYYY-MM-DD``."""
    y, m, dd = (int(x) for x in d[:10].split("-"))
    return local_epoch(y, m, dd)


@lru_cache(maxsize=65536)
def add_days(d: str, days: int) -> str:
    return (date.fromisoformat(d[:10]) + timedelta(days=days)).isoformat()


_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?)?$"
)


def parse_datetime(text: str) -> float:
    """Parse a query or CDC datetime literal to an epoch (float seconds).

    Accepts ``2009-10-14T04:05:05-07:00``, ``1990-12-12T12:50:30Z``,
    ``2011-08-10T10:20:30-0700``, fractional seconds, no offset (Pacific wall clock) and a
    bare date (Pacific midnight). Raises ``ValueError`` otherwise.
    """
    m = _DT_RE.match(text.strip())
    if not m:
        raise ValueError(f"invalid datetime {text!r}")
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    base = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
    fraction = float("0." + frac) if frac else 0.0
    if tz is None:
        return base.replace(tzinfo=PACIFIC).timestamp() + fraction
    if tz in ("Z", "z"):
        off = 0
    else:
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        off = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    naive_utc = (base - datetime(1970, 1, 1)).total_seconds()
    return naive_utc - off + fraction
