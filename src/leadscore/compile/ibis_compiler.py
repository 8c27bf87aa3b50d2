"""Compile a ScoringModel into Ibis expressions (SPEC 1, "Exact semantics").

Input tables are canonical (see leadscore.engines.canonical): every lead attribute
and event property is text, `lead_id` is text, and event time `ts` is epoch seconds.
The expressions are built on whatever tables are passed in, bound or unbound, so
the same compiled model runs on DuckDB, Spark or any Ibis backend.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from leadscore import patterns
from leadscore.errors import UsageError
from leadscore.spec.conditions import AllOf, AnyOf, Condition, Test, tests_of
from leadscore.spec.schema import EventRule, LogisticCalibration, ScoringModel
from leadscore.timeutil import MIN_EXPONENT, SECONDS_PER_DAY
from leadscore.values import NUMBER_PATTERN

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


def _same(pattern: str) -> str:
    return pattern


def _lower(col: ir.StringValue) -> ir.StringValue:
    return col.lower()


def _java_lower(col: ir.StringValue) -> ir.StringValue:
    """Spark lowers with full case mapping (İ to i + a dot, a final Σ to ς); mapping those
    two first leaves the simple one-to-one mapping that values.lower_text defines."""
    return col.translate("İΣ", "iσ").lower()


@dataclass(frozen=True)
class Dialect:
    """Where a backend cannot take the portable form, the form it can take instead."""

    sorts_structs: bool = True  # can sort an array of structs (reasons)
    regex: Callable[[str], str] = _same  # a `matches` pattern in the backend's syntax
    lower: Callable[[ir.StringValue], ir.StringValue] = _lower  # values.lower_text


PORTABLE = Dialect()

# Backends that need something else than the portable form, by Ibis backend name.
DIALECTS = {
    "postgres": Dialect(sorts_structs=False, regex=lambda p: patterns.translate(p, "postgres")),
    "pyspark": Dialect(regex=lambda p: patterns.translate(p, "java"), lower=_java_lower),
}


def dialect_for(backend: str) -> Dialect:
    return DIALECTS.get(backend, PORTABLE)


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


# Reasons are ordered by magnitude at this resolution (points), then by rule name.
REASON_RESOLUTION = 1e6
_KEY_DIGITS, _RANK_DIGITS = 16, 4
_KEY_MAX = 10**15  # magnitudes beyond 1e9 points share the first place

# Internal column names; the prefix keeps them apart from the user's attribute names.
N_EVENTS, LAST_TS, LEAD_KEY = "_ls_n_events", "_ls_last_ts", "_ls_lead"


def _col(i: int) -> str:
    return f"_ls_r{i}"


# -- conditions -------------------------------------------------------------------


def condition_expr(
    cond: Condition | None,
    table: ir.Table,
    missing: Sequence[str],
    dialect: Dialect = PORTABLE,
) -> ir.BooleanValue:
    """A condition over a canonical (text) table, never null."""
    if cond is None:
        return ibis.literal(True)
    if isinstance(cond, AllOf):
        out = condition_expr(cond.items[0], table, missing, dialect)
        for item in cond.items[1:]:
            out = out & condition_expr(item, table, missing, dialect)
        return out
    if isinstance(cond, AnyOf):
        out = condition_expr(cond.items[0], table, missing, dialect)
        for item in cond.items[1:]:
            out = out | condition_expr(item, table, missing, dialect)
        return out
    return _test_expr(cond, table[cond.column], missing, dialect)


def _test_expr(
    test: Test, col: ir.StringValue, missing: Sequence[str], dialect: Dialect
) -> ir.BooleanValue:
    norm = dialect.lower(col.strip())
    present = col.notnull() & ~norm.isin(list(missing))
    op, value = test.op, test.value
    if op == "missing":
        return (~present if value else present).fill_null(False)
    if op == "equals":
        body = norm == value
    elif op == "not_equals":
        body = norm != value
    elif op == "in":
        body = norm.isin(list(value))
    elif op == "not_in":
        body = ~norm.isin(list(value))
    elif op == "contains":
        body = norm.contains(value)
    elif op == "matches":
        body = col.re_search(dialect.regex(value))
    else:
        number = ibis.ifelse(col.re_search(NUMBER_PATTERN), col.strip().try_cast("float64"), None)
        if op == "between":
            body = number.between(value[0], value[1])
        else:
            body = {
                "gt": number > value,
                "gte": number >= value,
                "lt": number < value,
                "lte": number <= value,
            }[op]
    return (present & body).fill_null(False)


# -- engagement ---------------------------------------------------------------------


def _points_sum(
    points: float, half_life: float | None, ts: ir.NumericColumn, as_of, where=None
) -> ir.FloatingScalar:
    """Sum of p * 2^(-(T - t) / h) over the kept events (p each without decay)."""
    if half_life is None:
        return ts.count(where=where).cast("float64") * float(points)
    # timeutil.MIN_EXPONENT: PostgreSQL raises on underflow rather than giving 0.
    exponent = -((as_of - ts) / SECONDS_PER_DAY) / half_life
    factor = ibis.ifelse(
        exponent < MIN_EXPONENT, 0.0, ibis.literal(2.0).pow(exponent.clip(lower=MIN_EXPONENT))
    )
    return (float(points) * factor).sum(where=where)


def _is_limited(rule: EventRule) -> bool:
    return rule.max_per_day is not None or rule.total_limit is not None


def _matching(
    model: ScoringModel, rule: EventRule, events: ir.Table, as_of, dialect: Dialect
) -> ir.BooleanValue:
    window = model.engagement.window(rule)
    keep = (events.event == rule.event) & (events.ts <= as_of)
    if window is not None:
        keep = keep & (events.ts > as_of - window * SECONDS_PER_DAY)
    if rule.condition is not None:
        keep = keep & condition_expr(rule.condition, events, sorted(model.missing_set), dialect)
    return keep


def _limited_rule_totals(
    model: ScoringModel, i: int, rule: EventRule, events: ir.Table, as_of, dialect: Dialect
) -> ir.Table:
    """Per-lead points of a rule with max_per_day / max_total / first_only."""
    half_life = model.engagement.half_life(rule)
    kept = events.filter(_matching(model, rule, events, as_of, dialect)).select("lead_id", "ts")
    if rule.max_per_day == 1:
        # Keeping the first event of each day is a group-by, far cheaper than a window.
        kept = kept.group_by("lead_id", day=(kept.ts / SECONDS_PER_DAY).floor()).aggregate(
            ts=kept.ts.min()
        )
    elif rule.max_per_day is not None:
        day = (kept.ts / SECONDS_PER_DAY).floor()
        # Ties in time weigh the same after decay, so which of them is kept cannot matter.
        rank = ibis.row_number().over(group_by=[kept.lead_id, day], order_by=kept.ts)
        kept = kept.filter(rank < rule.max_per_day).select("lead_id", "ts")
    limit = rule.total_limit
    if limit == 1:
        kept = kept.group_by("lead_id").aggregate(ts=kept.ts.min())
    elif limit is not None:
        rank = ibis.row_number().over(group_by=kept.lead_id, order_by=kept.ts)
        kept = kept.filter(rank < limit)
    value = _points_sum(rule.points, half_life, kept.ts, as_of)
    return kept.group_by("lead_id").aggregate(k=ibis.literal(i, "int16"), v=value)


def _event_totals(model: ScoringModel, events: ir.Table, as_of, dialect: Dialect) -> ir.Table:
    """One row per lead that has events: each rule's points, latest event, event count."""
    rules = model.engagement.rules
    aggs: dict[str, ir.Value] = {
        N_EVENTS: events.count(),
        LAST_TS: events.ts.max(where=events.ts <= as_of),
    }
    # Rules without limits are conditional sums in one pass over the events.
    for i, rule in enumerate(rules):
        if not _is_limited(rule):
            aggs[_col(i)] = _points_sum(
                rule.points,
                model.engagement.half_life(rule),
                events.ts,
                as_of,
                where=_matching(model, rule, events, as_of, dialect),
            )
    totals = events.group_by("lead_id").aggregate(**aggs)

    limited = [(i, r) for i, r in enumerate(rules) if _is_limited(r)]
    if limited:
        parts = [_limited_rule_totals(model, i, r, events, as_of, dialect) for i, r in limited]
        stacked = ibis.union(*parts) if len(parts) > 1 else parts[0]
        pivot = stacked.group_by("lead_id").aggregate(
            **{_col(i): stacked.v.sum(where=stacked.k == i) for i, _ in limited}
        )
        totals = totals.left_join(pivot, "lead_id").drop("lead_id_right")
    return totals


