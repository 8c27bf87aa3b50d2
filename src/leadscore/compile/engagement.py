"""Engagement rules in Ibis: the events of each lead -> one row of rule points per lead.

SPEC 1, "Exact semantics", steps 1-3: an event counts for a rule when it has the
rule's type, passes its condition and lies in its window; limits keep the first N
a UTC day, then the first N in all; each kept event adds its points, decayed.

Two plans compute the same numbers:
- per rule (few rules): rules without limits are conditional sums in one pass over
  the events, and each limited rule is a query of its own, where keeping the first
  event of a day or of all is a group-by, cheaper than a window;
- by hits (many rules): each event is paired with every rule it counts for (one
  pass, only the rules of its type are tried), limits are two windows over those
  pairs, and the sums are pivoted to a column per rule. Its size and its passes
  over the events do not grow with the rules, where the per-rule plan's do.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from leadscore.compile.dialects import Dialect
from leadscore.compile.readings import Readings, condition_expr
from leadscore.plan import EventTerm, ScoringPlan
from leadscore.timeutil import MIN_EXPONENT, SECONDS_PER_DAY

# Internal column names; the prefix keeps them apart from the user's property names.
N_EVENTS, LAST_TS = "_ls_n_events", "_ls_last_ts"
# Above these counts, rules are computed by hits rather than one by one (the tests set
# them to 0 to send every case down both plans).
PER_RULE_LIMITED = 16
PER_RULE_UNLIMITED = 64
# Above this many rules in the long form, the pivot to a column per rule is dense.
FILTERED_PIVOT = 16


def rule_column(i: int) -> str:
    """The column of engagement rule i's points."""
    return f"_ls_r{i}"


@dataclass(frozen=True)
class EventsRead:
    """The canonical events with their readings, and how to read them."""

    table: ir.Table
    readings: Readings
    dialect: Dialect


def event_totals(
    plan: ScoringPlan,
    ev: EventsRead,
    as_of: ir.FloatingValue,
) -> ir.Table:
    """One row per lead that has events: each rule's points, latest event, event count.

    Up to PER_RULE_LIMITED limited rules and PER_RULE_UNLIMITED others are computed one
    by one; more than that, by hits.
    """
    rules = [(t.index, t) for t in plan.events]
    events = ev.table
    aggs: dict[str, ir.Value] = {
        N_EVENTS: events.count(),
        LAST_TS: events.ts.max(where=events.ts <= as_of),
    }
    unlimited = [(i, r) for i, r in rules if not r.limited]
    limited = [(i, r) for i, r in rules if r.limited]
    long_parts: list[ir.Table] = []
    if len(unlimited) > PER_RULE_UNLIMITED:
        long_parts.append(_by_hits(plan, unlimited, ev, as_of))
    else:
        # Rules without limits are conditional sums in one pass over the events.
        for i, rule in unlimited:
            aggs[rule_column(i)] = _points_sum(
                rule.points, rule.half_life_days, events.ts, as_of, where=_matching(rule, ev, as_of)
            )
    if len(limited) > PER_RULE_LIMITED:
        long_parts.append(_by_hits(plan, limited, ev, as_of))
    else:
        long_parts += [_limited_rule_totals(i, r, ev, as_of) for i, r in limited]
    totals = events.group_by("lead_id").aggregate(**aggs)
    pivoted = [i for i, r in rules if rule_column(i) not in aggs]
    if long_parts:
        stacked = ibis.union(*long_parts) if len(long_parts) > 1 else long_parts[0]
        if len(pivoted) <= FILTERED_PIVOT:
            pivot = stacked.group_by("lead_id").aggregate(
                **{rule_column(i): stacked.v.sum(where=stacked.k == i) for i in pivoted}
            )
        else:
            pivot = _dense_pivot(stacked, pivoted, ev.dialect)
        totals = totals.left_join(pivot, "lead_id").drop("lead_id_right")
    return totals


def _dense_pivot(long: ir.Table, ks: list[int], dialect: Dialect) -> ir.Table:
    """(lead_id, k, v) -> a column per k, in work linear in leads x rules.

    A sum per rule filtered on k reads every row once per rule (400 rules on 800,000
    rows took 14 s); instead every lead gets a value for every k (0 where it has
    none), the values are collected in the order of k, and column i is element i.
    """
    leads = long.select("lead_id").distinct()
    grid = leads.mutate(k=ibis.literal(ks, type="array<int32>")).unnest("k")
    full = grid.left_join(long, ["lead_id", "k"]).select(
        "lead_id", "k", v=ibis.coalesce(long.v, 0.0)
    )
    if dialect.sorts_structs:
        pairs = ibis.struct({"k": full.k, "v": full.v}).collect()
        values = pairs.sort().map(lambda s: s.v)
    else:
        values = full.v.collect(order_by=full.k)
    dense = full.group_by("lead_id").aggregate(_ls_values=values)
    return dense.select(
        "lead_id", **{rule_column(k): dense._ls_values[p] for p, k in enumerate(ks)}
    )


