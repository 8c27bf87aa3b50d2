"""`leadscore review`: measure a model on real outcomes, and backtest a change.

review_data()   the data-level entry: parsed models, leads as files or Arrow tables in,
                a Review out; review() reads the command line's files and calls it
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from leadscore.errors import UsageError, given
from leadscore.inputs import Source, source_name
from leadscore.model import load_model
from leadscore.review.data import (
    ABSENT_OPTION,
    ModelInput,
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


@dataclass
class Review:
    """Every number of a review, by section (`as_json()` is what `--json` writes)."""

    model: dict
    data: dict
    warnings: list[str]
    performance: dict
    rules: dict
    drift: dict | None = None
    comparison: dict | None = None
    # Reviews of the service's data: MQL acceptance and outcomes as the reps saw them.
    sales: dict | None = None
    generated_at: str = field(
        default_factory=lambda: format_epoch(round(datetime.now(UTC).timestamp()))
    )

    def as_json(self) -> dict:
        return {
            "format": FORMAT,
            "generated_at": self.generated_at,
            "model": self.model,
            "data": self.data,
            "warnings": self.warnings,
            "performance": self.performance,
            "rules": self.rules,
            "drift": self.drift,
            "comparison": self.comparison,
            "sales": self.sales,
        }


def review(
    req: ReviewFiles,
    progress: Progress | None = None,
    step: Callable[[str], None] | None = None,
) -> dict:
    """A review of files (the command line's): the models are read, then review_data."""
    _check_pairs(req.reference, req.reference_events, req.outcomes, req.absent_not_converted)
    champion = load_model(req.model)
    challenger = None
    if req.compare is not None:
        challenger = ModelInput.from_file(req.compare, load_model(req.compare))
    return review_data(
        ModelInput.from_file(req.model, champion),
        req.leads,
        target=req.target,
        events=req.events,
        outcomes=req.outcomes,
        positive=req.positive,
        id_column=req.id_column,
        as_of=req.as_of,
        challenger=challenger,
        reference=req.reference,
        reference_events=req.reference_events,
        absent_not_converted=req.absent_not_converted,
        encoding=req.encoding,
        progress=progress,
        step=step,
    ).as_json()


def review_data(
    champion: ModelInput,
    leads: Source,
    *,
    target: str,
    events: Source | None = None,
    outcomes: Source | None = None,
    positive: str | None = None,
    id_column: str | None = None,
    as_of: object = None,
    challenger: ModelInput | None = None,
    reference: Source | None = None,
    reference_events: Source | None = None,
    absent_not_converted: bool = False,
    encoding: str = "utf-8",
    progress: Progress | None = None,
    step: Callable[[str], None] | None = None,
) -> Review:
    """Review parsed models on leads given as files or in-memory tables (pyarrow).

    `outcomes` holds the target when the leads do not; `reference` is an earlier period
    of leads, for drift; `challenger` is backtested on the same leads. `as_of` is epoch
    seconds, a datetime or ISO text (default: the latest event).
    """
    from leadscore.engines import DuckDBEngine
    from leadscore.review.compare import compare
    from leadscore.review.drift import drift
    from leadscore.review.performance import gain, performance
    from leadscore.review.rules import rule_health
    from leadscore.timeutil import to_epoch

    say = step or (lambda _: None)
    _check_pairs(reference, reference_events, outcomes, absent_not_converted)
    models = [champion]
    if challenger is not None:
        if challenger.model.id != champion.model.id and id_column is None:
            raise UsageError(
                f"{given('compare')} {challenger.source}: its id column is "
                f"{challenger.model.id!r} and {champion.source}'s is {champion.model.id!r}; "
                "both models must read the same leads (give them the same id, or name the "
                f"column with {given('id_column')})"
            )
        models.append(challenger)
    engine = DuckDBEngine(encoding)
    try:
        # Both periods are checked before either is scored: bad input stops at once.
        prepared = prepare_population(
            engine,
            models,
            leads,
            events,
            id_column=id_column,
            as_of=None if as_of is None else to_epoch(as_of),
            outcomes=Outcomes(target, positive, outcomes, absent_not_converted),
        )
        prepared_reference = None
        if reference is not None:
            prepared_reference = prepare_population(
                engine,
                [champion],
                reference,
                reference_events if reference_events is not None else events,
                id_column=id_column,
                as_of=None,
                outcomes=None,
            )
        current = score_population(engine, prepared, progress)
        earlier = None
        if prepared_reference is not None:
            say("scoring the reference period")
            earlier = score_population(engine, prepared_reference)
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
            f"({target!r} empty or not in the outcomes): they were left out"
        )
    result = Review(
        model=_model_info(champion),
        data={
            "leads_file": prepared.source,
            "events_file": source_name(events, "events"),
            "outcomes_file": source_name(outcomes, "outcomes") or prepared.source,
            "target": target,
            "positive": prepared.positive,
            "as_of": format_epoch(current.as_of),
            "leads": int(current.ids.size),
            "with_outcome": int(y.size),
            "without_outcome": int(left_out),
        },
        warnings=warnings,
        performance=performance(y, scores),
        rules={},
    )
    say("checking the rules")
    result.rules = rule_health(y, scores, events_given=events is not None)
    if earlier is not None:
        say("measuring drift")
        result.drift = drift(champion.model, earlier, current)
    if challenger is not None:
        say("comparing with the challenger")
        challenger_scores = labelled.scores[1]
        comparison = compare(labelled.ids, y, scores, challenger_scores)
        comparison["challenger"]["gain"] = gain(y, challenger_scores.score)
        comparison["challenger"]["warnings"] = challenger_scores.warnings
        result.comparison = comparison
    return result


def _check_pairs(
    reference: object, reference_events: object, outcomes: object, absent_not_converted: bool
) -> None:
    """Inputs that only mean something together, checked before anything is read."""
    if reference_events is not None and reference is None:
        raise UsageError(
            f"{given('reference_events')} goes with {given('reference')} (the earlier leads)"
        )
    if absent_not_converted and outcomes is None:
        raise UsageError(f"{ABSENT_OPTION} goes with {given('outcomes')} (the file of converters)")


def _model_info(entry: ModelInput) -> dict:
    model = entry.model
    mql = model.thresholds.mql
    return {
        "file": entry.source,
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


__all__ = ["ModelInput", "Review", "ReviewFiles", "review", "review_data"]
