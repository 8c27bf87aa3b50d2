"""The leads of a review: scored by each model, joined to their outcomes, as arrays.

Scoring runs on DuckDB through the batch engine (the same compiled model as
`leadscore score`); the rest of the review works on the arrays read here. Lead ids
are matched as text, exactly (case included), as `score` matches them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from leadscore.batch import score_inputs
from leadscore.columns import read_outcome
from leadscore.engines import DuckDBEngine
from leadscore.engines.canonical import ROW, text_form
from leadscore.errors import DataError, given, no_column
from leadscore.inputs import Inputs, Source, check_ids, open_source, prepare, source_name
from leadscore.model.conditions import columns_of
from leadscore.model.load import predictive_path
from leadscore.model.schema import ScoringModel
from leadscore.plan import ScoringPlan, build_plan

Progress = Callable[[str, float], None]
_REASONS_TYPE = '[{"rule": "VARCHAR", "points": "DOUBLE"}]'


@dataclass
class ModelScores:
    """One model's scores of a population, row for row with `Population.ids`."""

    source: str  # the model's file, or the name its caller gave it
    plan: ScoringPlan  # the model's: its rules, grades and MQL as scoring read them
    score: np.ndarray
    grade: np.ndarray  # text, object array
    label: np.ndarray  # text or None
    mql: np.ndarray  # bool
    probability: np.ndarray  # NaN where the model gives none
    # The JSON reasons as `score` writes them; kept in Arrow (a million Python strings
    # would cost hundreds of megabytes), read only for the few examples shown.
    reasons: pa.ChunkedArray
    contributions: sparse.csr_matrix  # lead x rule (model.rule_names order)
    warnings: list[str] = field(default_factory=list)

    @property
    def model(self) -> ScoringModel:
        return self.plan.model

    @property
    def title(self) -> str:
        return f"{self.model.model} v{self.model.version}"

    @property
    def has_probability(self) -> bool:
        return bool(np.isfinite(self.probability).any())

    def take(self, rows: np.ndarray) -> ModelScores:
        return replace(
            self,
            score=self.score[rows],
            grade=self.grade[rows],
            label=self.label[rows],
            mql=self.mql[rows],
            probability=self.probability[rows],
            reasons=self.reasons.take(pa.array(rows)),
            contributions=self.contributions[rows],
        )


@dataclass
class Population:
    """Scored leads of one file: the current period, or the reference period."""

    source: str
    as_of: float
    ids: np.ndarray  # text
    y: np.ndarray  # 1 converted, 0 not, -1 no outcome (or no target)
    attributes: dict[str, pa.ChunkedArray]  # the fit rules' columns, as text
    scores: list[ModelScores]

    @property
    def labelled(self) -> Population:
        """Only the leads with an outcome (the same object when every lead has one)."""
        rows = np.flatnonzero(self.y >= 0)
        if rows.size == self.y.size:
            return self
        return Population(
            self.source,
            self.as_of,
            self.ids[rows],
            self.y[rows],
            {k: v.take(pa.array(rows)) for k, v in self.attributes.items()},
            [s.take(rows) for s in self.scores],
        )


@dataclass(frozen=True)
class ModelInput:
    """A model to review: parsed, with the name reports give it and its predictive file."""

    model: ScoringModel
    source: str  # its file, or a name
    predictive_file: Path | None = None

    @classmethod
    def from_file(cls, path: Path, model: ScoringModel) -> ModelInput:
        return cls(model, str(path), predictive_path(path, model))


@dataclass(frozen=True)
class Outcomes:
    target: str
    positive: str | None = None
    file: Source | None = None  # default: the target column of the leads
    # Leads the outcomes file does not list did not convert (a file of won deals).
    absent_not_converted: bool = False


ABSENT_OPTION = given("absent_not_converted")


@dataclass
class Prepared:
    """A leads file checked against the models (and its outcomes), ready to score."""

    source: str
    models: list[ModelInput]
    inputs: list[Inputs]
    base: ir.Table  # text id, the fit columns and (with outcomes) `_ls_y`
    fit_columns: list[str]
    as_of: float
    positive: str | None
    has_outcomes: bool