def _decay(half_life: ir.NumericValue | float, ts: ir.NumericValue, as_of) -> ir.NumericValue:
    """2^(-(T - t) / h); 0 beyond a thousand half-lives (timeutil.MIN_EXPONENT), since
    PostgreSQL raises on underflow rather than giving 0."""
    exponent = -((as_of - ts) / SECONDS_PER_DAY) / half_life
    return ibis.ifelse(
        exponent < MIN_EXPONENT, 0.0, ibis.literal(2.0).pow(ibis.greatest(exponent, MIN_EXPONENT))
    )


def _points_sum(
    points: float, half_life: float | None, ts: ir.NumericColumn, as_of, where=None
) -> ir.FloatingScalar:
    """Sum of p * 2^(-(T - t) / h) over the kept events (p each without decay)."""
    if half_life is None:
        return ts.count(where=where).cast("float64") * float(points)
    return (float(points) * _decay(half_life, ts, as_of)).sum(where=where)


def _counts(rule: EventTerm, ev: EventsRead, as_of) -> ir.BooleanValue:
    """Whether an event of the rule's type counts for it: its window and condition."""
    events = ev.table
    window = rule.window_days
    keep = events.ts <= as_of
    if window is not None:
        keep = keep & (events.ts > as_of - window * SECONDS_PER_DAY)
    if rule.condition is not None:
        keep = keep & condition_expr(rule.condition, events, ev.readings, ev.dialect)
    return keep


def _matching(rule: EventTerm, ev: EventsRead, as_of) -> ir.BooleanValue:
    return (ev.table.event == rule.event) & _counts(rule, ev, as_of)


# -- one rule at a time -----------------------------------------------------------------


def _limited_rule_totals(i: int, rule: EventTerm, ev: EventsRead, as_of) -> ir.Table:
    """Per-lead points of a rule with max_per_day / max_total / first_only."""
    half_life = rule.half_life_days
    events = ev.table
    kept = events.filter(_matching(rule, ev, as_of)).select("lead_id", "ts")
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
    return kept.group_by("lead_id").aggregate(k=ibis.literal(i, "int32"), v=value)


# -- every rule at once, by hits ----------------------------------------------------------


def _by_hits(
    plan: ScoringPlan, rules: list[tuple[int, EventTerm]], ev: EventsRead, as_of
) -> ir.Table:
    """(lead_id, k, v): each lead's points from rule k, for these rules, in one pass."""
    # Events after T, or older than every rule's window, count for none of them: cut
    # once here, so that the rules whose window is the widest test no time at all.
    windows = {r.window_days for _, r in rules}
    widest = None if None in windows else max(w for w in windows if w is not None)
    events = ev.table.filter(ev.table.ts <= as_of)
    if widest is not None:
        events = events.filter(events.ts > as_of - widest * SECONDS_PER_DAY)

    def counts(rule: EventTerm) -> ir.BooleanValue:
        window = rule.window_days
        keep = ibis.literal(True)
        if window is not None and window != widest:
            keep = events.ts > as_of - window * SECONDS_PER_DAY
        if rule.condition is None:
            return keep
        holds = condition_expr(rule.condition, events, ev.readings, ev.dialect)
        return holds if keep.op() == ibis.literal(True).op() else keep & holds

    by_type: dict[str, list[tuple[int, EventTerm]]] = {}
    for i, rule in rules:
        by_type.setdefault(rule.event, []).append((i, rule))
    # Each event's rules: only those of its type are tried.
    null_k = ibis.null("int32")
    ks = ibis.cases(
        *[
            (
                events.event == event,
                ibis.array(
                    [ibis.ifelse(counts(r), ibis.literal(i, "int32"), null_k) for i, r in members]
                ),
            )
            for event, members in by_type.items()
        ],
        # (not an empty array: PostgreSQL cannot type ARRAY[]; the null is filtered out)
        else_=ibis.array([null_k]),
    )
    hits = events.select("lead_id", "ts", k=ks.filter(lambda k: k.notnull())).unnest("k")
    # Each rule's parameters, as constant arrays indexed by the rule's index k.
    every = plan.events

    def param(values: list, of: ir.Table) -> ir.Value:
        return _constants(values)[of.k]

    if any(r.limited for _, r in rules):
        day = (hits.ts / SECONDS_PER_DAY).floor()
        # Ties in time weigh the same after decay, so which of them is kept cannot matter.
        # A limit of 0 stands for none (a constant array of integers without nulls).
        rank = ibis.row_number().over(group_by=[hits.lead_id, hits.k, day], order_by=hits.ts)
        hits = hits.mutate(_ls_rank=rank)
        limit = param([r.max_per_day or 0 for r in every], hits)
        hits = hits.filter((limit == 0) | (hits._ls_rank < limit)).drop("_ls_rank")
        rank = ibis.row_number().over(group_by=[hits.lead_id, hits.k], order_by=hits.ts)
        hits = hits.mutate(_ls_rank=rank)
        limit = param([r.total_limit or 0 for r in every], hits)
        hits = hits.filter((limit == 0) | (hits._ls_rank < limit)).drop("_ls_rank")
    points = param([float(r.points) for r in every], hits)
    if all(r.half_life_days is None for _, r in rules):
        value = points
    else:
        # A half-life of 0 stands for no decay.
        half_lives = [r.half_life_days or 0.0 for r in every]
        half_life = param([float(h) for h in half_lives], hits)
        decayed = _decay(ibis.ifelse(half_life == 0, 1.0, half_life), hits.ts, as_of)
        value = points * ibis.ifelse(half_life == 0, 1.0, decayed)
    return hits.group_by(["lead_id", "k"]).aggregate(v=value.sum())


