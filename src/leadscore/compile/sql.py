"""The SQL of a compiled model, for people to read, review or schedule elsewhere."""

from __future__ import annotations

import ibis

from leadscore.compile.ibis_compiler import compile_model, dialect_for
from leadscore.engines.canonical import model_needs
from leadscore.errors import UsageError
from leadscore.spec.schema import ScoringModel

# --engine names and URL schemes -> sqlglot dialects that Ibis compiles to.
_DIALECTS = {
    "duckdb": "duckdb",
    "spark": "pyspark",
    "postgres": "postgres",
    "postgresql": "postgres",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
    "trino": "trino",
    "mysql": "mysql",
}


def sql_dialect(engine: str) -> str:
    """The Ibis dialect for an --engine value (a name or a connection URL)."""
    name = engine.split("://", 1)[0].split("+", 1)[0].lower()
    if name not in _DIALECTS:
        raise UsageError(f"unknown engine {engine!r}; expected one of {', '.join(_DIALECTS)}")
    return _DIALECTS[name]


def model_sql(model: ScoringModel, *, dialect: str = "duckdb", as_of: float | None = None) -> str:
    """SQL over two inputs, `leads` (id and attributes as text) and `events`
    (lead_id, event, ts in epoch seconds, properties as text)."""
    if dialect == "pyspark":
        # What the Spark engine runs: its fixes to Ibis' Spark SQL, and Ibis' options.
        import leadscore.engines.spark  # noqa: F401

        ibis.pyspark  # noqa: B018
    needs = model_needs(model)
    leads = ibis.table(
        {model.id: "string", **{c: "string" for c in needs.lead_columns if c != model.id}},
        name="leads",
    )
    has_engagement = bool(model.engagement.rules or model.engagement.inactivity)
    events = None
    if has_engagement:
        events = ibis.table(
            {"lead_id": "string", "event": "string", "ts": "float64"}
            | {c: "string" for c in needs.event_columns if c not in ("lead_id", "event", "ts")},
            name="events",
        )
    query = compile_model(model, leads, events, as_of=as_of, dialect=dialect_for(dialect))
    header = (
        f"-- leadscore model {model.model} version {model.version}\n"
        "-- inputs: leads(id and attributes as text), "
        "events(lead_id, event, ts = epoch seconds UTC, properties as text)\n"
    )
    return header + str(ibis.to_sql(query.single(), dialect=dialect)) + ";"