def prepare_population(
    engine: DuckDBEngine,
    models: list[ModelInput],
    leads: Source,
    events: Source | None,
    *,
    id_column: str | None,
    as_of: float | None,
    outcomes: Outcomes | None,
) -> Prepared:
    """Check the inputs (and the outcomes) for every model; nothing is scored yet.

    Every check a user can fail runs here, so that a review stops on bad input before
    the scoring, which can take minutes.
    """
    raw = open_source(engine, leads)
    raw_events = open_source(engine, events) if events is not None else None
    leads_name = source_name(leads, "leads")
    assert leads_name is not None
    inputs = []
    for k, entry in enumerate(models):
        try:
            inputs.append(
                prepare(
                    engine,
                    entry.model,
                    raw,
                    raw_events,
                    leads_name=leads_name,
                    events_name=source_name(events, "events"),
                    id_column=id_column,
                )
            )
        except DataError as exc:
            if k == 0:
                raise
            # The challenger reads the same files: say that the rule is the challenger's.
            raise DataError(
                exc.path,
                f"{exc.message} (in the {given('compare')} model {entry.source})",
                row=exc.row,
                column=exc.column,
            ) from None
    if as_of is None:
        as_of = latest_event(engine, inputs[0])
    table = inputs[0].leads
    key = inputs[0].id_column
    fit_columns = sorted(
        {c for c in table.columns if c != key} & set(fit_attributes(models[0].model))
    )
    base = table.select(_ls_id=text_form(table[key]), **{c: table[c] for c in fit_columns})
    positive = None
    if outcomes is not None:
        known, positive = _outcomes(engine, raw, leads_name, outcomes, key)
        base = base.left_join(known, base._ls_id == known._ls_oid).drop("_ls_oid")
        if outcomes.absent_not_converted:
            base = base.mutate(_ls_y=base._ls_y.fill_null(0))
    return Prepared(
        leads_name, models, inputs, base, fit_columns, as_of, positive, outcomes is not None
    )


def score_population(
    engine: DuckDBEngine, prepared: Prepared, progress: Progress | None = None
) -> Population:
    """Score the prepared leads with every model, fetched as arrays in id order."""
    base = prepared.base
    warnings: list[list[str]] = []
    n = len(prepared.models)
    for k, (entry, inputs) in enumerate(zip(prepared.models, prepared.inputs, strict=True)):
        scores, run = score_inputs(
            engine,
            entry.model,
            inputs,
            as_of=prepared.as_of,
            progress=_prefixed(progress, k, n),
            predictive_file=entry.predictive_file,
        )
        warnings.append(run.warnings)
        columns = ("score", "grade", "label", "mql", "probability", "reasons")
        picked = scores.select(
            _ls_id=text_form(scores.lead_id), **{f"_m{k}_{c}": scores[c] for c in columns}
        )
        base = base.join(picked, "_ls_id")
    fetched = engine.to_arrow(base.order_by("_ls_id"))
    ids = np.asarray(fetched["_ls_id"].to_pylist(), dtype=object)
    y = np.full(len(ids), -1, dtype=np.int8)
    if prepared.has_outcomes:
        y = pc.fill_null(fetched["_ls_y"], -1).to_numpy().astype(np.int8)
    scored = [
        _model_scores(entry.source, inputs.plan, fetched, k, warnings[k])
        for k, (entry, inputs) in enumerate(zip(prepared.models, prepared.inputs, strict=True))
    ]
    attributes = {c: fetched[c] for c in prepared.fit_columns}
    return Population(prepared.source, prepared.as_of, ids, y, attributes, scored)


def latest_event(engine: DuckDBEngine, inputs: Inputs) -> float:
    """The time of the latest event of these leads: what a review scores as of, by default.

    Scoring historical leads as of today would decay every event they had; as of their
    latest event, the scores are those the model gave when the data ended.
    """
    from leadscore.timeutil import parse_as_of

    if inputs.events is None:
        return parse_as_of(None)
    ev = inputs.events
    known = inputs.leads[inputs.id_column]
    latest = engine.scalar(ev.filter(ev.lead_id.isin(known)).ts.max())
    return float(latest) if latest is not None else parse_as_of(None)


def fit_attributes(model: ScoringModel) -> list[str]:
    """The lead columns the fit rules read, in rule order."""
    seen: dict[str, None] = {}
    for term in build_plan(model).fit:
        for column in sorted(columns_of(term.condition)):
            seen.setdefault(column)
    return list(seen)


