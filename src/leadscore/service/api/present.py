"""Domain values -> the API's out schemas (and nothing of a table row passes unshaped)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from leadscore.one_lead import LeadScore
from leadscore.service.api import schemas as s
from leadscore.service.ingest import Outcome
from leadscore.service.leads import LeadNow
from leadscore.service.times import iso


def answer(model: BaseModel, status: int = 200) -> Response:
    """The model as JSON, as it is: built from the out schemas already, so FastAPI's second
    validation of a returned value (a third of a list page's time) is not needed."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def lifecycle(stored: dict[str, Any] | None) -> s.LifecycleOut:
    if stored is None:
        return s.LifecycleOut(stage="open", mql_since=None)
    return s.LifecycleOut(stage=stored["stage"], mql_since=iso(stored["mql_since"]))


def score_out(
    score: LeadScore, version: str, as_of: float, stored: dict[str, Any] | None
) -> s.ScoreOut:
    return s.ScoreOut(
        score=score.score,
        fit_score=score.fit_score,
        engagement_score=score.engagement_score,
        grade=score.grade,
        label=score.label,
        mql=score.mql,
        probability=score.probability,
        reasons=[s.ReasonOut(rule=r.rule, points=r.points) for r in score.reasons],
        factors=None if score.factors is None else [dict(f) for f in score.factors],
        version=version,
        as_of=iso(as_of) or "",
        lifecycle=lifecycle(stored),
    )


def lead_now_out(found: LeadNow, as_of: float) -> s.LeadOut:
    return s.LeadOut(
        lead_id=found.state.lead_id,
        attributes=found.state.attributes,
        scores={
            name: score_out(score, v.version, as_of, stored)
            for name, (v, score, stored) in found.scores.items()
        },
    )


def outcome_leads(outcome: Outcome, versions: dict[str, str], as_of: float) -> list[s.LeadOut]:
    """The touched leads with their new scores (versions: model name -> version)."""
    out = []
    for lead_id, state in outcome.leads.items():
        scores = {}
        for name, by_lead in outcome.scores.items():
            if lead_id in by_lead:
                stored = outcome.recorded[name].rows.get(lead_id)
                scores[name] = score_out(by_lead[lead_id], versions[name], as_of, stored)
        out.append(s.LeadOut(lead_id=lead_id, attributes=state.attributes, scores=scores))
    return out


def page_out(rows: list[dict[str, Any]], next_cursor: str | None) -> s.LeadPage:
    """Stored score rows as a list page, validated in one call (fifty models with their
    reasons built one by one were a quarter of a page's time)."""
    return s.LeadPage.model_validate(
        {"data": [_row_fields(r) for r in rows], "next_cursor": next_cursor}
    )


def _row_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "lead_id": row["lead_id"],
        "model": row["model"],
        "version": row["version"],
        "attributes": row.get("attributes") or {},
        "score": row["score"],
        "fit_score": row["fit_score"],
        "engagement_score": row["engagement_score"],
        "grade": row["grade"],
        "label": row["label"],
        "mql": bool(row["mql"]),
        "probability": row["probability"],
        "reasons": json.loads(row["reasons"] or "[]"),
        "account": row["account"],
        "lifecycle": {"stage": row["stage"], "mql_since": iso(row["mql_since"])},
        "scored_at": iso(row["scored_at"]) or "",
    }


def history_out(row: dict[str, Any]) -> s.HistoryEntry:
    return s.HistoryEntry(
        at=iso(row["at"]) or "",
        model=row["model"],
        version=row["version"],
        score=row["score"],
        grade=row["grade"],
        label=row["label"],
        mql=bool(row["mql"]),
        stage=row["stage"],
        cause=row["cause"] or {},
    )