# -- scores --------------------------------------------------------------------------


def _clip(value: ir.NumericValue, low: float | None, high: float | None) -> ir.NumericValue:
    if low is None and high is None:
        return value
    return value.clip(lower=low, upper=high)


def _ratio(clipped: ir.NumericValue, raw: ir.NumericValue) -> ir.NumericValue:
    return ibis.ifelse(raw != 0, clipped / raw, 1.0)


def _reasons_json(parts: list[tuple[str, ir.NumericValue]], sort_by: str) -> ir.StringValue:
    """A JSON list of {"rule", "points"}, zeros left out, largest magnitude first.

    Built from text so that it is the same on every backend; rule names are escaped
    here, at compile time. The order is by magnitude in micro-points (float noise
    below 1e-6 must not reorder reasons between engines), then by rule name.
    """
    if not parts:
        return ibis.literal("[]")
    heads = {name: f'{{"rule": {json.dumps(name)}, "points": ' for name, _ in parts}
    micro = {name: (v.abs() * REASON_RESOLUTION).round().clip(upper=_KEY_MAX) for name, v in parts}
    if sort_by == "struct":
        # Sorting structs sorts by their first field, then the next: the fastest way
        # where the backend can (DuckDB, Spark).
        items = [
            ibis.struct(
                {
                    "k": -micro[name],
                    "name": ibis.literal(name),
                    "v": value,
                    "head": ibis.literal(heads[name]),
                }
            )
            for name, value in parts
        ]
        kept = (
            ibis.array(items)
            .filter(lambda s: s.v != 0)
            .sort()
            .map(lambda s: s.head + s.v.cast("string") + ibis.literal("}"))
        )
    else:
        # PostgreSQL cannot sort an array of anonymous records: sort texts that start
        # with a fixed-width key (magnitude, then rank by name), then cut the key off.
        rank = {name: i for i, name in enumerate(sorted(heads))}
        items = []
        for name, value in parts:
            key = (_KEY_MAX - micro[name].cast("int64")).cast("string").lpad(_KEY_DIGITS, "0")
            head = ibis.literal(f"{rank[name]:0{_RANK_DIGITS}d}{heads[name]}")
            text = key + head + value.cast("string") + ibis.literal("}")
            items.append(ibis.ifelse(value != 0, text, ibis.null("string")))
        prefix = _KEY_DIGITS + _RANK_DIGITS
        kept = (
            ibis.array(items).filter(lambda s: s.notnull()).sort().map(lambda s: s.substr(prefix))
        )
    return (ibis.literal("[") + ibis.literal(", ").join(kept) + ibis.literal("]")).fill_null("[]")


