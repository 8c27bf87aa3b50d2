"""Instants as epoch seconds (UTC): the one definition of a time, for every path.

The same forms are accepted everywhere a time is read: event timestamps in every
engine (leadscore.engines.canonical builds the SQL from the pieces defined here),
the one-lead scorer, `--as-of`, `--end`. A text time is one of:

- ISO 8601 date: ``2024-05-01`` (midnight UTC);
- date and time: ``2024-05-01T13:45``, ``2024-05-01T13:45:00``, with an optional
  fraction of a second (``.5``, up to 9 digits); ``T`` or a space between the two;
- optionally followed by a zone: ``Z``, ``+02:00``, ``+0200`` or ``+02``, directly
  or after one space; a time without a zone is UTC;
- epoch seconds: ``1714571100`` or ``1714571100.25`` (decimal notation, optional sign).

Letters may be in either case and surrounding spaces are ignored. Years run from
0001 to 9999; hours 00-23 (no ``24:00``), no leap second, no named zones
(``America/New_York``), no week or ordinal dates. Epoch values of 10^11 or more
(after the year 5138) are refused as milliseconds.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime

from leadscore.errors import given, shown

SECONDS_PER_DAY = 86400.0
# Decay: an event over a thousand half-lives old counts 0 (2^-1000 is 1e-301), on every
# engine alike; PostgreSQL raises on underflow instead of rounding to 0.
MIN_EXPONENT = -1000.0
# Calibration: log-odds are clipped to this (exp overflows beyond 709; the probability
# is 0 or 1 to 15 digits long before).
MAX_LOG_ODDS = 700.0

# Epoch values at or above this size are milliseconds in practice (10^11 s is 5138 AD).
MILLISECONDS_LIKE = 1e11
# Years 0001-9999, as epoch seconds.
EARLIEST = -62135596800.0
LATEST = 253402300799.999999

# The pieces of the grammar, shared with the SQL in leadscore.engines.canonical. Both
# apply them to the text after trimming surrounding spaces and upper-casing it.
DATE_PART = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
TIME_PART = r"[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?"
ZONE_PART = r" ?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)"
ISO_PATTERN = f"^{DATE_PART}({TIME_PART}({ZONE_PART})?)?$"
EPOCH_PATTERN = r"^[+-]?[0-9]+(\.[0-9]+)?$"
# Applied to the text from its 17th character on (after "YYYY-MM-DDThh:mm").
FRACTION_PATTERN = r"^:[0-9]{2}\.([0-9]{1,9})"
ZONE_OFFSET_PATTERN = r"([+-][0-9]{2}:?([0-9]{2})?)$"

_ISO = re.compile(ISO_PATTERN)
_EPOCH = re.compile(EPOCH_PATTERN)
_FRACTION = re.compile(FRACTION_PATTERN)
_ZONE = re.compile(ZONE_OFFSET_PATTERN)
_STRIP = " \t\n\r\v\f"

FORMS = "ISO 8601 (2024-05-01T13:45:00Z) or epoch seconds"


class TimeError(ValueError):
    """A value that is not a time in one of the accepted forms (see the module)."""


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).

    Written with integer arithmetic only, so that the SQL twin in canonical.py gives
    exactly the same day on every engine without any engine parsing a date.
    """
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_text(text: str) -> float:
    """A text time (see the module) -> epoch seconds; TimeError when it is not one."""
    s = text.strip(_STRIP).upper()
    if _EPOCH.match(s):
        return check_epoch(float(s), text)
    if not _ISO.match(s):
        raise TimeError(f"{shown(text)} is not a time; expected {FORMS}")
    year, month, day = int(s[0:4]), int(s[5:7]), int(s[8:10])
    if year < 1:
        raise TimeError(f"{shown(text)} is not a time: years start at 0001")
    if day > days_in_month(year, month):
        raise TimeError(f"{shown(text)} is not a time: {year:04d}-{month:02d} has no day {day}")
    seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY
    if len(s) > 10:
        seconds += int(s[11:13]) * 3600 + int(s[14:16]) * 60
        rest = s[16:]
        if rest.startswith(":"):
            seconds += int(rest[1:3])
        fraction = _FRACTION.match(rest)
        if fraction is not None:
            seconds += float("0." + fraction.group(1))
        zone = _ZONE.search(rest)
        if zone is not None:
            offset = zone.group(1)
            minutes = int(offset[-2:]) if len(offset) > 3 else 0
            sign = -1 if offset.startswith("-") else 1
            seconds -= sign * (int(offset[1:3]) * 3600 + minutes * 60)
    return seconds


def check_epoch(seconds: float, given: object = None) -> float:
    """Epoch seconds within the years 0001-9999; milliseconds are refused as such."""
    if math.isfinite(seconds) and abs(seconds) < MILLISECONDS_LIKE:
        return seconds
    what = shown(given if given is not None else seconds)
    if not math.isfinite(seconds):
        raise TimeError(f"{what} is not a time; expected {FORMS}")
    if abs(seconds) >= MILLISECONDS_LIKE:
        raise TimeError(
            f"{what} looks like epoch milliseconds (as seconds it is after the year 5138); "
            "times are read as epoch seconds: divide by 1000"
        )
    return seconds


def to_epoch(value: object) -> float:
    """A text time, a number of epoch seconds, a datetime or a date -> epoch seconds.

    A datetime without a zone is UTC. Raises TimeError when the value is not a time.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, date):
        return days_from_civil(value.year, value.month, value.day) * SECONDS_PER_DAY
    if isinstance(value, int | float) and not isinstance(value, bool):
        return check_epoch(float(value))
    if isinstance(value, str):
        return parse_text(value)
    raise TimeError(f"{shown(value)} is not a time; expected {FORMS}")


def parse_as_of(text: str | None, option: str = given("as_of")) -> float:
    """A time option as above, default now; a bad value is a UsageError naming the option."""
    from leadscore.errors import UsageError

    if text is None:
        return datetime.now(UTC).timestamp()
    try:
        return to_epoch(text)
    except TimeError as exc:
        raise UsageError(f"{option} {exc}") from None


def format_epoch(epoch: float) -> str:
    """Epoch seconds as ISO 8601 in UTC (``2024-05-01T13:45:00Z``)."""
    if not EARLIEST <= epoch <= LATEST:
        return f"{epoch:g} (epoch seconds)"
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
