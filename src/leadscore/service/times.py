"""Times as the API shows them: ISO 8601 in UTC, to the microsecond when it has one."""

from __future__ import annotations

import datetime as dt


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")
