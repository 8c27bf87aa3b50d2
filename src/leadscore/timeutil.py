"""Instants as epoch seconds (UTC): how every engine measures time and decay."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

SECONDS_PER_DAY = 86400.0

_EPOCH_RE = re.compile(r"^\s*[+-]?\d+(\.\d+)?\s*$")


def to_epoch(value: object) -> float:
    """ISO 8601 text, epoch seconds (number or text) or a datetime -> epoch seconds.

    A time without a zone is UTC. Raises ValueError when the value is not a time.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        if _EPOCH_RE.match(value):
            return float(value)
        text = value.strip().replace(" ", "T", 1)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        return to_epoch(datetime.fromisoformat(text))
    raise ValueError(f"not a time: {value!r}")


def parse_as_of(text: str | None) -> float:
    """The --as-of option: a time as above, default now."""
    if text is None:
        return datetime.now(UTC).timestamp()
    return to_epoch(text)


def format_epoch(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
