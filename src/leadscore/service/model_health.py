"""Is a review due? A version's last 30 days against its first 30 days.

- **acceptance**: the share of MQLs that reps accepted (of those they judged);
- **conversion**: the share of MQLs won (of those won or lost);
- **drift**: the PSI of the scores of the leads that became MQL, first window against the
  last (over 0.25: the population has moved).

A rate due for review has fallen by more than the team's margin
(`LEADSCORE_REVIEW_MARGIN`, default 0.10: ten points), with at least `MIN_JUDGED`
MQLs judged in each window, so that three verdicts do not raise an alarm. Each kind is
sent once per version, as a `model.review_due` webhook, and shown on the models page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select

from leadscore.review.drift import MAJOR, numeric_bins
from leadscore.service import loop_review, outbox
from leadscore.service.store.tables import ActiveModel, ModelAlert

log = logging.getLogger("leadscore.service")
WINDOW = 30 * 86400
MIN_JUDGED = 20


def health(conn: Connection, model: str, now: float, margin: float) -> dict[str, Any] | None:
    """The active version's first and last 30 days, and what is due (None: not active)."""
    row = conn.execute(
        select(ActiveModel.version, ActiveModel.activated_at).where(ActiveModel.name == model)
    ).first()
    if row is None:
        return None
    version, start = row.version, row.activated_at
    moments = loop_review.moments(conn, model, version=version, since=start)
    first = [m for m in moments if m.at < start + WINDOW]
    last = [m for m in moments if m.at >= now - WINDOW]
    out: dict[str, Any] = {"model": model, "version": version, "due": []}
    if now - start < 2 * WINDOW:  # the windows would overlap: nothing to compare yet
        out["note"] = "the version has been active for less than 60 days"
        return out
    for kind, rate_of, count_of in (
        ("acceptance", _acceptance, lambda ms: sum(m.verdict is not None for m in ms)),
        ("conversion", _conversion, lambda ms: sum(m.outcome is not None for m in ms)),
    ):
        before, after = rate_of(first), rate_of(last)
        out[kind] = {"first_30_days": before, "last_30_days": after}
        enough = count_of(first) >= MIN_JUDGED and count_of(last) >= MIN_JUDGED
        if enough and before is not None and after is not None and after < before - margin:
            out["due"].append(
                (
                    kind,
                    f"MQL {kind} fell from {before:.0%} in the version's first 30 days "
                    f"to {after:.0%} in the last 30 (margin {margin:.0%})",
                )
            )
    if len(first) >= MIN_JUDGED and len(last) >= MIN_JUDGED:
        value = numeric_bins(np.array([m.score for m in first]), np.array([m.score for m in last]))[
            "psi"
        ]
        out["drift"] = value
        if value > MAJOR:
            out["due"].append(("drift", f"the MQLs' scores drifted: PSI {value:.2f} > {MAJOR}"))
    return out


def _acceptance(ms: Sequence[loop_review.Moment]) -> float | None:
    judged = [m for m in ms if m.verdict is not None]
    return None if not judged else sum(m.verdict == "accepted" for m in judged) / len(judged)


def _conversion(ms: Sequence[loop_review.Moment]) -> float | None:
    closed = [m for m in ms if m.outcome is not None]
    return None if not closed else sum(m.outcome == "won" for m in closed) / len(closed)


def check(conn: Connection, models: Sequence[str], now: float, margin: float) -> int:
    """Alerts not sent before, recorded and sent (`model.review_due`); how many."""
    sent = 0
    for model in models:
        found = health(conn, model, now, margin)
        if found is None:
            continue
        done = {
            r.kind
            for r in conn.execute(
                select(ModelAlert.kind).where(
                    ModelAlert.model == model, ModelAlert.version == found["version"]
                )
            )
        }
        for kind, detail in found["due"]:
            if kind in done:
                continue
            conn.execute(
                insert(ModelAlert).values(
                    model=model, version=found["version"], kind=kind, at=now, detail=detail
                )
            )
            data = {"model": model, "version": found["version"], "kind": kind, "detail": detail,
                    "health": json.loads(json.dumps(found, default=str))}  # fmt: skip
            outbox.write_model_message(conn, model, "model.review_due", data, now)
            log.warning("review due", extra={"model": model, "kind": kind, "detail": detail})
            sent += 1
    return sent


def alerts(conn: Connection) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(model, version) -> its alerts, newest first (the models page)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    rows = conn.execute(select(ModelAlert.__table__).order_by(ModelAlert.at.desc())).mappings()
    for r in rows:
        out.setdefault((r["model"], r["version"]), []).append(dict(r))
    return out
