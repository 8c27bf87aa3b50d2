"""Columns read into arrays the way the scorer reads values (leadscore.values).

Text is compared with case and surrounding spaces ignored, numbers in decimal
notation, and empty values or the model's placeholders are missing. `learn`,
`review` and the predictive scorer all read their columns here.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.errors import DataError, UsageError, given, shown
from leadscore.values import (
    INTEGRAL_TEXT_LIMIT,
    NUMBER_PATTERN,
    STRIP_CHARS,
    normalize_text,
    parse_number,
    text_form,
)

BINARY_TARGETS = ({"0", "1"}, {"false", "true"}, {"no", "yes"})


def read_outcome(
    name: str,
    column: pa.ChunkedArray,
    target: str,
    positive: str | None,
    rows: pa.ChunkedArray,
    *,
    allow_missing: bool = False,
    converters_only: bool = False,
    converters_only_hint: str | None = None,
) -> tuple[np.ndarray, str]:
    """1 for converted, 0 for not; -1 for an empty outcome where `allow_missing`.

    Two distinct values are required: 0/1, false/true and no/yes are understood,
    any other pair needs `positive`. With `converters_only`, one value is enough: a
    file of converters (won deals), whose one value means converted.
    `converters_only_hint` is what the error of a one-value file suggests.
    """
    text = normalized(column)
    empty = pc.fill_null(pc.equal(text, ""), True)
    if not allow_missing and pc.any(empty).as_py():
        first = pc.index(empty, True).as_py()
        raise DataError(name, "the outcome is empty", row=rows[first].as_py(), column=target)
    values = sorted(pc.unique(pc.filter(text, pc.invert(empty))).to_pylist())
    if len(values) == 1 and converters_only:
        only = values[0]
        negatives = {sorted(pair)[0] for pair in BINARY_TARGETS}  # 0, false, no
        if only in negatives and positive is None:
            raise DataError(
                name,
                f"every outcome is {only!r}, which reads as not converted: a file of "
                "converters only should hold the value that means converted",
                column=target,
            )
        if positive is not None and normalize_text(positive) != only:
            raise UsageError(
                f"{given('positive')} {positive!r} is not a value of {target!r} ({only!r})"
            )
        y = pc.fill_null(pc.equal(text, only), False).to_numpy(zero_copy_only=False)
        y = y.astype(np.int8)
        y[empty.to_numpy(zero_copy_only=False)] = -1
        return y, only
    if len(values) != 2:
        listed = ", ".join(shown(v, 40) for v in values[:6]) + (", ..." if len(values) > 6 else "")
        hint = f"; {converters_only_hint}" if len(values) == 1 and converters_only_hint else ""
        raise DataError(
            name,
            f"the target has {len(values)} distinct value{'s' * (len(values) != 1)} ({listed}); "
            f"expected two, converted or not{hint}",
            column=target,
        )
    if positive is not None:
        positive = normalize_text(positive)
        if positive not in values:
            raise UsageError(
                f"{given('positive')} {positive!r} is not a value of {target!r} "
                f"({shown(values[0], 40)}, {shown(values[1], 40)})"
            )
    else:
        known = next((pair for pair in BINARY_TARGETS if set(values) == pair), None)
        if known is None:
            raise UsageError(
                f"the target {target!r} has the values {shown(values[0], 40)} and "
                f"{shown(values[1], 40)}; "
                "say which one means converted with --positive"
            )
        positive = sorted(known)[1]
    y = pc.fill_null(pc.equal(text, positive), False).to_numpy(zero_copy_only=False)
    y = y.astype(np.int8)
    y[empty.to_numpy(zero_copy_only=False)] = -1
    return y, positive


def normalized(arr: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Values as text, compared the way the scorer compares text (case, spaces)."""
    if pa.types.is_boolean(arr.type):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_floating(arr.type):
        arr = _float_text(arr)
    elif not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return pc.utf8_lower(pc.utf8_trim(arr, characters=STRIP_CHARS))


def _float_text(arr: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Floats as leadscore.values.text_form writes them: whole numbers below
    INTEGRAL_TEXT_LIMIT without a decimal point, NaN as null, exponents as Python
    writes them (Arrow writes 1e-7 where Python writes 1e-07)."""
    arr = pc.if_else(pc.is_nan(arr), None, arr)
    integral = pc.and_(pc.equal(arr, pc.floor(arr)), pc.less(pc.abs(arr), INTEGRAL_TEXT_LIMIT))
    as_int = pc.cast(pc.if_else(integral, arr, None), pa.int64())
    text = pc.if_else(integral, pc.cast(as_int, pa.string()), pc.cast(arr, pa.string()))
    exponent = pc.fill_null(pc.match_substring(text, "e"), False)
    if not pc.any(exponent).as_py():
        return text
    # Few values have an exponent: those are written by Python itself.
    written = [text_form(x) for x in pc.filter(arr, exponent).to_pylist()]
    if isinstance(text, pa.ChunkedArray):
        text, exponent = text.combine_chunks(), exponent.combine_chunks()
    return pc.replace_with_mask(text, exponent, pa.array(written, pa.string()))


def read_numeric(arr: pa.ChunkedArray | pa.Array, missing: frozenset[str]) -> np.ndarray:
    """Numbers as the scorer reads them; NaN for missing values and for non-numbers."""
    kind = arr.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False).astype(float)
        sentinels = [x for x in (parse_number(m) for m in missing if m) if x is not None]
        if sentinels:
            values[np.isin(values, sentinels)] = np.nan
        return values
    text = normalized(arr)
    usable = pc.and_(
        pc.invert(pc.is_in(text, pa.array(sorted(missing)))),
        pc.match_substring_regex(arr, NUMBER_PATTERN),
    )
    usable = pc.fill_null(usable, False)
    out = np.full(len(arr), np.nan)
    mask = usable.to_numpy(zero_copy_only=False)
    out[mask] = pc.cast(pc.filter(text, usable), pa.float64()).to_numpy(zero_copy_only=False)
    return out


def read_text(arr: pa.ChunkedArray | pa.Array, missing: frozenset[str]) -> np.ndarray:
    """Normalized text as the scorer compares it; None for missing values."""
    text = normalized(arr)
    kept = pc.if_else(pc.is_in(text, pa.array(sorted(missing))), None, text)
    return np.asarray(kept.to_numpy(zero_copy_only=False), dtype=object)
