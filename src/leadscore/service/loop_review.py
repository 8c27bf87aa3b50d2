"""What the sales team's verdicts and the outcomes say of a model's MQLs, as the reps saw
them: each MQL moment is the lead's score snapshot when it became MQL, its verdict the
first one a rep gave on it after that moment (and before the lead's next MQL moment),
its outcome the lead's latest won or lost after that moment.

- acceptance by score band and by grade;
- rejection reasons by the rules that fired (the positive reasons of the snapshot), and
  each rule's rejection rate against the overall one;
- MQLs accepted but lost;
- a recommended MQL threshold: the score that keeps `KEEP` of the accepted-and-won MQLs
  (their lower decile), with how many MQLs and rejections it would have cut.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from leadscore.service.store.tables import Feedback, Outcome, ScoreSnapshot

KEEP = 0.9  # the share of accepted-and-won MQLs a recommended threshold keeps
BAND = 10.0  # points per score band


@dataclass(frozen=True)
class Moment:
    lead_id: str
    at: float
    version: str
    score: float
    grade: str | None
    rules: tuple[str, ...]  # the rules that added points
    verdict: str | None  # accepted | rejected | None (no verdict yet)
    reason: str | None
    outcome: str | None  # won | lost | None


def moments(
    conn: Connection, model: str, *, version: str | None = None, since: float | None = None
) -> list[Moment]:
    s = ScoreSnapshot.__table__.c
    query = select(s.lead_id, s.at, s.version, s.score, s.grade, s.reasons).where(
        s.model == model, s.kind == "mql"
    )
    if version is not None:
        query = query.where(s.version == version)
    if since is not None:
        query = query.where(s.at >= since)
    snaps = [dict(r) for r in conn.execute(query.order_by(s.lead_id, s.at, s.id)).mappings()]
    ids = sorted({x["lead_id"] for x in snaps})
    verdicts: dict[str, list[tuple[float, str, str | None]]] = defaultdict(list)
    results: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        f = Feedback.__table__.c
        for r in conn.execute(
            select(f.lead_id, f.at, f.verdict, f.reason)
            .where(f.model == model, f.lead_id.in_(part))
            .order_by(f.at, f.id)
        ):
            verdicts[r.lead_id].append((r.at, r.verdict, r.reason))
        o = Outcome.__table__.c
        for r in conn.execute(
            select(o.lead_id, o.at, o.outcome)
            .where(o.lead_id.in_(part), o.outcome.in_(("won", "lost")))
            .order_by(o.at, o.id)
        ):
            results[r.lead_id].append((r.at, r.outcome))
    out = []
    for i, snap in enumerate(snaps):
        lead = snap["lead_id"]
        until = math.inf
        if i + 1 < len(snaps) and snaps[i + 1]["lead_id"] == lead:
            until = snaps[i + 1]["at"]
        verdict = next(((v, r) for at, v, r in verdicts[lead] if snap["at"] <= at < until), None)
        outcome = next((o for at, o in reversed(results[lead]) if at >= snap["at"]), None)
        reasons = json.loads(snap["reasons"] or "[]")
        out.append(
            Moment(
                lead,
                snap["at"],
                snap["version"],
                snap["score"],
                snap["grade"],
                tuple(r["rule"] for r in reasons if r["points"] > 0),
                verdict[0] if verdict else None,
                verdict[1] if verdict else None,
                outcome,
            )
        )
    return out


def _rate(accepted: int, rejected: int) -> float | None:
    judged = accepted + rejected
    return None if judged == 0 else accepted / judged


def _group(items: list[Moment], key) -> list[dict[str, Any]]:
    groups: dict[Any, list[Moment]] = defaultdict(list)
    for m in items:
        groups[key(m)].append(m)
    out = []
    for k in sorted(groups, key=lambda x: (x is None, x)):
        ms = groups[k]
        accepted = sum(m.verdict == "accepted" for m in ms)
        rejected = sum(m.verdict == "rejected" for m in ms)
        out.append(
            {
                "key": k,
                "mqls": len(ms),
                "accepted": accepted,
                "rejected": rejected,
                "unjudged": len(ms) - accepted - rejected,
                "acceptance_rate": _rate(accepted, rejected),
                "won": sum(m.outcome == "won" for m in ms),
            }
        )
    return out


def band_of(score: float, width: float = BAND) -> str:
    low = math.floor(score / width) * width
    return f"{low:g}–{low + width:g}"


def summary(items: list[Moment], width: float = BAND) -> dict[str, Any]:
    accepted = [m for m in items if m.verdict == "accepted"]
    rejected = [m for m in items if m.verdict == "rejected"]
    by_band = _group(items, lambda m: math.floor(m.score / width) * width)
    for row in by_band:
        row["band"] = band_of(row["key"], width)
    by_rule = Counter((rule, m.reason) for m in rejected for rule in m.rules)
    judged_with = Counter(rule for m in [*accepted, *rejected] for rule in m.rules)
    rejected_with = Counter(rule for m in rejected for rule in m.rules)
    rate = _rate(len(rejected), len(accepted))  # the overall rejection rate
    won = sorted(m.score for m in accepted if m.outcome == "won")
    recommended = None
    if won:
        # The highest bar that still keeps KEEP of the accepted-and-won MQLs.
        threshold = won[int(len(won) * (1 - KEEP) + 1e-9)]
        scores = sorted(m.score for m in items)
        cut = bisect_left(scores, threshold)
        recommended = {
            "score": threshold,
            "keeps_won": sum(s >= threshold for s in won),
            "of_won": len(won),
            "mqls_cut": cut,
            "rejections_cut": sum(m.score < threshold for m in rejected),
        }
    return {
        "mqls": len(items),
        "accepted": len(accepted),
        "rejected": len(rejected),
        "unjudged": len(items) - len(accepted) - len(rejected),
        "acceptance_rate": _rate(len(accepted), len(rejected)),
        "by_band": by_band,
        "by_grade": _group(items, lambda m: m.grade),
        "rejections_by_rule": [
            {"rule": rule, "reason": reason, "count": n}
            for (rule, reason), n in sorted(by_rule.items(), key=lambda x: (-x[1], x[0]))
        ],
        # Rules that fire more often among rejected MQLs than among all: where sales and
        # the model disagree (lift over 1), worth a look at their points.
        "rules_by_rejection": sorted(
            (
                {
                    "rule": rule,
                    "judged": n,
                    "rejected": rejected_with[rule],
                    "rejection_rate": rejected_with[rule] / n,
                    "lift": None if not rate else rejected_with[rule] / n / rate,
                }
                for rule, n in judged_with.items()
            ),
            key=lambda r: (-r["rejection_rate"], -r["judged"], r["rule"]),
        ),
        "accepted_lost": sorted({m.lead_id for m in accepted if m.outcome == "lost"}),
        "accepted_won": len(won),
        "recommended_threshold": recommended,
    }
