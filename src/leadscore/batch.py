"""Score files in batch: check the inputs, compile the model, run it, write atomically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa

from leadscore import timeutil
from leadscore.compile import account_scores, compile_model
from leadscore.compile.dialects import dialect_for
from leadscore.compile.engagement import LAST_TS, N_EVENTS
from leadscore.compile.readings import add_readings, condition_expr, readings_for
from leadscore.engines import DuckDBEngine
from leadscore.engines.base import IbisEngine
from leadscore.engines.canonical import (
    ROW,
)
from leadscore.errors import UsageError, given
from leadscore.inputs import Inputs, prepare
from leadscore.model.advice import model_warnings
from leadscore.model.conditions import Test, columns_of
from leadscore.model.schema import FitRule, ScoringModel
from leadscore.outputs import atomic_files
from leadscore.plan import ScoringPlan

Progress = Callable[[str, float], None]


@dataclass
class ScoreRun:
    """What a scoring run did, for the command line to report."""

    leads: int = 0
    events_ignored: int = 0
    warnings: list[str] = field(default_factory=list)


def score_inputs(
    engine: IbisEngine,
    model: ScoringModel,
    inputs: Inputs,
    *,
    as_of: float,
    progress: Progress | None = None,
    predictive_file: Path | None = None,
) -> tuple[ir.Table, ScoreRun]:
    """Score prepared inputs into a materialized table (one row per lead), with warnings."""
    run = ScoreRun(warnings=[*engine.warnings, *model_warnings(model)])
    plan = inputs.plan
    query = compile_model(
        plan,
        inputs.leads,
        inputs.events,
        as_of=as_of,
        id_column=inputs.id_column,
        dialect=dialect_for(engine.dialect),
        view=engine.view,
    )
    totals = None
    if query.event_totals is not None:
        totals = engine.materialize(query.event_totals, _phase(progress, "reading events"))
        known = inputs.leads.select(_ls_known=inputs.leads[inputs.id_column])
        orphans = totals.anti_join(known, totals.lead_id == known["_ls_known"])
        run.events_ignored = int(engine.scalar(orphans[N_EVENTS].sum()) or 0)
        if run.events_ignored:
            run.warnings.append(
                f"{run.events_ignored:,} events belong to leads that are not in the leads file; "
                "they were ignored"
            )
        counted = engine.scalar(totals[LAST_TS].notnull().sum())
        if not counted and engine.scalar(totals[N_EVENTS].sum()):
            run.warnings.append(
                "every event is after the time scored as of "
                f"({timeutil.format_epoch(as_of)}): none was counted; check --as-of"
            )
    elif inputs.events is None and plan.has_engagement:
        run.warnings.append(
            f"no {given('events')} given: engagement and inactivity rules were not applied"
        )
    scores = engine.materialize(
        query.scores(totals, engine.checkpoint), _phase(progress, "scoring leads")
    )
    if model.predictive is not None:
        if inputs.events is None and any(f.event for f in model.predictive.features):
            run.warnings.append(
                f"no {given('events')} given: the predictive model's event counts were taken as 0"
            )
        scores = _predictive(engine, model, inputs, scores, as_of, predictive_file, progress)
    run.leads = int(engine.scalar(scores.count()))
    if not run.leads:
        run.warnings.append("the leads file has no rows: nothing was scored")
    run.warnings += _catch_all_warnings(engine, plan, inputs, run.leads)
    return scores, run


# A learned catch-all ("Country: other values") stands for values that were rare when the
# model was learned: firing for most leads, it says that the data moved under the model.
CATCH_ALL_SUFFIX = "other values"
CATCH_ALL_WARNING_SHARE = 0.5
MIN_LEADS_FOR_SHARES = 100


def catch_all_rules(model: ScoringModel) -> list[FitRule]:
    """Fit rules of every value but a list, as learn names them ("Country: other values").

    A catch-all that also holds frequent values ("Country: India, other values") may
    rightly fire for most leads, so it is not one of them.
    """
    out = []
    for rule in model.fit.rules:
        test = rule.condition
        if (
            isinstance(test, Test)
            and rule.name == f"{test.column}: {CATCH_ALL_SUFFIX}"
            and (test.op == "not_in" or (test.op == "missing" and test.value is False))
        ):
            out.append(rule)
    return out


def _catch_all_warnings(
    engine: IbisEngine, plan: ScoringPlan, inputs: Inputs, n_leads: int
) -> list[str]:
    rules = catch_all_rules(plan.model)
    if not rules or n_leads < MIN_LEADS_FOR_SHARES:
        return []
    dialect = dialect_for(engine.dialect)
    readings = readings_for(r.condition for r in rules)
    leads = add_readings(inputs.leads, readings, sorted(plan.missing), dialect)
    counts = {
        f"_ls_w{i}": condition_expr(r.condition, leads, readings, dialect).sum()
        for i, r in enumerate(rules)
    }
    row = engine.fetch(leads.aggregate(**counts))[0]
    warnings = []
    for i, rule in enumerate(rules):
        share = (row[f"_ls_w{i}"] or 0) / n_leads
        if share > CATCH_ALL_WARNING_SHARE:
            column = next(iter(columns_of(rule.condition)))
            warnings.append(
                f"rule {rule.name!r} fired for {share:.0%} of the {n_leads:,} leads: it stands "
                f"for values of {column!r} that were rare when the model was learned, so most of "
                f"these leads have values the model does not know (a new period, renamed "
                f"values?); check {column!r}, or learn the model again"
            )
    return warnings


def score_to_file(
    engine: IbisEngine,
    model: ScoringModel,
    inputs: Inputs,
    out: Path,
    *,
    as_of: float,
    accounts_out: Path | None = None,
    progress: Progress | None = None,
    predictive_file: Path | None = None,
) -> ScoreRun:
    """Score and write OUT (and the accounts file); nothing is left half-written."""
    scores, run = score_inputs(
        engine, model, inputs, as_of=as_of, progress=progress, predictive_file=predictive_file
    )
    targets = [out] if accounts_out is None else [out, accounts_out]
    with atomic_files(targets) as temps:
        engine.write(
            scores.order_by([scores.score.desc(), scores.lead_id]),
            temps[0],
            _phase(progress, "writing"),
        )
        if accounts_out is not None:
            accounts = account_scores(
                inputs.plan, inputs.leads, scores, inputs.id_column, dialect_for(engine.dialect)
            )
            engine.write(accounts, temps[1])
    return run


@dataclass(frozen=True)
class Scored:
    scores: pa.Table
    accounts: pa.Table | None = None


def score_tables(
    model: ScoringModel,
    leads: pa.Table,
    events: pa.Table | None = None,
    *,
    as_of: object,
    id_column: str | None = None,
    engine: IbisEngine | None = None,
    predictive_file: Path | None = None,
) -> Scored:
    """Score in-memory tables on an engine (DuckDB by default).

    Rows come in no particular order; accounts are included when the model has them.
    A model with a predictive component needs its file (`model.load.predictive_path`).
    """
    from leadscore.timeutil import to_epoch

    engine = engine or DuckDBEngine()
    inputs = prepare(
        engine,
        model,
        engine.from_arrow(leads),
        engine.from_arrow(events) if events is not None else None,
        leads_name="leads",
        events_name="events",
        id_column=id_column,
    )
    scores, _ = score_inputs(
        engine, model, inputs, as_of=to_epoch(as_of), predictive_file=predictive_file
    )
    accounts = None
    if model.accounts is not None:
        accounts = engine.to_arrow(
            account_scores(
                inputs.plan, inputs.leads, scores, inputs.id_column, dialect_for(engine.dialect)
            )
        )
    return Scored(engine.to_arrow(scores), accounts)


def _predictive(
    engine: IbisEngine,
    model: ScoringModel,
    inputs: Inputs,
    scores: ir.Table,
    as_of: float,
    model_file: Path | None,
    progress: Progress | None,
) -> ir.Table:
    from leadscore.predictive_scores import with_predictive

    if model_file is None:
        raise UsageError(f"model {model.model!r} has a predictive component: give its file")
    if progress is not None:
        progress("predicting (LightGBM)", 0.0)
    table = with_predictive(
        engine,
        model,
        model_file,
        inputs.leads,
        inputs.events,
        scores,
        id_column=inputs.id_column,
        as_of=as_of,
    )
    return engine.materialize(table, _phase(progress, "predicting (LightGBM)"))


def _phase(progress: Progress | None, label: str) -> Callable[[float], None] | None:
    if progress is None:
        return None
    return lambda done: progress(label, done)


__all__ = [
    "ROW",
    "ScoreRun",
    "Scored",
    "score_inputs",
    "score_tables",
    "score_to_file",
]