def _outcomes(
    engine: DuckDBEngine,
    leads_raw: ir.Table,
    leads: str,
    outcomes: Outcomes,
    key: str,
) -> tuple[ir.Table, str]:
    """Each lead's outcome (`_ls_oid`, `_ls_y`: 1, 0 or -1 when empty), checked."""
    raw = leads_raw if outcomes.file is None else open_source(engine, outcomes.file)
    name = source_name(outcomes.file, "outcomes") or leads
    columns = engine.columns(raw)
    if outcomes.target not in columns:
        raise no_column(name, "target column", outcomes.target, columns)
    if outcomes.file is not None:
        if key not in columns:
            raise no_column(name, "id column", key, columns)
        check_ids(engine, raw, name, key)
        ids = raw.select(_ls_oid=text_form(raw[key]))
        lead_ids = leads_raw.select(_ls_id=text_form(leads_raw[key]))
        if not engine.scalar(ids.semi_join(lead_ids, ids._ls_oid == lead_ids._ls_id).count()):
            raise DataError(
                name,
                f"no lead in common with {leads}: no {key!r} of one file is in the other "
                "(ids are compared exactly, case included)",
                column=key,
            )
    fetched = engine.to_arrow(
        raw.select(_ls_oid=text_form(raw[key]), _ls_target=raw[outcomes.target], row=raw[ROW])
    )
    hint = None
    if outcomes.file is not None:
        hint = (
            "a file of converters only (won deals)? add "
            f"{ABSENT_OPTION} to count the leads it does not list as not converted"
        )
    y, positive = read_outcome(
        name,
        fetched["_ls_target"],
        outcomes.target,
        outcomes.positive,
        fetched["row"],
        allow_missing=True,
        converters_only=outcomes.absent_not_converted,
        converters_only_hint=hint,
    )
    known = engine.from_arrow(
        pa.table({"_ls_oid": fetched["_ls_oid"], "_ls_y": pa.array(y, pa.int8())})
    ).drop(ROW)
    lead_ids = leads_raw.select(_ls_id=text_form(leads_raw[key]))
    reviewed = known.semi_join(lead_ids, known._ls_oid == lead_ids._ls_id)
    reviewed = reviewed.filter(reviewed._ls_y >= 0)
    counts = engine.fetch(reviewed.group_by("_ls_y").aggregate(n=reviewed.count()))
    if outcomes.absent_not_converted:
        absent = lead_ids.anti_join(known, lead_ids._ls_id == known._ls_oid).count()
        if engine.scalar(absent):
            counts.append({"_ls_y": 0, "n": 0})
    if len({c["_ls_y"] for c in counts}) == 1:
        n, converted = counts[0]["n"], counts[0]["_ls_y"] == 1
        raise DataError(
            name,
            (f"all {n:,} leads" if converted else f"none of the {n:,} leads")
            + " with an outcome converted; a review needs both outcomes",
            column=outcomes.target,
        )
    return known, positive


def _model_scores(
    source: str, plan: ScoringPlan, fetched: pa.Table, k: int, warnings: list[str]
) -> ModelScores:
    def column(name: str) -> pa.ChunkedArray:
        return fetched[f"_m{k}_{name}"]

    probability = pc.fill_null(pc.cast(column("probability"), pa.float64()), np.nan)
    reasons = column("reasons")
    return ModelScores(
        source=source,
        plan=plan,
        score=column("score").to_numpy().astype(float),
        grade=np.asarray(column("grade").to_pylist(), dtype=object),
        label=np.asarray(column("label").to_pylist(), dtype=object),
        mql=pc.fill_null(column("mql"), False).to_numpy(zero_copy_only=False).astype(bool),
        probability=probability.to_numpy().astype(float),
        reasons=reasons,
        contributions=contributions(reasons, list(plan.rule_names)),
        warnings=warnings,
    )


def contributions(reasons: pa.ChunkedArray, rules: list[str]) -> sparse.csr_matrix:
    """Each lead's points from each rule, from the reasons JSON (unnested by DuckDB)."""
    n = len(reasons)
    table = pa.table({"i": pa.array(np.arange(n, dtype=np.int64)), "r": reasons})
    con = duckdb.connect()
    try:
        con.register("reasons", table)
        long = con.execute(
            "SELECT i, x.rule AS rule, x.points AS points FROM ("
            f"SELECT i, unnest(from_json(r, '{_REASONS_TYPE}')) AS x FROM reasons)"
        ).arrow()
    finally:
        con.close()
    long = long.read_all() if hasattr(long, "read_all") else long
    index = pc.index_in(long["rule"], value_set=pa.array(rules, pa.string()))
    keep = pc.invert(pc.is_null(index))
    rows = pc.filter(long["i"], keep).to_numpy()
    cols = pc.filter(index, keep).to_numpy()
    points = pc.filter(long["points"], keep).to_numpy()
    return sparse.csr_matrix((points, (rows, cols)), shape=(n, len(rules)))


def top_reasons(reasons_json: str | None, k: int = 3) -> list[dict]:
    if not reasons_json:
        return []
    return [{"rule": r["rule"], "points": round(r["points"], 2)} for r in json.loads(reasons_json)][
        :k
    ]


def _prefixed(progress: Progress | None, k: int, n: int) -> Progress | None:
    if progress is None or n == 1:
        return progress
    who = "champion" if k == 0 else "challenger"
    return lambda phase, done: progress(f"{who}: {phase}", done)
