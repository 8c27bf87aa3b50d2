"""Raw input tables -> the canonical tables the compiler expects, in Ibis only.

Canonical leads: the id and every attribute the model reads, as text.
Canonical events: `lead_id` (text), `event` (text), `ts` (epoch seconds) and every
property the model reads, as text. Raw tables carry `_ls_row`, the row number used
in error messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from leadscore.spec.conditions import columns_of
from leadscore.spec.schema import ScoringModel

ROW = "_ls_row"
EVENT_REQUIRED = ("lead_id", "event", "timestamp")
_EPOCH_PATTERN = r"^[ \t]*[+-]?[0-9]+(\.[0-9]+)?[ \t]*$"


@dataclass(frozen=True)
class Needs:
    """The columns a model reads, with the rules that read them (for error messages)."""

    lead_columns: dict[str, str]
    event_columns: dict[str, str]


def model_needs(model: ScoringModel) -> Needs:
    lead: dict[str, str] = {}
    for i, rule in enumerate(model.fit.rules):
        for column in sorted(columns_of(rule.condition)):
            lead.setdefault(column, f"fit.rules[{i}] {rule.name!r}")
    if model.accounts is not None:
        lead.setdefault(model.accounts.key, "accounts.key")
    if model.predictive is not None:
        for i, feature in enumerate(model.predictive.features):
            if feature.column is not None:
                lead.setdefault(feature.column, f"predictive.features[{i}]")
    event: dict[str, str] = {}
    for i, rule in enumerate(model.engagement.rules):
        for column in sorted(columns_of(rule.condition)):
            event.setdefault(column, f"engagement.rules[{i}] {rule.name!r}")
    return Needs(lead, event)


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
        integral = (as_float == as_float.floor()) & (as_float.abs() < 1e15)
        text = ibis.ifelse(integral, as_float.cast("int64").cast("string"), as_float.cast("string"))
        return ibis.ifelse(as_float.isnan(), ibis.null("string"), text)
    return col.cast("string")


EpochMicros = Callable[[ir.TimestampValue], ir.IntegerValue]


def epoch_seconds(col: ir.Value, epoch_us: EpochMicros | None = None) -> ir.FloatingValue:
    """Event time as epoch seconds; null where it does not parse (checked separately).

    `epoch_us` is an engine's native instant -> microseconds function: Ibis reads a
    zoned timestamp through a cast to local time, which costs ten times as much.
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
        return col.cast("float64")
    text = text_form(col)
    as_time = text.try_cast(dt.Timestamp(timezone="UTC"))
    if epoch_us is not None:
        seconds = epoch_us(as_time).cast("float64") / 1e6
    else:
        seconds = as_time.cast(dt.Timestamp()).epoch_seconds().cast("float64")
    return ibis.ifelse(text.re_search(_EPOCH_PATTERN), text.strip().try_cast("float64"), seconds)


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
    raw: ir.Table, properties: list[str], lead_ids: ir.Value, epoch_us: EpochMicros | None = None
) -> ir.Table:
    fields = {
        "lead_id": key_form(raw.lead_id, lead_ids),
        "event": text_form(raw.event),
        "ts": epoch_seconds(raw.timestamp, epoch_us),
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


def first_bad_timestamp(raw: ir.Table, epoch_us: EpochMicros | None = None) -> ir.Table:
    """The first event whose timestamp is missing or does not parse."""
    if raw.timestamp.type().is_temporal():
        bad = raw.filter(raw.timestamp.isnull())  # typed: only nulls can be wrong
    else:
        parsed = epoch_seconds(raw.timestamp, epoch_us)
        bad = raw.filter(parsed.isnull() | parsed.isnan())
    return bad.select(row=bad[ROW], value=text_form(bad.timestamp)).order_by("row").limit(1)