def _probability(model: ScoringModel, score: ir.NumericValue) -> ir.NumericValue:
    cal = model.calibration
    if cal is None:
        return ibis.null("float64")
    if isinstance(cal, LogisticCalibration):
        return 1.0 / (1.0 + (-(cal.slope * score + cal.intercept)).exp())
    pts = cal.points
    cases = [(score <= pts[0][0], ibis.literal(float(pts[0][1])))]
    for (s0, p0), (s1, p1) in itertools.pairwise(pts):
        cases.append((score <= s1, p0 + (p1 - p0) * (score - s0) / (s1 - s0)))
    return ibis.cases(*cases, else_=ibis.literal(float(pts[-1][1])))


Checkpoint = Callable[[ir.Table], ir.Table]


def _identity(table: ir.Table) -> ir.Table:
    return table


def _finish(
    model: ScoringModel,
    t: ir.Table,
    id_column: str,
    as_of,
    has_events: bool,
    dialect: Dialect,
    checkpoint: Checkpoint,
) -> ir.Table:
    """Leads (joined to their event totals) -> the output, in three steps.

    Each step reads the previous one's columns; `checkpoint` may store a step, for
    backends that would otherwise inline every column reference into one expression
    and evaluate each rule's condition many times over (PostgreSQL does).
    """
    missing = sorted(model.missing_set)
    # 1. Each rule's raw points.
    raw: dict[str, ir.NumericValue] = {}
    for rule in model.fit.rules:
        holds = condition_expr(rule.condition, t, missing, dialect)
        raw[rule.name] = ibis.ifelse(holds, float(rule.points), 0.0)
    fit_names = list(raw)
    categories: dict[str | None, list[str]] = {}
    if has_events:
        for i, rule in enumerate(model.engagement.rules):
            raw[rule.name] = t[_col(i)].fill_null(0.0)
            categories.setdefault(rule.category, []).append(rule.name)
        for rule in model.engagement.inactivity:
            last = t[LAST_TS]
            idle = last.isnull() | (as_of - last > rule.after_days * SECONDS_PER_DAY)
            raw[rule.name] = ibis.ifelse(idle, float(rule.points), 0.0)
            categories.setdefault(rule.category, []).append(rule.name)
    names = list(raw)
    column = {name: f"_ls_c{i}" for i, name in enumerate(names)}
    t = checkpoint(t.select(_ls_id=t[id_column], **{column[n]: value for n, value in raw.items()}))

    # 2. Category caps and the score range, with the reasons scaled to match.
    points = {n: t[column[n]] for n in names}
    engagement_total = []
    for category, members in categories.items():
        subtotal = _sum([points[n] for n in members])
        cap = model.engagement.categories.get(category) if category is not None else None
        if cap is None or (cap.min is None and cap.max is None):
            engagement_total.append(subtotal)
            continue
        clipped = _clip(subtotal, cap.min, cap.max)
        scale = _ratio(clipped, subtotal)
        for n in members:
            points[n] = points[n] * scale
        engagement_total.append(clipped)
    fit_score = _sum([points[n] for n in fit_names])
    engagement_score = _sum(engagement_total)
    t = t.mutate(
        _ls_fit=fit_score,
        _ls_engagement=engagement_score,
        **{column[n]: points[n] for n in names},
    )
    raw_total = t["_ls_fit"] + t["_ls_engagement"]
    score = raw_total
    if model.score_range is not None:
        score = _clip(raw_total, *model.score_range)
    scale = _ratio(score, raw_total)
    t = checkpoint(t.mutate(_ls_score=score, **{column[n]: t[column[n]] * scale for n in names}))

    # 3. Grades, labels, MQL, probability and the reasons list.
    score, fit = t["_ls_score"], t["_ls_fit"]
    grade = _grade(model, fit)
    return t.select(
        lead_id=t["_ls_id"],
        score=score,
        fit_score=fit,
        engagement_score=t["_ls_engagement"],
        grade=grade,
        label=_label(model, score),
        mql=_mql(model, score, grade),
        probability=_probability(model, score),
        reasons=_reasons_json(
            [(n, t[column[n]]) for n in names],
            "struct" if dialect.sorts_structs else "text",
        ),
    )


