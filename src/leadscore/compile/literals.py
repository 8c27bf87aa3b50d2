"""Float literals typed as DOUBLE in every SQL dialect we run.

Ibis writes a float64 literal as `5.0`, which DuckDB and PostgreSQL read as a
DECIMAL and Spark as DECIMAL(2,1): a rule's points (`CASE WHEN ... THEN 5.0 ELSE
0.0 END`) became a decimal column, ratios of points decimals rounded to a few
places, and outputs decimal. Each compiler here writes them as CAST(5.0 AS DOUBLE),
which the engines fold away.
"""

from __future__ import annotations

from typing import Any


def double_literals(compiler: type) -> None:
    """Patch one Ibis SQL compiler class (once) so that float64 literals are DOUBLE."""
    if getattr(compiler, "_leadscore_double_literals", False):
        return
    plain = compiler.visit_NonNullLiteral

    def visit(self: Any, op: Any, *, value: Any, dtype: Any) -> Any:
        result = plain(self, op, value=value, dtype=dtype)
        if dtype.is_float64():
            if result is None:
                result = self.visit_DefaultLiteral(op, value=value, dtype=dtype)
            return self.cast(result, dtype)
        return result

    compiler.visit_NonNullLiteral = visit
    compiler._leadscore_double_literals = True


def patch_default_dialects() -> None:
    """DuckDB and PostgreSQL; Spark's compiler is patched when the Spark engine loads."""
    from ibis.backends.sql.compilers.duckdb import DuckDBCompiler
    from ibis.backends.sql.compilers.postgres import PostgresCompiler

    double_literals(DuckDBCompiler)
    double_literals(PostgresCompiler)


__all__ = ["double_literals", "patch_default_dialects"]
