"""The SQL of a compiled model, for people to read, review or schedule elsewhere."""

from __future__ import annotations

import ibis
import sqlglot

from leadscore.compile.dialects import dialect_for
from leadscore.compile.ibis_compiler import compile_model
from leadscore.errors import UsageError
from leadscore.model.schema import ScoringModel
from leadscore.plan import build_plan

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
    needs = build_plan(model)
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
    steps = _Steps(dialect)
    query = compile_model(
        model, leads, events, as_of=as_of, dialect=dialect_for(dialect), view=steps.name
    )
    totals = steps.name(query.event_totals) if query.event_totals is not None else None
    final = steps.sql(query.scores(totals, steps.name))
    header = (
        f"-- leadscore model {model.model} version {model.version}\n"
        "-- inputs: leads(id and attributes as text), "
        "events(lead_id, event, ts = epoch seconds UTC, properties as text)\n"
    )
    return header + steps.query(final) + ";"


class _Steps:
    """The steps of scoring as common table expressions of one query.

    Compiling each step on its own keeps the time linear in the rules (Ibis' rewrites
    of one expression holding every step took minutes at a thousand rules).
    """

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.ctes: list[tuple[str, str]] = []

    def name(self, expr: ibis.Table) -> ibis.Table:
        name = f"ls_step{len(self.ctes) + 1}"
        self.ctes.append((name, self.sql(expr)))
        return ibis.table(expr.schema(), name=name)

    def sql(self, expr: ibis.Table) -> str:
        return str(ibis.to_sql(expr, dialect=self.dialect))

    def _quoted(self, name: str) -> str:
        """The name quoted as the dialect quotes it (and as Ibis writes the references)."""
        sg_dialect = {"pyspark": "spark"}.get(self.dialect, self.dialect)
        return sqlglot.exp.to_identifier(name, quoted=True).sql(dialect=sg_dialect)

    def query(self, final: str) -> str:
        if not self.ctes:
            return final
        # DuckDB and PostgreSQL would store a step that later steps read twice (the
        # events): reading the source again is cheaper.
        hint = "NOT MATERIALIZED " if self.dialect in ("duckdb", "postgres") else ""
        ctes = ",\n".join(f"{self._quoted(name)} AS {hint}(\n{sql}\n)" for name, sql in self.ctes)
        return f"WITH {ctes}\n{final}"
