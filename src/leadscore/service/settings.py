"""Every setting of the service, read from `LEADSCORE_*` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from leadscore.errors import UsageError

DEFAULT_DB = "sqlite:///leadscore.db"
RETRY_SECONDS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a number") from None


def _seconds_list(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        values = tuple(float(x) for x in raw.split(","))
    except ValueError:
        raise SettingError(
            f"{name}={raw!r}: expected seconds separated by commas, as 5,300,1800"
        ) from None
    if any(v < 0 for v in values):
        raise SettingError(f"{name}={raw!r}: a delay cannot be negative")
    return values


class SettingError(UsageError):
    """A LEADSCORE_* variable that cannot be read (one line, exit 2, as any usage error)."""


@dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    # An event for a lead that does not exist: 422, or the lead is made (SPEC section 4).
    create_unknown_leads: bool = False
    sweep_seconds: float = 900.0
    max_body_bytes: int = 5 * 1024 * 1024
    # How often the job runner looks for queued activations (seconds).
    job_poll_seconds: float = 1.0
    # Webhooks (SPEC section 4): the delays between tries of a message, then it fails.
    webhook_retry_seconds: tuple[float, ...] = RETRY_SECONDS
    # One attempt's limit for each of connecting, sending and each wait for the answer.
    webhook_timeout_seconds: float = 15.0
    # How often the delivery worker looks at the outbox (SPEC: at least once a second).
    webhook_poll_seconds: float = 0.25
    # Attempts in flight at once: to one receiver, and in all (a slow receiver holds only
    # its own share, so the others' messages go on).
    webhook_per_receiver: int = 8
    webhook_threads: int = 32
    # Delivered and failed messages (and their attempts) are kept this long; 0: forever.
    webhook_keep_days: float = 30.0
    # A review is due when a version's MQL acceptance or conversion over the last 30 days
    # falls this far below its first 30 days' (0.10: ten points); checked with the sweep.
    review_margin: float = 0.10

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "db": os.environ.get("LEADSCORE_DB") or DEFAULT_DB,
            "create_unknown_leads": _bool("LEADSCORE_CREATE_UNKNOWN_LEADS", False),
            "sweep_seconds": _float("LEADSCORE_SWEEP_SECONDS", 900.0),
            "max_body_bytes": int(_float("LEADSCORE_MAX_BODY_BYTES", 5 * 1024 * 1024)),
            "job_poll_seconds": _float("LEADSCORE_JOB_POLL_SECONDS", 1.0),
            "webhook_retry_seconds": _seconds_list(
                "LEADSCORE_WEBHOOK_RETRY_SECONDS", RETRY_SECONDS
            ),
            "webhook_timeout_seconds": _float("LEADSCORE_WEBHOOK_TIMEOUT_SECONDS", 15.0),
            "webhook_poll_seconds": min(1.0, _float("LEADSCORE_WEBHOOK_POLL_SECONDS", 0.25)),
            "webhook_per_receiver": max(1, int(_float("LEADSCORE_WEBHOOK_PER_RECEIVER", 8))),
            "webhook_threads": max(1, int(_float("LEADSCORE_WEBHOOK_THREADS", 32))),
            "webhook_keep_days": _float("LEADSCORE_WEBHOOK_KEEP_DAYS", 30.0),
            "review_margin": _float("LEADSCORE_REVIEW_MARGIN", 0.10),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
