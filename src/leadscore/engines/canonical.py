"""Raw input tables -> the canonical tables the compiler expects, in Ibis only.

Canonical leads: the id and every attribute the model reads, as text.
Canonical events: `lead_id` (text), `event` (text), `ts` (epoch seconds) and every
property the model reads, as text. Raw tables carry `_ls_row`, the row number used
in error messages.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from leadscore import timeutil
from leadscore.values import INTEGRAL_TEXT_LIMIT

ROW = "_ls_row"
EVENT_REQUIRED = ("lead_id", "event", "timestamp")


def text_form(col: ir.Value) -> ir.StringValue:
    """A typed column as text, the way leadscore.values.text_form writes a value."""
    kind = col.type()
    if kind.is_string():
        return col
    if kind.is_boolean():
        return ibis.ifelse(col, "true", "false")
    if kind.is_integer():
        return col.cast("string")
    if kind.is_floating() or kind.is_decimal():
        as_float = col.cast("float64")
        # round(0) stays a float: floor() is an integer in Ibis, which 1e20 overflows.
        integral = (as_float.abs() < INTEGRAL_TEXT_LIMIT) & (as_float.round(0) == as_float)
        whole = ibis.ifelse(integral, as_float, 0.0).cast("int64").cast("string")
        text = ibis.ifelse(integral, whole, as_float.cast("string"))
        return ibis.ifelse(as_float.isnan(), ibis.null("string"), text)
    return col.cast("string")


EpochMicros = Callable[[ir.TimestampValue], ir.IntegerValue]


Regex = Callable[[str], str]


def _as_written(pattern: str) -> str:
    return pattern


def epoch_seconds(
    col: ir.Value, epoch_us: EpochMicros | None = None, regex: Regex = _as_written
) -> ir.FloatingValue:
    """Event time as epoch seconds; null where it is not a time (checked separately).

    `epoch_us` is an engine's native instant -> microseconds function: Ibis reads a
    zoned timestamp through a cast to local time, which costs ten times as much.
    Text follows leadscore.timeutil's grammar, computed from its digits with
    arithmetic only, so that every engine reads every text time the same way;
    `regex` writes its patterns in the engine's syntax (Dialect.regex).
    """
    kind = col.type()
    if kind.is_timestamp():
        if epoch_us is not None:
            return epoch_us(col).cast("float64") / 1e6
        if kind.timezone is None:  # a time without a zone is UTC
            return col.epoch_seconds().cast("float64")
        return col.cast(dt.Timestamp()).epoch_seconds().cast("float64")
    if kind.is_date():
        return col.cast(dt.Timestamp()).epoch_seconds().cast("float64")
    if kind.is_numeric():
        return _plausible_epoch(col.cast("float64"))
    return text_epoch_seconds(text_form(col), regex)


def _plausible_epoch(seconds: ir.FloatingValue) -> ir.FloatingValue:
    """Null for epoch values that are milliseconds in practice (timeutil.check_epoch)."""
    return ibis.ifelse(seconds.abs() < timeutil.MILLISECONDS_LIKE, seconds, ibis.null("float64"))


def text_epoch_seconds(text: ir.StringValue, regex: Regex = _as_written) -> ir.FloatingValue:
    """timeutil.parse_text in Ibis: null where the text is not in an accepted form."""
    s = text.strip().upper()
    is_epoch = s.re_search(regex(timeutil.EPOCH_PATTERN))
    is_iso = s.re_search(regex(timeutil.ISO_PATTERN))
    # Casts run on a stand-in where the text is not a time: PostgreSQL and Spark (ANSI)
    # raise on a bad cast instead of giving null.
    safe = ibis.ifelse(is_iso, s, "1970-01-01T00:00:00")

    def number(start: int, length: int) -> ir.IntegerValue:
        return safe.substr(start, length).cast("int64")

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = ibis.cases(
        (month == 2, ibis.ifelse(leap, 29, 28)),
        (month.isin([4, 6, 9, 11]), 30),
        else_=31,
    )
    # days_from_civil, step for step.
    y = year - ibis.ifelse(month <= 2, 1, 0)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    has_time = safe.length() > 10
    rest = ibis.ifelse(has_time, safe.substr(16), "")
    clock = ibis.ifelse(has_time, number(11, 2) * 3600 + number(14, 2) * 60, 0)
    seconds = ibis.ifelse(rest.startswith(":"), rest.substr(1, 2), "0")
    fraction = rest.re_extract(regex(timeutil.FRACTION_PATTERN), 1).fill_null("")
    zone = rest.re_extract(regex(timeutil.ZONE_OFFSET_PATTERN), 1).fill_null("")
    minutes = ibis.ifelse(zone.length() > 3, zone.right(2), "0")
    hours = ibis.ifelse(zone.length() > 0, zone.substr(1, 2), "0")
    sign = ibis.ifelse(zone.startswith("-"), -1, 1)
    offset = sign * (hours.cast("int64") * 3600 + minutes.cast("int64") * 60)
    iso_seconds = (
        days.cast("float64") * timeutil.SECONDS_PER_DAY
        + clock.cast("float64")
        + seconds.cast("float64")
        + ibis.ifelse(fraction.length() > 0, ("0." + fraction), "0").cast("float64")
        - offset.cast("float64")
    )
    valid_iso = is_iso & (year >= 1) & (day <= month_days)
    epoch_text = _plausible_epoch(ibis.ifelse(is_epoch, s, "0").cast("float64"))
    return ibis.cases(
        (is_epoch, epoch_text),
        (valid_iso, iso_seconds),
        else_=ibis.null("float64"),
    )


def canonical_leads(
    raw: ir.Table, id_column: str, columns: list[str], event_ids: ir.Value | None
) -> ir.Table:
    fields = {
        id_column: key_form(raw[id_column], event_ids if event_ids is not None else raw[id_column])
    }
    for column in columns:
        if column != id_column:
            fields[column] = text_form(raw[column])
    return raw.select(**fields)


def key_form(col: ir.Value, other: ir.Value) -> ir.Value:
    """Lead ids as they are when both files type them as integers, else as text.

    Joining and grouping integers is twice as fast as text, and the output keeps the
    ids as the leads file has them.
    """
    if col.type().is_integer() and other.type().is_integer():
        return col.cast("int64")
    return text_form(col)


def canonical_events(
    raw: ir.Table,
    properties: list[str],
    lead_ids: ir.Value,
    epoch_us: EpochMicros | None = None,
    regex: Regex = _as_written,
) -> ir.Table:
    fields = {
        "lead_id": key_form(raw.lead_id, lead_ids),
        "event": text_form(raw.event),
        "ts": epoch_seconds(raw.timestamp, epoch_us, regex),
    }
    for prop in properties:
        if prop not in fields:
            fields[prop] = text_form(raw[prop])
    return raw.select(**fields)


def first_duplicate_id(raw: ir.Table, id_column: str) -> ir.Table:
    """Rows of the first id that occurs twice (empty when ids are unique)."""
    key = text_form(raw[id_column])
    counted = raw.select(key=key, row=raw[ROW]).mutate(n=ibis._.count().over(group_by="key"))
    return counted.filter(counted.n > 1).order_by("row").limit(2)


def first_missing_id(raw: ir.Table, id_column: str) -> ir.Table:
    key = text_form(raw[id_column])
    bad = raw.filter(key.isnull() | (key.strip() == ""))
    return bad.select(row=bad[ROW]).order_by("row").limit(1)


def first_bad_timestamp(
    raw: ir.Table, epoch_us: EpochMicros | None = None, regex: Regex = _as_written
) -> ir.Table:
    """The first event whose timestamp is missing, not a time, or out of range."""
    if raw.timestamp.type().is_temporal():
        bad = raw.filter(raw.timestamp.isnull())  # typed: only nulls can be wrong
    else:
        parsed = epoch_seconds(raw.timestamp, epoch_us, regex)
        bad = raw.filter(parsed.isnull() | parsed.isnan())
    return bad.select(row=bad[ROW], value=text_form(bad.timestamp)).order_by("row").limit(1)
