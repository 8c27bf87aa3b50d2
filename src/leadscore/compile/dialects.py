"""Where a backend cannot run the portable form of an expression, the form it can.

The compiler writes one Ibis expression for every engine; a `Dialect` holds the few
places where a backend needs something else: how to lower text (Spark), how to
write a pattern (Java's regex for Spark, PostgreSQL's own), whether arrays of
structs can be sorted (not in PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis.expr.types as ir

from leadscore import patterns


def _same(pattern: str) -> str:
    return pattern


def _lower(col: ir.StringValue) -> ir.StringValue:
    return col.lower()


def _simple_lower(col: ir.StringValue) -> ir.StringValue:
    """Spark, and PostgreSQL with ICU collations, lower with full case mapping (İ to i and
    a dot, a final Σ to ς); mapping those two first leaves the simple one-to-one mapping
    that values.lower_text defines (and changes nothing where lower() is simple)."""
    return col.translate("İΣ", "iσ").lower()


@dataclass(frozen=True)
class Dialect:
    """Where a backend cannot take the portable form, the form it can take instead."""

    sorts_structs: bool = True  # can sort an array of structs (reasons)
    regex: Callable[[str], str] = _same  # a `matches` pattern in the backend's syntax
    lower: Callable[[ir.StringValue], ir.StringValue] = _lower  # values.lower_text


PORTABLE = Dialect()

# Backends that need something else than the portable form, by Ibis backend name.
_JAVA = Dialect(regex=lambda p: patterns.translate(p, "java"), lower=_simple_lower)
DIALECTS = {
    "postgres": Dialect(
        sorts_structs=False,
        regex=lambda p: patterns.translate(p, "postgres"),
        lower=_simple_lower,
    ),
    "pyspark": _JAVA,
    "databricks": _JAVA,  # Spark SQL: Java's regex
}


def dialect_for(backend: str) -> Dialect:
    return DIALECTS.get(backend, PORTABLE)
