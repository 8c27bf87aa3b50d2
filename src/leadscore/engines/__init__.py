"""Engines own connections, reading and writing; the compiler owns the semantics."""

from __future__ import annotations

from leadscore.engines.base import IbisEngine
from leadscore.engines.duckdb import DuckDBEngine
from leadscore.errors import UsageError

__all__ = ["DuckDBEngine", "IbisEngine", "get_engine"]


def get_engine(name: str | None, *, spark_master: str | None = None) -> IbisEngine:
    """The engine that --engine names."""
    if spark_master is not None and name != "spark":
        raise UsageError("--spark-master goes with --engine spark")
    if name in (None, "duckdb"):
        return DuckDBEngine()
    if name == "spark":
        from leadscore.engines.spark import SparkEngine

        return SparkEngine(spark_master)
    if "://" in name:
        from leadscore.engines.warehouse import WarehouseEngine

        return WarehouseEngine(name)
    raise UsageError(f"unknown engine {name!r}; expected duckdb, spark or a connection URL")
