"""What every engine does the same way over an Ibis connection.

An engine owns a connection, reads inputs into raw tables (with `_ls_row`, the row
number used in error messages), runs compiled expressions and writes results. The
semantics live in the compiler; an engine only decides where the work runs.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import ibis.expr.types as ir
import pyarrow as pa

from leadscore.engines.canonical import ROW, EpochMicros

T = TypeVar("T")
Progress = Callable[[float], None]

WRITABLE = {".csv": "csv", ".parquet": "parquet"}

_names = itertools.count()


def fresh_name(prefix: str) -> str:
    """A table or view name that no other input or stage of this process uses."""
    return f"ls_{prefix}_{next(_names)}"


class IbisEngine:
    """The parts of an engine that only need an Ibis connection."""

    name = "ibis"
    dialect = "duckdb"
    # The engine's native instant -> epoch microseconds, when Ibis' own is lossy or slow.
    epoch_us: EpochMicros | None = None

    def __init__(self, con: Any) -> None:
        self.con = con
        # What a user should know about this connection (given with every run's warnings).
        self.warnings: list[str] = []

    # -- inputs ---------------------------------------------------------------------

    def open(self, source: Path | str) -> ir.Table:
        raise NotImplementedError

    def from_arrow(self, table: pa.Table) -> ir.Table:
        """An in-memory table as a raw input (the Python API and the tests)."""
        rows = pa.array(range(1, table.num_rows + 1), pa.int64())
        return self.con.create_table(fresh_name("input"), table.append_column(ROW, rows), temp=True)

    def columns(self, table: ir.Table) -> list[str]:
        return [c for c in table.columns if c != ROW]

    def row_number(self, table: ir.Table, row: Any) -> int:
        """The 1-based row of a record whose `_ls_row` is ROW (the same, by default)."""
        return int(row)

    def view(self, expr: ir.Table) -> ir.Table:
        """Name a derived input as a view, so that each use of it reads the source again.

        Ibis writes a table used more than once as a CTE, and DuckDB materializes such
        a CTE: for the events, every row with its properties (20 s and 2.4 GiB more on
        50 M events). Scanning the source once per rule costs less.
        """
        return self.con.create_view(fresh_name("view"), expr)

    # -- running --------------------------------------------------------------------

    def fetch(self, expr: ir.Table) -> list[dict[str, Any]]:
        return self.to_arrow(expr).to_pylist()

    def scalar(self, expr: ir.Scalar) -> Any:
        return self.con.execute(expr)

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        return self.con.to_pyarrow(expr)

    def materialize(self, expr: ir.Table, progress: Progress | None = None) -> ir.Table:
        """Compute a stage once, for the stages after it to read."""
        name = fresh_name("stage")
        return self._run(lambda: self.con.create_table(name, expr, temp=True), progress)

    def checkpoint(self, expr: ir.Table) -> ir.Table:
        """An intermediate step of scoring, named as a view (engines whose planner would
        recompute it store it instead).

        The engine's planner inlines the view as it would a subquery, so nothing is
        stored; but Ibis compiles each step on its own, which keeps compiling linear in
        the number of rules (one expression of every step took minutes at 1,000 rules).
        """
        return self.view(expr)

    def write(self, expr: ir.Table, path: Path, progress: Progress | None = None) -> None:
        """Write a result to a local file, formatted as the DuckDB engine writes it."""
        table = self._run(lambda: self.to_arrow(expr), progress)
        write_arrow(table, path)

    def close(self) -> None:
        """Release the connection (engines with a server process override this)."""

    def _run(self, work: Callable[[], T], progress: Progress | None) -> T:
        """Run a query, reporting progress while it works where the engine can tell."""
        if progress is None:
            return work()
        result: list[Any] = []
        failure: list[BaseException] = []

        def target() -> None:
            try:
                result.append(work())
            except BaseException as exc:  # re-raised in the calling thread
                failure.append(exc)

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
            done = self.progress()
            if done is not None:
                progress(min(done, 100.0))
        if failure:
            raise failure[0]
        progress(100.0)
        return result[0]

    def progress(self) -> float | None:
        """The running query's progress in percent, when the engine can tell."""
        return None


def write_arrow(table: pa.Table, path: Path) -> None:
    """One writer for results fetched from any engine, so that files look the same."""
    import duckdb

    kind = WRITABLE[path.suffix.lower()]
    con = duckdb.connect()
    try:
        con.register("result", table)
        options = "FORMAT parquet" if kind == "parquet" else "FORMAT csv, HEADER true"
        con.execute(f"COPY result TO '{_sql_path(path)}' ({options})")
    finally:
        con.close()


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
