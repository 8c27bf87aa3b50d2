"""`leadscore review`: measure a model on real outcomes, and backtest a change.

data.py         scores the leads with each model (DuckDB) and joins the outcomes
performance.py  AUC, PR AUC, KS, gain and lift by decile, conversion per group,
                calibration, MQL precision / recall / volume per threshold
rules.py        each rule's observed lift against its points; rules to revisit
drift.py        population stability index against a reference period
compare.py      champion and challenger on the same leads, with a verdict
charts.py       the Plotly figures; report.py writes the HTML and the JSON
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from leadscore.errors import UsageError, given
from leadscore.model import load_model
from leadscore.review.data import (
    ABSENT_OPTION,
    Outcomes,
    Progress,
    prepare_population,
    score_population,
)
from leadscore.timeutil import format_epoch

FORMAT = 1  # version of the JSON layout


@dataclass(frozen=True)
class ReviewFiles:
    """What a review reads, as files: the command line's arguments."""

    model: Path
    leads: Path
    target: str
    events: Path | None = None
    outcomes: Path | None = None
    positive: str | None = None
    id_column: str | None = None
    as_of: float | None = None
    compare: Path | None = None
    reference: Path | None = None
    reference_events: Path | None = None
    encoding: str = "utf-8"  # of text inputs
    absent_not_converted: bool = False  # leads the outcomes file does not list


def review(
    req: ReviewFiles,
    progress: Progress | None = None,
    step: Callable[[str], None] | None = None,
) -> dict:
    """Every number of the review, as one JSON-ready dictionary."""
    from leadscore.engines import DuckDBEngine
    from leadscore.review.compare import compare
    from leadscore.review.drift import drift
    from leadscore.review.performance import gain, performance
    from leadscore.review.rules import rule_health

    say = step or (lambda _: None)
    if req.reference_events is not None and req.reference is None:
        raise UsageError(
            f"{given('reference_events')} goes with {given('reference')} (the earlier leads)"
        )
    if req.absent_not_converted and req.outcomes is None:
        raise UsageError(f"{ABSENT_OPTION} goes with {given('outcomes')} (the file of converters)")
    champion = load_model(req.model)
    models = [(req.model, champion)]
    if req.compare is not None:
        challenger = load_model(req.compare)
        if challenger.id != champion.id and req.id_column is None:
            raise UsageError(
                f"{given('compare')} {req.compare}: its id column is {challenger.id!r} and "
                f"{req.model}'s is {champion.id!r}; both models must read the same leads "
                f"(give them the same id, or name the column with {given('id_column')})"
            )
        models.append((req.compare, challenger))
    engine = DuckDBEngine(req.encoding)
    try:
        # Both files are checked before either is scored: bad input stops at once.
        prepared = prepare_population(
            engine,
            models,
            req.leads,
            req.events,
            id_column=req.id_column,
            as_of=req.as_of,
            outcomes=Outcomes(req.target, req.positive, req.outcomes, req.absent_not_converted),
        )
        prepared_reference = None
        if req.reference is not None:
            prepared_reference = prepare_population(
                engine,
                [(req.model, champion)],
                req.reference,
                req.reference_events or req.events,
                id_column=req.id_column,
                as_of=None,
                outcomes=None,
            )
        current = score_population(engine, prepared, progress)
        reference = None
        if prepared_reference is not None:
            say("scoring the reference period")
            reference = score_population(engine, prepared_reference)
    finally:
        engine.close()
    say("measuring")
    labelled = current.labelled
    y = labelled.y
    scores = labelled.scores[0]
    warnings = list(scores.warnings)
    left_out = current.ids.size - labelled.ids.size
    if left_out:
        warnings.append(
            f"{left_out:,} of {current.ids.size:,} leads have no outcome "
            f"({req.target!r} empty or not in the outcomes): they were left out"
        )
    out: dict = {
        "format": FORMAT,
        "generated_at": format_epoch(round(datetime.now(UTC).timestamp())),
        "model": _model_info(req.model, champion),
        "data": {
            "leads_file": str(req.leads),
            "events_file": None if req.events is None else str(req.events),
            "outcomes_file": str(req.outcomes or req.leads),
            "target": req.target,
            "positive": prepared.positive,
            "as_of": format_epoch(current.as_of),
            "leads": int(current.ids.size),
            "with_outcome": int(y.size),
            "without_outcome": int(left_out),
        },
        "warnings": warnings,
        "performance": performance(y, scores),
    }
    say("checking the rules")
    out["rules"] = rule_health(y, scores, events_given=req.events is not None)
    out["drift"] = None
    if reference is not None:
        say("measuring drift")
        out["drift"] = drift(champion, reference, current)
    out["comparison"] = None
    if req.compare is not None:
        say("comparing with the challenger")
        challenger_scores = labelled.scores[1]
        comparison = compare(labelled.ids, y, scores, challenger_scores)
        comparison["challenger"]["gain"] = gain(y, challenger_scores.score)
        comparison["challenger"]["warnings"] = challenger_scores.warnings
        out["comparison"] = comparison
    return out


def _model_info(path: Path, model) -> dict:
    mql = model.thresholds.mql
    return {
        "file": str(path),
        "name": model.model,
        "version": model.version,
        "description": model.description.strip(),
        "rules": len(model.rule_names),
        "mql_threshold": None if mql is None else float(mql.score),
        "mql_min_grade": None if mql is None else mql.min_grade,
        "probability": "predictive"
        if model.predictive is not None
        else "calibration"
        if model.calibration is not None
        else None,
    }


__all__ = ["ReviewFiles", "review"]