def _sum(values: list[ir.NumericValue]) -> ir.NumericValue:
    if not values:
        return ibis.literal(0.0)
    out = values[0]
    for v in values[1:]:
        out = out + v
    return out


def _grade(model: ScoringModel, fit: ir.NumericValue) -> ir.StringValue:
    if not model.fit.grades:
        return ibis.null("string")
    cases = [(fit >= minimum, ibis.literal(name)) for name, minimum in model.fit.grades.items()]
    return ibis.cases(*cases, else_=ibis.literal(model.grade_names[-1]))


def _label(model: ScoringModel, score: ir.NumericValue) -> ir.StringValue:
    cases = []
    for name, minimum in model.thresholds.labels.items():
        cases.append((score >= minimum if minimum is not None else ibis.literal(True), name))
    if not cases:
        return ibis.null("string")
    return ibis.cases(*[(c, ibis.literal(n)) for c, n in cases], else_=ibis.null("string"))


def _mql(model: ScoringModel, score: ir.NumericValue, grade: ir.StringValue) -> ir.BooleanValue:
    mql = model.thresholds.mql
    if mql is None:
        return ibis.literal(False)
    out = score >= mql.score
    if mql.min_grade is not None:
        order = model.grade_names
        good_enough = order[: order.index(mql.min_grade) + 1]
        out = out & grade.isin(good_enough)
    return out.fill_null(False)


# -- entry points ---------------------------------------------------------------------


def compile_model(
    model: ScoringModel,
    leads: ir.Table,
    events: ir.Table | None,
    *,
    as_of: float | None,
    id_column: str | None = None,
    dialect: Dialect = PORTABLE,
) -> ScoreQuery:
    """Compile a model over canonical tables.

    `as_of` is epoch seconds; None compiles "now" into the query (for scheduling).
    """
    id_column = id_column or model.id
    _check_patterns(model, dialect)
    as_of_expr = ibis.literal(float(as_of)) if as_of is not None else ibis.now().epoch_seconds()
    has_events = events is not None and bool(model.engagement.rules or model.engagement.inactivity)
    totals = _event_totals(model, events, as_of_expr, dialect) if has_events else None

    def scores(event_totals: ir.Table | None, checkpoint: Checkpoint = _identity) -> ir.Table:
        t = leads
        if event_totals is not None:
            renamed = event_totals.rename({LEAD_KEY: "lead_id"})
            t = leads.left_join(renamed, leads[id_column] == renamed[LEAD_KEY]).drop(LEAD_KEY)
        has_totals = has_events and event_totals is not None
        return _finish(model, t, id_column, as_of_expr, has_totals, dialect, checkpoint)

    return ScoreQuery(totals, scores)


def _check_patterns(model: ScoringModel, dialect: Dialect) -> None:
    """Translate every pattern now: one the backend cannot run fails before any query."""
    rules = [*model.fit.rules, *model.engagement.rules]
    for rule in rules:
        for test in tests_of(rule.condition):
            if test.op == "matches":
                try:
                    dialect.regex(test.value)
                except patterns.PatternError as exc:
                    raise UsageError(f"rule {rule.name!r}: its pattern {exc}") from None


def account_scores(
    model: ScoringModel,
    leads: ir.Table,
    scores: ir.Table,
    id_column: str,
    dialect: Dialect = PORTABLE,
) -> ir.Table:
    """One row per account (SPEC: sum, max, or mean of the top k lead scores)."""
    accounts = model.accounts
    assert accounts is not None
    key = dialect.lower(leads[accounts.key].strip())
    keyed = leads.select(_ls_id=leads[id_column], account=key)
    not_accounts = sorted(model.missing_set | set(accounts.excluded))
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
