"""Each column that conditions test, read once per row the way every test reads it.

A lead attribute or event property is text (canonical tables); a test reads it as
normalized text (case and surrounding spaces ignored, null when missing) or as a
number (decimal notation, null when missing or not a number). Reading each column
once, in a step of its own, instead of once per test keeps the compiled expression
small (linear in the rules) and the work per row low: ten rules on `url` lower
and trim it once, not ten times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from leadscore.model.conditions import NUMERIC_OPS, AllOf, AnyOf, Condition, Test, tests_of
from leadscore.values import NUMBER_PATTERN

_NUMBER_OPS = {*NUMERIC_OPS, "between"}


@dataclass(frozen=True)
class Readings:
    """Which reading columns a table carries: column -> the name of its reading."""

    text: dict[str, str]
    number: dict[str, str]


def readings_for(conditions: Iterable[Condition | None], prefix: str = "_ls") -> Readings:
    """The readings that these conditions need (named after the sorted columns)."""
    tests = [t for cond in conditions for t in tests_of(cond)]
    columns = sorted({t.column for t in tests})
    numeric = {t.column for t in tests if t.op in _NUMBER_OPS}
    index = {c: i for i, c in enumerate(columns)}
    return Readings(
        text={c: f"{prefix}_t{index[c]}" for c in columns},
        number={c: f"{prefix}_x{index[c]}" for c in sorted(numeric)},
    )


def add_readings(table: ir.Table, readings: Readings, missing: Sequence[str], dialect) -> ir.Table:
    """`table` with a column for each reading."""
    if not readings.text:
        return table
    fields: dict[str, ir.Value] = {}
    for column, name in readings.text.items():
        raw = table[column]
        norm = dialect.lower(raw.strip())
        fields[name] = ibis.ifelse(raw.isnull() | norm.isin(list(missing)), None, norm)
    table = table.mutate(**fields)
    numbers: dict[str, ir.Value] = {}
    for column, name in readings.number.items():
        raw, text = table[column], table[readings.text[column]]
        number = raw.strip().try_cast("float64")
        # The guard keeps the cast off text that is no number (PostgreSQL would raise).
        numbers[name] = ibis.ifelse(
            text.notnull() & raw.re_search(dialect.regex(NUMBER_PATTERN)),
            number,
            ibis.null("float64"),
        )
    return table.mutate(**numbers) if numbers else table


def condition_expr(
    cond: Condition | None, table: ir.Table, readings: Readings, dialect
) -> ir.BooleanValue:
    """A condition over a table that carries its readings.

    It is null where a value is missing, and null counts as false where it is used
    (CASE WHEN, FILTER, WHERE): conditions only combine tests with AND and OR, under
    which a null test acts as a false one, and a missing value fails every test but
    `missing: true` (SPEC 1). Leaving the nulls in keeps each test two nodes.
    """
    if cond is None:
        return ibis.literal(True)
    if isinstance(cond, AllOf | AnyOf):
        parts = [condition_expr(c, table, readings, dialect) for c in cond.items]
        return _balanced(parts, "and" if isinstance(cond, AllOf) else "or")
    return _test_expr(cond, table, readings, dialect)


def _balanced(parts: list[ir.BooleanValue], how: str) -> ir.BooleanValue:
    while len(parts) > 1:
        joined = [
            parts[i] & parts[i + 1] if how == "and" else parts[i] | parts[i + 1]
            for i in range(0, len(parts) - 1, 2)
        ]
        parts = joined + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


def _test_expr(test: Test, table: ir.Table, readings: Readings, dialect) -> ir.BooleanValue:
    text = table[readings.text[test.column]]
    op, value = test.op, test.value
    if op == "missing":
        return text.isnull() if value else text.notnull()
    if op == "equals":
        body = text == value
    elif op == "not_equals":
        body = text != value
    elif op == "in":
        body = text.isin(list(value))
    elif op == "not_in":
        body = ~text.isin(list(value))
    elif op == "contains":
        body = text.contains(value)
    elif op == "matches":  # on the value as written, so a missing one is ruled out first
        return text.notnull() & table[test.column].re_search(dialect.regex(value))
    else:
        number = table[readings.number[test.column]]
        if op == "between":
            body = number.between(value[0], value[1])
        else:
            body = {
                "gt": number > value,
                "gte": number >= value,
                "lt": number < value,
                "lte": number <= value,
            }[op]
    return body


__all__ = ["Readings", "add_readings", "condition_expr", "readings_for"]
