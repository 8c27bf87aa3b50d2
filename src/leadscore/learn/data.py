"""Historical leads (and events) with an outcome, read into arrays for learning.

Values are read the way the scorer reads them (leadscore.values): text is compared
with case and surrounding spaces ignored, numbers in decimal notation, and empty
values or the model's placeholders are missing. Learning runs on DuckDB, in memory:
a million leads with a dozen attributes take a few hundred megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.columns import read_numeric, read_outcome, read_text
from leadscore.engines import DuckDBEngine
from leadscore.engines.canonical import ROW, key_form
from leadscore.errors import DataError, UsageError, given, no_column, shown
from leadscore.features import Feature
from leadscore.inputs import Source, open_source, prepare, source_name
from leadscore.values import NUMBER_PATTERN, STRIP_CHARS, normalize_text

# Placeholders read as missing in every attribute; --missing adds more (sentinels like 999).
DEFAULT_MISSING = ("", "select", "unknown", "n/a", "null")
MIN_CONVERTERS = 30
# Dates and calendar periods written as text (read normalized: lowercase, trimmed). What
# is learned of some months or days says nothing of the next ones, and a value never
# seen in learning would get the points of rare values: such columns are left out.
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_WEEKDAY = r"(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?"
_PERIODS = {
    "dates": r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([ t].*)?|[0-9]{1,2}[/.][0-9]{1,2}[/.][0-9]{2,4}",
    "months": f"{_MONTH}( [0-9]{{2,4}})?|[0-9]{{4}}[-/ ]?{_MONTH}|[0-9]{{4}}-[0-9]{{2}}"
    r"|[0-9]{1,2}/[0-9]{4}",
    "days of the week": _WEEKDAY,
    "quarters": r"q[1-4]( [0-9]{2,4})?|[0-9]{4}[- ]?q[1-4]",
}
_PERIOD_PATTERNS = {kind: f"^({pattern})$" for kind, pattern in _PERIODS.items()}
# Text with more distinct values than this share of the leads is an id or free text.
_ID_LIKE_SHARE = 0.5


@dataclass
class Dataset:
    source: str  # the leads file, for messages
    target: str
    positive: str
    y: np.ndarray  # 1 for converted, 0 for not
    ids: pa.ChunkedArray | None
    id_column: str | None
    features: list[Feature]
    skipped: dict[str, str]  # column -> why it is not a feature
    missing_values: list[str]
    as_of: float | None = None
    notes: list[str] = field(default_factory=list)  # what learn decided for the user

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def converters(self) -> int:
        return int(self.y.sum())


def load_dataset(
    leads: Source,
    *,
    target: str,
    id_column: str | None = None,
    events: Source | None = None,
    exclude: list[str] = (),  # type: ignore[assignment]
    positive: str | None = None,
    missing: list[str] = (),  # type: ignore[assignment]
    as_of: float | None = None,
    min_converters: int = MIN_CONVERTERS,
    encoding: str = "utf-8",
) -> Dataset:
    """Read and check the leads (a file, or an Arrow table); raise DataError or UsageError
    on anything unusable."""
    engine = DuckDBEngine(encoding)
    try:
        raw = open_source(engine, leads)
        table = engine.to_arrow(raw.order_by(ROW))
        columns = [c for c in table.column_names if c != ROW]
        name = source_name(leads, "leads")
        assert name is not None
        if target not in columns:
            raise no_column(name, "target column", target, columns)
        for column in exclude:
            if column not in columns:
                raise UsageError(f"{given('exclude')} {shown(column)}: {name} has no such column")
        if id_column is not None and id_column not in columns:
            raise no_column(name, "id column", id_column, columns)
        notes: list[str] = []
        if id_column is None and "lead_id" in columns:
            id_column = "lead_id"
        if id_column is None:
            others = [c for c in columns if c != target and c not in exclude]
            id_column = _detected_id(name, table, others, notes)
        if events is not None and id_column is None:
            raise UsageError(
                f"{given('events')} needs the leads' id column: {name} has no lead_id; name it "
                f"with {given('id_column')}"
            )
        missing_set = frozenset(normalize_text(v) for v in (*DEFAULT_MISSING, *missing))
        y, positive = read_outcome(name, table[target], target, positive, table[ROW])
        if y.sum() < min_converters or (y.size - y.sum()) < min_converters:
            few = "converters" if y.sum() < min_converters else "leads that did not convert"
            raise DataError(
                name,
                f"only {min(int(y.sum()), int(y.size - y.sum()))} {few} (target {target!r} = "
                f"{positive!r}); learning needs at least {min_converters} of each",
                column=target,
            )
        if id_column is not None:
            _check_ids(name, table, id_column)
        features: list[Feature] = []
        skipped: dict[str, str] = {}
        for column in columns:
            if column in (target, id_column):
                continue
            if column in exclude:
                skipped[column] = "excluded with --exclude"
                continue
            feature = _feature(column, table[column], missing_set)
            if isinstance(feature, str):
                skipped[column] = feature
            else:
                feature.name = column
                features.append(feature)
        if events is not None:
            assert id_column is not None
            counts, as_of = _event_counts(engine, raw, events, id_column, as_of, notes)
            features += counts
        if not features:
            raise DataError(
                name,
                "no usable feature left: " + "; ".join(f"{c}: {why}" for c, why in skipped.items()),
            )
        return Dataset(
            source=name,
            target=target,
            positive=positive,
            y=y,
            ids=table[id_column] if id_column else None,
            id_column=id_column,
            features=features,
            skipped=skipped,
            missing_values=sorted({*DEFAULT_MISSING, *missing} - {""}),
            as_of=as_of,
            notes=notes,
        )
    finally:
        engine.close()


def _detected_id(name: str, table: pa.Table, columns: list[str], notes: list[str]) -> str | None:
    """The one column with a different value for every lead, when --id names none."""
    candidates = [c for c in columns if _unique_values(table[c])]
    if len(candidates) > 1:
        listed = ", ".join(repr(c) for c in candidates[:5])
        raise UsageError(
            f"{name} has no lead_id column, and {len(candidates)} columns have a different "
            f"value for each lead ({listed}): name the id with {given('id_column')} (and leave "
            f"the others out with {given('exclude')})"
        )
    if candidates:
        notes.append(
            f"the id column is {candidates[0]!r}: the only column with a different value for "
            f"each lead (name another with {given('id_column')})"
        )
        return candidates[0]
    notes.append(
        f"{name} has no id column: the model reads lead_id; add one (or edit the model's id) "
        "before scoring"
    )
    return None


def _unique_values(arr: pa.ChunkedArray) -> bool:
    """Whether a column could be an id: present everywhere, a different value in each row."""
    if len(arr) < 20 or arr.null_count or pa.types.is_floating(arr.type):
        return False
    if not (pa.types.is_integer(arr.type) or pa.types.is_string(arr.type)):
        return False
    return pc.count_distinct(arr).as_py() == len(arr)


def _check_ids(name: str, table: pa.Table, id_column: str) -> None:
    # Ids compare as the scorer compares them: exact text, case included.
    ids = pc.utf8_trim(pc.cast(table[id_column], pa.string()), characters=STRIP_CHARS)
    empty = pc.or_(pc.is_null(ids), pc.equal(ids, ""))
    if pc.any(empty).as_py():
        row = table[ROW][pc.index(empty, True).as_py()].as_py()
        raise DataError(name, "the lead id is empty", row=row, column=id_column)
    if pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids)
        dupe = next(c["values"] for c in counts.to_pylist() if c["counts"] > 1)
        rows = pc.filter(table[ROW], pc.equal(ids, dupe)).to_pylist()
        raise DataError(
            name,
            f"duplicate lead id {shown(dupe)} (also in row {rows[0]})",
            row=rows[1],
            column=id_column,
        )


def _feature(column: str, arr: pa.ChunkedArray, missing: frozenset[str]) -> Feature | str:
    """The column as a feature, or the reason it cannot be one."""
    kind = arr.type
    if pa.types.is_temporal(kind):
        return "a date or time column (the age of a lead is not a fit attribute)"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _numeric_or_reason(read_numeric(arr, missing))
    text = read_text(arr, missing)
    present = pc.drop_null(pa.array(text, pa.string()))
    raw_present = pc.filter(arr, pc.invert(pc.is_null(pa.array(text, pa.string()))))
    if len(present) and pc.all(pc.match_substring_regex(raw_present, NUMBER_PATTERN)).as_py():
        return _numeric_or_reason(read_numeric(arr, missing))
    period = _period(present)
    if period is not None:
        return (
            f"{period} as text: when a lead came is not who it is, and later leads come in "
            "periods the model never saw"
        )
    distinct = pc.count_distinct(present).as_py()
    if distinct <= 1:
        return "constant: " + ("every value is missing" if distinct == 0 else "a single value")
    if len(arr) >= 20 and distinct >= _ID_LIKE_SHARE * len(present):
        return (
            f"nearly a different value for each lead ({distinct:,} distinct values in "
            f"{len(present):,}): an id or free text, which new leads would not share"
        )
    return Feature(column, "categorical", text, _spellings(arr, pa.array(text, pa.string())))


def _period(present: pa.ChunkedArray | pa.Array) -> str | None:
    """The kind of calendar period every present value is (dates, months...), if any."""
    if not len(present):
        return None
    for kind, pattern in _PERIOD_PATTERNS.items():
        if pc.all(pc.match_substring_regex(present, pattern)).as_py():
            return kind
    return None


def _numeric_or_reason(values: np.ndarray) -> Feature | str:
    present = values[~np.isnan(values)]
    distinct = np.unique(present).size
    if distinct <= 1:
        return "constant: " + ("every value is missing" if distinct == 0 else "a single value")
    integral = bool(np.all(present == np.floor(present)))
    if integral and distinct == values.size and values.size >= 20:
        return f"looks like an id: a different whole number for each of the {values.size:,} leads"
    return Feature("", "numeric", values)


def _spellings(raw: pa.ChunkedArray, normalized: pa.Array) -> dict[str, str]:
    """The most common original spelling of each normalized value."""
    original = pc.utf8_trim(pc.cast(raw, pa.string()), STRIP_CHARS).combine_chunks()
    pairs = pa.table({"n": normalized, "o": original})
    counts = pairs.group_by(["n", "o"]).aggregate([("n", "count")]).to_pylist()
    best: dict[str, tuple[int, str]] = {}
    for row in counts:
        if row["n"] is None:
            continue
        if row["n"] not in best or row["n_count"] > best[row["n"]][0]:
            best[row["n"]] = (row["n_count"], row["o"])
    return {k: v[1] for k, v in best.items()}


_KEYS = ("_ls_key", "_ls_order", "lead_id", "lead_id_right")


def _event_counts(
    engine: DuckDBEngine,
    leads_raw,
    events_source: Source,
    id_column: str,
    as_of: float | None,
    notes: list[str],
) -> tuple[list[Feature], float]:
    """Events per lead and event type, up to as_of (default: the latest event)."""
    from leadscore.model.schema import ScoringModel

    shell = ScoringModel(model="learn", id=id_column)
    inputs = prepare(
        engine,
        shell,
        leads_raw,
        open_source(engine, events_source),
        leads_name="leads",
        events_name=source_name(events_source, "events"),
        id_column=id_column,
    )
    assert inputs.events is not None
    ev = inputs.events
    if as_of is None:
        as_of = float(engine.scalar(ev.ts.max()) or 0.0)
    kept = ev.filter(ev.ts <= as_of)
    counts = kept.group_by(["lead_id", "event"]).aggregate(n=kept.count())
    wide = counts.pivot_wider(names_from="event", values_from="n", values_fill=0)
    key = leads_raw.select(
        _ls_key=key_form(leads_raw[id_column], ev.lead_id), _ls_order=leads_raw[ROW]
    )
    joined = key.left_join(wide, key._ls_key == wide.lead_id).order_by("_ls_order")
    table = engine.to_arrow(joined)
    counted = [c for c in table.column_names if c not in _KEYS]
    matched = sum(int(pc.sum(table[c]).as_py() or 0) for c in counted)
    total = int(engine.scalar(kept.count()))
    if total and not matched:
        sample = engine.to_arrow(ev.select("lead_id").distinct().limit(3))["lead_id"].to_pylist()
        raise DataError(
            str(source_name(events_source, "events")),
            f"none of its {total:,} events belongs to a lead of the leads file (its lead_id "
            f"values look like {', '.join(shown(str(v), 40) for v in sample)}; the leads' "
            f"{id_column!r} must hold the same ids)",
        )
    if matched < total:
        notes.append(
            f"{total - matched:,} of {total:,} events belong to leads that are not in the "
            "leads file; they were ignored"
        )
    features = []
    # Sorted: the pivot's column order varies between runs, and the same data must
    # always give the same model.
    for column in sorted(counted):
        values = pc.fill_null(table[column], 0).to_numpy(zero_copy_only=False).astype(float)
        if np.count_nonzero(values) >= 10:
            features.append(Feature(f"{column} events", "count", values, event=column))
    return features, as_of
