"""Every setting of the service, read from `LEADSCORE_*` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from leadscore.errors import UsageError

DEFAULT_DB = "sqlite:///leadscore.db"


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

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "db": os.environ.get("LEADSCORE_DB") or DEFAULT_DB,
            "create_unknown_leads": _bool("LEADSCORE_CREATE_UNKNOWN_LEADS", False),
            "sweep_seconds": _float("LEADSCORE_SWEEP_SECONDS", 900.0),
            "max_body_bytes": int(_float("LEADSCORE_MAX_BODY_BYTES", 5 * 1024 * 1024)),
            "job_poll_seconds": _float("LEADSCORE_JOB_POLL_SECONDS", 1.0),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
