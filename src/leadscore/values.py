"""How raw attribute and property values are read: one definition for every engine.

Every value is first turned into its *text form*; text tests compare that form with
case and surrounding white space ignored, numeric tests parse it with NUMBER_PATTERN.
The Ibis compiler and the one-lead scorer both follow these definitions.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime

# What "surrounding spaces" means: the characters Ibis' strip() removes on every backend.
STRIP_CHARS = " \t\n\r\v\f"

# Decimal notation only: no thousands separators, no hex, no inf/nan, no underscores.
NUMBER_PATTERN = r"^[ \t\n\r\v\f]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\r\v\f]*$"
_NUMBER_RE = re.compile(NUMBER_PATTERN)

# Integral floats below this size are written without a decimal point ("200", not
# "200.0"); from it on, as the engines write them (1e+16). Python and PostgreSQL switch
# to an exponent at different sizes below it (1e16 and 1e15), so the limit is 1e16.
INTEGRAL_TEXT_LIMIT = 1e16


def text_form(value: object) -> str | None:
    """The text a value is compared as; None when the value is null (or NaN)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < INTEGRAL_TEXT_LIMIT:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def lower_text(text: str) -> str:
    """Unicode's simple lowercase, one character at a time: Σ is σ wherever it stands
    (no final ς), İ is i (no combining dot). DuckDB, Arrow and PostgreSQL lower that way;
    Python's lower() adds those two context and length rules, so they are undone first."""
    return text.replace("Σ", "σ").replace("İ", "i").lower()


def normalize_text(text: str) -> str:
    """Case and surrounding white space do not matter in text comparisons."""
    return lower_text(text.strip(STRIP_CHARS))


def parse_number(text: str) -> float | None:
    """The number a text holds, or None when it is not in decimal notation."""
    if not _NUMBER_RE.match(text):
        return None
    return float(text)


def is_missing(text: str | None, missing_values: frozenset[str]) -> bool:
    """Null, empty, or one of the model's placeholders (already normalized)."""
    return text is None or normalize_text(text) in missing_values
