"""Compile a ScoringModel into Ibis expressions (SPEC 1, "Exact semantics").

Input tables are canonical (see leadscore.engines.canonical): every lead attribute
and event property is text, `lead_id` is text, and event time `ts` is epoch seconds.
The expressions are built on whatever tables are passed in, bound or unbound, so
the same compiled model runs on DuckDB, Spark or any Ibis backend.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from leadscore import patterns
from leadscore.compile.dialects import PORTABLE, Dialect
from leadscore.compile.engagement import LAST_TS, EventsRead, event_totals, rule_column
from leadscore.compile.literals import patch_default_dialects
from leadscore.compile.readings import Readings, add_readings, condition_expr, readings_for
from leadscore.errors import UsageError
from leadscore.model.conditions import tests_of
from leadscore.model.schema import LogisticCalibration, ScoringModel
from leadscore.plan import REASON_KEY_MAX, REASON_RESOLUTION, ScoringPlan, as_plan
from leadscore.timeutil import MAX_LOG_ODDS, SECONDS_PER_DAY

patch_default_dialects()

EVENT_COLUMNS = ("lead_id", "event", "ts")
OUTPUT_COLUMNS = (
    "lead_id",
    "score",
    "fit_score",
    "engagement_score",
    "grade",
    "label",
    "mql",
    "probability",
    "reasons",
)


@dataclass(frozen=True)
class ScoreQuery:
    """The compiled model, in two stages so that an engine may materialize the first.

    `event_totals` reduces the events to one row per lead (rule sums, latest event,
    event count); `scores(totals, checkpoint=...)` joins such a table to the leads
    and finishes, passing its intermediate steps through `checkpoint`.
    """

    event_totals: ir.Table | None
    scores: Callable[..., ir.Table]

    def single(self) -> ir.Table:
        """Both stages as one expression (what `leadscore compile` prints)."""
        return self.scores(self.event_totals)


# Reasons are ordered as plan.reason_key orders them; on PostgreSQL by a text key of
# this many digits (the magnitude, then the rank of the rule's name).
_KEY_DIGITS, _RANK_DIGITS = 16, 4
_KEY_MAX = REASON_KEY_MAX

# Internal column names; the prefix keeps them apart from the user's attribute names.
LEAD_KEY = "_ls_lead"


# -- scores --------------------------------------------------------------------------


def _clip(value: ir.NumericValue, low: float | None, high: float | None) -> ir.NumericValue:
    if low is None and high is None:
        return value
    return value.clip(lower=low, upper=high)


def _ratio(clipped: ir.NumericValue, raw: ir.NumericValue) -> ir.NumericValue:
    return ibis.ifelse(raw != 0, clipped / raw, 1.0)


def _reasons_json(parts: list[Part], scale: ir.NumericValue, dialect: Dialect) -> ir.StringValue:
    """A JSON list of {"rule", "points"}, zeros left out, largest magnitude first.

    Each part is a rule's raw points and the factor of its category's cap; `scale` is
    the factor of the score range. Built from text so that it is the same on every
    backend; rule names are escaped here, at compile time. The order is by magnitude
    in micro-points (float noise below 1e-6 must not reorder reasons between
    engines), then by rule name.
    """
    if not parts:
        return ibis.literal("[]")
    heads = [f'{{"rule": {json.dumps(p.name)}, "points": ' for p in parts]
    if dialect.sorts_structs:
        # Sorting structs sorts by their first field, then the next (DuckDB, Spark); the
        # sort key is computed in a lambda, so that the expression grows by few nodes a
        # rule. (Ibis' zip of arrays rebuilds each array per element: quadratic.)
        items = [
            ibis.struct(
                {
                    "v": p.points * p.factor * scale,
                    "name": ibis.literal(p.name),
                    "head": ibis.literal(head),
                }
            )
            for p, head in zip(parts, heads, strict=True)
        ]

        def keyed(s: ir.StructValue) -> ir.StructValue:
            return ibis.struct({"k": -_micro(s.v), "name": s["name"], "v": s.v, "head": s.head})

        kept = (
            ibis.array(items)
            .filter(lambda s: s.v != 0)
            .map(keyed)
            .sort()
            .map(lambda s: s.head + s.v.cast("string") + ibis.literal("}"))
        )
    else:
        # PostgreSQL cannot sort an array of anonymous records: sort texts that start
        # with a fixed-width key (magnitude, then rank by name), then cut the key off.
        rank = {name: i for i, name in enumerate(sorted(p.name for p in parts))}
        items = []
        for part, head in zip(parts, heads, strict=True):
            value = part.points * part.factor * scale
            key = (_KEY_MAX - _micro(value).cast("int64")).cast("string").lpad(_KEY_DIGITS, "0")
            prefix = ibis.literal(f"{rank[part.name]:0{_RANK_DIGITS}d}{head}")
            text = key + prefix + value.cast("string") + ibis.literal("}")
            items.append(ibis.ifelse(value != 0, text, ibis.null("string")))
        cut = _KEY_DIGITS + _RANK_DIGITS
        kept = ibis.array(items).filter(lambda s: s.notnull()).sort().map(lambda s: s.substr(cut))
    return (ibis.literal("[") + ibis.literal(", ").join(kept) + ibis.literal("]")).fill_null("[]")


def _micro(value: ir.NumericValue) -> ir.IntegerValue:
    """|value| in micro-points; contributions are never null, so least() needs no guard."""
    return ibis.least((value.abs() * REASON_RESOLUTION).round(), _KEY_MAX)


@dataclass(frozen=True)
class Part:
    """A rule's contribution before the score range: raw points times its cap's factor."""

    name: str
    points: ir.NumericValue
    factor: ir.NumericValue


def _probability(plan: ScoringPlan, score: ir.NumericValue) -> ir.NumericValue:
    cal = plan.calibration
    if cal is None:
        return ibis.null("float64")
    if isinstance(cal, LogisticCalibration):
        # Clipped log-odds: exp() overflows beyond 709 (PostgreSQL raises, Python too).
        log_odds = (cal.slope * score + cal.intercept).clip(-MAX_LOG_ODDS, MAX_LOG_ODDS)
        return 1.0 / (1.0 + (-log_odds).exp())
    pts = cal.points
    cases = [(score <= pts[0][0], ibis.literal(float(pts[0][1])))]
    for (s0, p0), (s1, p1) in itertools.pairwise(pts):
        cases.append((score <= s1, p0 + (p1 - p0) * (score - s0) / (s1 - s0)))
    return ibis.cases(*cases, else_=ibis.literal(float(pts[-1][1])))


Checkpoint = Callable[[ir.Table], ir.Table]


def _identity(table: ir.Table) -> ir.Table:
    return table


def _finish(
    plan: ScoringPlan,
    t: ir.Table,
    readings: Readings,
    id_column: str,
    as_of,
    has_events: bool,
    dialect: Dialect,
    checkpoint: Checkpoint,
) -> ir.Table:
    """Leads (joined to their event totals) -> the output, in steps.

    Each step reads the previous one's columns and is named by `checkpoint`: a view
    that the engine inlines (Ibis then compiles every step on its own, which keeps
    the time linear in the rules), or a stored table where the planner would
    otherwise evaluate each rule's condition many times over (PostgreSQL).
    """
    # 1. Each rule's raw points.
    raw: dict[str, ir.NumericValue] = {}
    for term in plan.fit:
        holds = condition_expr(term.condition, t, readings, dialect)
        raw[term.name] = ibis.ifelse(holds, term.points, 0.0)
    fit_names = list(raw)
    categories = plan.categories if has_events else ()
    if has_events:
        for event_term in plan.events:
            raw[event_term.name] = t[rule_column(event_term.index)].fill_null(0.0)
        for idle_term in plan.inactivity:
            last = t[LAST_TS]
            idle = last.isnull() | (as_of - last > idle_term.after_days * SECONDS_PER_DAY)
            raw[idle_term.name] = ibis.ifelse(idle, idle_term.points, 0.0)
    names = list(raw)
    column = {name: f"_ls_c{i}" for i, name in enumerate(names)}
    t = checkpoint(t.select(_ls_id=t[id_column], **{column[n]: value for n, value in raw.items()}))

    # 2. The fit score, each category's sum clipped to its cap, the score clipped to the
    # range, and the factors that scale the reasons to match: one step, its expressions
    # written out in full (each sum a few times), so that the rules' columns pass
    # through one step instead of four.
    capped = {k: c for k, c in enumerate(categories) if c.capped}
    subtotals = [_sum([t[column[n]] for n in c.members]) for c in categories]
    clipped = {k: _clip(subtotals[k], c.low, c.high) for k, c in capped.items()}
    fit = _sum([t[column[n]] for n in fit_names])
    engagement = _sum([clipped.get(k, sub) for k, sub in enumerate(subtotals)])
    raw_total = fit + engagement
    score = _clip(raw_total, *plan.score_range) if plan.score_range is not None else raw_total
    t = checkpoint(
        t.mutate(
            _ls_fit=fit,
            _ls_engagement=engagement,
            _ls_score=score,
            _ls_scale=_ratio(score, raw_total),
            **{f"_ls_sc{k}": _ratio(clipped[k], subtotals[k]) for k in capped},
        )
    )

    # 3. Grades, labels, MQL, probability and the reasons list.
    category_of = {n: k for k, c in enumerate(categories) for n in c.members}
    parts = [
        Part(
            n,
            t[column[n]],
            t[f"_ls_sc{category_of[n]}"]
            if category_of.get(n) in capped
            else ibis.literal(1.0, type="float64"),
        )
        for n in names
    ]
    score, fit = t["_ls_score"], t["_ls_fit"]
    grade = _grade(plan, fit)
    return t.select(
        lead_id=t["_ls_id"],
        score=score,
        fit_score=fit,
        engagement_score=t["_ls_engagement"],
        grade=grade,
        label=_label(plan, score),
        mql=_mql(plan, score, grade),
        probability=_probability(plan, score),
        reasons=_reasons_json(parts, t["_ls_scale"], dialect),
    )


def _sum(values: list[ir.NumericValue]) -> ir.NumericValue:
    """A balanced sum: a chain of a thousand additions is too deep for the SQL compilers."""
    if not values:
        return ibis.literal(0.0, type="float64")
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + ([values[-1]] if len(values) % 2 else [])
    return values[0]


def _grade(plan: ScoringPlan, fit: ir.NumericValue) -> ir.StringValue:
    if plan.fallback_grade is None:
        return ibis.null("string")
    cases = [(fit >= low, ibis.literal(name)) for name, low in plan.grades]
    return ibis.cases(*cases, else_=ibis.literal(plan.fallback_grade))


def _label(plan: ScoringPlan, score: ir.NumericValue) -> ir.StringValue:
    cases = [
        (score >= low if low is not None else ibis.literal(True), ibis.literal(name))
        for name, low in plan.labels
    ]
    if not cases:
        return ibis.null("string")
    return ibis.cases(*cases, else_=ibis.null("string"))


def _mql(plan: ScoringPlan, score: ir.NumericValue, grade: ir.StringValue) -> ir.BooleanValue:
    if plan.mql_score is None:
        return ibis.literal(False)
    out = score >= plan.mql_score
    if plan.mql_grades is not None:
        out = out & grade.isin(sorted(plan.mql_grades))
    return out.fill_null(False)


# -- entry points ---------------------------------------------------------------------


def compile_model(
    model: ScoringModel | ScoringPlan,
    leads: ir.Table,
    events: ir.Table | None,
    *,
    as_of: float | None,
    id_column: str | None = None,
    dialect: Dialect = PORTABLE,
    view: Checkpoint = _identity,
) -> ScoreQuery:
    """Compile a model over canonical tables.

    `as_of` is epoch seconds; None compiles "now" into the query (for scheduling).
    `view` names the events with their readings (an engine's view), so that every
    rule reads the readings instead of repeating them.
    """
    plan = as_plan(model, id_column)
    id_column = plan.id_column
    _check_patterns(plan, dialect)
    missing = sorted(plan.missing)
    as_of_expr = ibis.literal(float(as_of)) if as_of is not None else ibis.now().epoch_seconds()
    has_events = events is not None and plan.has_engagement
    totals = None
    if has_events:
        assert events is not None
        readings = readings_for(t.condition for t in plan.events)
        read = add_readings(events, readings, missing, dialect)
        ev = EventsRead(view(read) if readings.text else events, readings, dialect)
        totals = event_totals(plan, ev, as_of_expr)

    def scores(event_totals: ir.Table | None, checkpoint: Checkpoint = _identity) -> ir.Table:
        # Each attribute the rules test, read once, before the join makes the table wide.
        readings = readings_for(t.condition for t in plan.fit)
        t = leads
        if readings.text:
            t = checkpoint(add_readings(leads, readings, missing, dialect))
        if event_totals is not None:
            renamed = event_totals.rename({LEAD_KEY: "lead_id"})
            t = t.left_join(renamed, t[id_column] == renamed[LEAD_KEY]).drop(LEAD_KEY)
        has_totals = has_events and event_totals is not None
        return _finish(plan, t, readings, id_column, as_of_expr, has_totals, dialect, checkpoint)

    return ScoreQuery(totals, scores)


def _check_patterns(plan: ScoringPlan, dialect: Dialect) -> None:
    """Translate every pattern now: one the backend cannot run fails before any query."""
    for term in (*plan.fit, *plan.events):
        for test in tests_of(term.condition):
            if test.op == "matches":
                try:
                    dialect.regex(test.value)
                except patterns.PatternError as exc:
                    raise UsageError(f"rule {term.name!r}: its pattern {exc}") from None


def account_scores(
    model: ScoringModel | ScoringPlan,
    leads: ir.Table,
    scores: ir.Table,
    id_column: str,
    dialect: Dialect = PORTABLE,
) -> ir.Table:
    """One row per account (SPEC: sum, max, or mean of the top k lead scores)."""
    plan = as_plan(model, id_column)
    accounts = plan.model.accounts
    assert accounts is not None
    key = dialect.lower(leads[accounts.key].strip())
    keyed = leads.select(_ls_id=leads[id_column], account=key)
    not_accounts = sorted(plan.missing | set(accounts.excluded))
    keyed = keyed.filter(keyed.account.notnull() & ~keyed.account.isin(not_accounts))
    t = scores.join(keyed, scores.lead_id == keyed["_ls_id"])
    if accounts.aggregate == "top_k_mean":
        rank = ibis.row_number().over(group_by=t.account, order_by=t.score.desc())
        t = t.mutate(_ls_top=rank < accounts.k)
        value = t.score.mean(where=t["_ls_top"])
    elif accounts.aggregate == "max":
        value = t.score.max()
    else:
        value = t.score.sum()
    return (
        t.group_by("account")
        .aggregate(score=value, leads=t.count(), mql_leads=t.mql.sum().cast("int64"))
        .order_by([ibis.desc("score"), "account"])
    )
