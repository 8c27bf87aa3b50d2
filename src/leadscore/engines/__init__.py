"""Engines own connections, reading and writing; the compiler owns the semantics."""

from __future__ import annotations

from leadscore.engines.base import IbisEngine
from leadscore.engines.duckdb import DuckDBEngine
from leadscore.engines.files import UTF8, check_encoding
from leadscore.errors import UsageError, given

__all__ = ["DuckDBEngine", "IbisEngine", "get_engine"]


def get_engine(
    name: str | None, *, spark_master: str | None = None, encoding: str = UTF8
) -> IbisEngine:
    """The engine that --engine names; text files are read in `encoding`."""
    check_encoding(encoding)
    if spark_master is not None and name != "spark":
        raise UsageError(f"{given('spark_master')} goes with {given('engine')} spark")
    if name in (None, "duckdb"):
        return DuckDBEngine(encoding)
    if name == "spark":
        from leadscore.engines.spark import SparkEngine

        return SparkEngine(spark_master, encoding=encoding)
    if "://" in name:
        from leadscore.engines.warehouse import WarehouseEngine

        return WarehouseEngine(name, encoding)
    raise UsageError(f"unknown engine {name!r}; expected duckdb, spark or a connection URL")
