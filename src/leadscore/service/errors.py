"""What the service's operations refuse, in domain terms; the API maps each to a status."""

from __future__ import annotations

from dataclasses import dataclass

from leadscore.errors import LeadscoreError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input item: which item, which field, why."""

    index: int | None
    field: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


class ServiceError(LeadscoreError):
    title = "Bad request"

    def __init__(self, detail: str, problems: list[Problem] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []


class Invalid(ServiceError):
    """Input that parses but cannot be used; every problem is listed, nothing is stored."""

    title = "Invalid input"


class NotFound(ServiceError):
    title = "Not found"


class Conflict(ServiceError):
    title = "Conflict"


class TooLarge(ServiceError):
    """Over a limit (items in a request, bytes in a body)."""

    title = "Too large"
