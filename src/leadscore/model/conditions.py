"""Rule conditions as a small expression tree.

A condition in YAML is a mapping from a column to a test. It is parsed here into
frozen nodes that the compilers visit; it is never evaluated as Python or pasted
into SQL as text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadscore.errors import shown
from leadscore.patterns import PatternError, check_pattern
from leadscore.values import normalize_text, text_form

TEXT_SET_OPS = ("in", "not_in")
TEXT_OPS = ("equals", "not_equals", "contains")
NUMERIC_OPS = ("gt", "gte", "lt", "lte")
ALL_OPS = (*TEXT_OPS, *TEXT_SET_OPS, "between", *NUMERIC_OPS, "matches", "missing")

# Conditions deeper than this are a generated mistake, not a rule people read; the
# compilers recurse once per level.
MAX_DEPTH = 32


class ConditionError(ValueError):
    """A problem at `loc` inside a condition; the loader prefixes the rule's path."""

    def __init__(self, loc: tuple[str | int, ...], message: str):
        self.loc = loc
        super().__init__(message)


@dataclass(frozen=True)
class Test:
    """One test on one column. `value` is already normalized for its operator."""

    __test__ = False  # not a pytest class

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


Condition = Test | AllOf | AnyOf


def tests_of(cond: Condition | None) -> list[Test]:
    """Every test of a condition, in order."""
    if cond is None:
        return []
    if isinstance(cond, Test):
        return [cond]
    return [t for c in cond.items for t in tests_of(c)]


def columns_of(cond: Condition | None) -> set[str]:
    """Every column a condition reads."""
    if cond is None:
        return set()
    if isinstance(cond, Test):
        return {cond.column}
    return set().union(*(columns_of(c) for c in cond.items))


def parse_condition(raw: Any, lists: Mapping[str, list[Any]]) -> Condition:
    """Parse the YAML form of a condition (see SPEC, "Conditions")."""
    return _parse(raw, lists, ())


def _parse(raw: Any, lists: Mapping[str, list[Any]], loc: tuple[str | int, ...]) -> Condition:
    if loc.count("any") > MAX_DEPTH:
        raise ConditionError(loc, f"conditions nest more than {MAX_DEPTH} levels of 'any'")
    if not isinstance(raw, Mapping) or not raw:
        raise ConditionError(loc, f"expected a mapping from a column to a test, got {shown(raw)}")
    items: list[Condition] = []
    for key, spec in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise ConditionError(loc, f"column names must be text, got {shown(key)}")
        if key == "any":
            if not isinstance(spec, list) or not spec:
                raise ConditionError(
                    (*loc, "any"), f"expected a non-empty list of conditions, got {shown(spec)}"
                )
            items.append(
                AnyOf(tuple(_parse(c, lists, (*loc, "any", i)) for i, c in enumerate(spec)))
            )
        else:
            items.extend(_parse_tests(key, spec, lists, (*loc, key)))
    return items[0] if len(items) == 1 else AllOf(tuple(items))


def _parse_tests(
    column: str, spec: Any, lists: Mapping[str, list[Any]], loc: tuple[str | int, ...]
) -> list[Test]:
    if not isinstance(spec, Mapping):  # a bare value means equals
        return [_parse_test(column, "equals", spec, lists, loc)]
    if not spec:
        raise ConditionError(loc, f"expected a test ({', '.join(ALL_OPS)}), got an empty mapping")
    return [_parse_test(column, op, arg, lists, (*loc, op)) for op, arg in spec.items()]


def _parse_test(
    column: str, op: Any, arg: Any, lists: Mapping[str, list[Any]], loc: tuple[str | int, ...]
) -> Test:
    if op not in ALL_OPS:
        raise ConditionError(loc, f"unknown test {shown(op)}; expected one of {', '.join(ALL_OPS)}")
    if op in TEXT_OPS:
        if not _is_scalar(arg) or not _finite(arg):
            raise ConditionError(loc, f"expected a text or a number, got {shown(arg)}")
        return Test(column, op, normalize_text(text_form(arg) or ""))
    if op in TEXT_SET_OPS:
        values = _resolve_list(arg, lists, loc)
        return Test(column, op, tuple(sorted({normalize_text(text_form(v) or "") for v in values})))
    if op == "between":
        if not (isinstance(arg, list) and len(arg) == 2 and all(_is_number(v) for v in arg)):
            raise ConditionError(loc, f"expected [low, high] {_numbers(arg)}, got {shown(arg)}")
        low, high = float(arg[0]), float(arg[1])
        if low > high:
            raise ConditionError(loc, f"low must not exceed high, got [{arg[0]}, {arg[1]}]")
        return Test(column, op, (low, high))
    if op in NUMERIC_OPS:
        if not _is_number(arg):
            raise ConditionError(loc, f"expected {_numbers(arg, 'a ')}, got {shown(arg)}")
        return Test(column, op, float(arg))
    if op == "matches":
        if not isinstance(arg, str) or not arg:
            raise ConditionError(loc, f"expected a regular expression, got {shown(arg)}")
        try:
            check_pattern(arg)
        except PatternError as exc:
            raise ConditionError(loc, str(exc)) from None
        return Test(column, op, arg)
    # missing
    if not isinstance(arg, bool):
        raise ConditionError(loc, f"expected true or false, got {shown(arg)}")
    return Test(column, op, arg)


def _resolve_list(arg: Any, lists: Mapping[str, list[Any]], loc: tuple[str | int, ...]) -> list:
    if isinstance(arg, str):
        if arg not in lists:
            known = ", ".join(sorted(lists)) or "none defined"
            raise ConditionError(
                loc,
                f"unknown list {arg!r} (lists: {known}); for the value itself, write "
                f"[{arg}] or use equals",
            )
        return list(lists[arg])
    if not isinstance(arg, list) or not arg or not all(_is_scalar(v) and _finite(v) for v in arg):
        raise ConditionError(
            loc, f"expected a non-empty list of values or the name of a list, got {shown(arg)}"
        )
    return arg


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float)  # bool is an int


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def _numbers(arg: Any, article: str = "") -> str:
    """'finite numbers' when the value has a NaN or an infinity, else 'numbers'."""
    values = arg if isinstance(arg, list) else [arg]
    plural = "s" if not article else ""
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        return f"{article}finite number{plural}"
    return f"{article}number{plural}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and _finite(value)
