"""Engines own connections, reading and writing; the compiler owns the semantics."""

from leadscore.engines.duckdb import DuckDBEngine

__all__ = ["DuckDBEngine", "get_engine"]


def get_engine(name: str | None):
    """The engine named by --engine (DuckDB, the embedded default, for now)."""
    from leadscore.errors import UsageError

    if name in (None, "duckdb"):
        return DuckDBEngine()
    raise UsageError(f"unknown engine {name!r}; expected duckdb")