def _constants(values: list) -> ir.ArrayValue:
    """A constant array of numbers, written compactly: floats are written as text and
    cast once (each float literal would otherwise be a cast of its own)."""
    if all(isinstance(v, int) for v in values):
        return ibis.literal(values, type="array<int64>")
    return ibis.literal([repr(float(v)) for v in values], type="array<string>").cast(
        "array<float64>"
    )


__all__ = ["LAST_TS", "N_EVENTS", "EventsRead", "event_totals", "rule_column"]


# -- what the service keeps per lead ------------------------------------------------------


def folded_column(i: int) -> str:
    return f"_ls_f{i}"


def times_column(i: int) -> str:
    return f"_ls_t{i}"


def count_column(j: int) -> str:
    return f"_ls_c{j}"


def pending_column(j: int) -> str:
    return f"_ls_p{j}"


def state_lists(
    plan: ScoringPlan, ev: EventsRead, as_of: ir.FloatingValue, counted: list[str]
) -> ir.Table:
    """Per lead with events, what the service's engagement state keeps as of T
    (leadscore.service.engagement says why each part is exact): for rule i, the sorted
    times of its matching events that can still count (`times_column(i)`), and for a
    rule without window or limits the events up to T folded into a count or a decayed
    sum (`folded_column(i)`); for each event type j the predictive part counts, the
    events up to T (`count_column(j)`) and the times of later ones (`pending_column(j)`).
    """
    events = ev.table
    ts = events.ts
    aggs: dict[str, ir.Value] = {}
    limited: list[ir.Table] = []
    for rule in plan.events:
        i = rule.index
        match = events.event == rule.event
        if rule.condition is not None:
            match = match & condition_expr(rule.condition, events, ev.readings, ev.dialect)
        if rule.window_days is not None:
            inside = match & (ts > as_of - rule.window_days * SECONDS_PER_DAY)
            aggs[times_column(i)] = ts.collect(where=inside, order_by=ts)
        elif not rule.limited:
            past = match & (ts <= as_of)
            aggs[folded_column(i)] = _points_sum(1.0, rule.half_life_days, ts, as_of, where=past)
            aggs[times_column(i)] = ts.collect(where=match & (ts > as_of), order_by=ts)
        else:
            limited.append(_first_kept(i, rule, events.filter(match)))
    for j, kind in enumerate(counted):
        of_kind = events.event == kind
        aggs[count_column(j)] = ts.count(where=of_kind & (ts <= as_of)).cast("float64")
        aggs[pending_column(j)] = ts.collect(where=of_kind & (ts > as_of), order_by=ts)
    aggs[N_EVENTS] = events.count()
    table = events.group_by("lead_id").aggregate(**aggs)
    for part in limited:
        table = table.left_join(part, "lead_id").drop("lead_id_right")
    return table


def _first_kept(i: int, rule: EventTerm, matching: ir.Table) -> ir.Table:
    """A rule without a window but with limits: per day the first `max_per_day` times,
    then the first `total_limit` of those (future ones included: the kept ones are a
    prefix in time, whatever T is)."""
    kept = matching.select("lead_id", "ts")
    if rule.max_per_day is not None:
        day = (kept.ts / SECONDS_PER_DAY).floor()
        rank = ibis.row_number().over(group_by=[kept.lead_id, day], order_by=kept.ts)
        kept = kept.filter(rank < rule.max_per_day).select("lead_id", "ts")
    if rule.total_limit is not None:
        rank = ibis.row_number().over(group_by=kept.lead_id, order_by=kept.ts)
        kept = kept.filter(rank < rule.total_limit).select("lead_id", "ts")
    return kept.group_by("lead_id").aggregate(
        **{times_column(i): kept.ts.collect(order_by=kept.ts)}
    )
