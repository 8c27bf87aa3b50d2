"""DuckDB, the embedded default engine: reads CSV, Parquet and JSON lines in place."""

import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from leadscore.engines.canonical import ROW
from leadscore.errors import DataError

T = TypeVar("T")

READABLE = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
WRITABLE = {".csv": "csv", ".parquet": "parquet"}

_names = itertools.count()


def input_format(path: Path) -> str:
    kind = READABLE.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            str(path), f"unknown file type {path.suffix!r}; expected .csv, .parquet or .jsonl"
        )
    return kind


@ibis.udf.scalar.builtin(name="epoch_us")
def _epoch_us(ts) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's instant -> microseconds, without Ibis' cast through local time."""


class DuckDBEngine:
    """An in-process DuckDB database, in UTC, holding the inputs of one run."""

    name = "duckdb"
    epoch_us = staticmethod(_epoch_us)

    def __init__(self) -> None:
        self.con = ibis.duckdb.connect()
        self.con.raw_sql("SET TimeZone = 'UTC'")

    # -- reading ------------------------------------------------------------------

    def open(self, path: Path) -> ir.Table:
        """A raw input table with `_ls_row`, the 1-based row number of each record."""
        if not path.exists():
            raise DataError(str(path), "file not found")
        if path.is_dir():
            raise DataError(str(path), "is a folder; expected a .csv, .parquet or .jsonl file")
        kind = input_format(path)
        name = f"ls_input_{next(_names)}"
        raw = self.con.con
        try:
            if kind == "parquet":
                # Parquet is read where it lies; file_row_number gives rows for messages.
                table = self.con.read_parquet(path, table_name=name, file_row_number=True)
                return table.mutate(**{ROW: table.file_row_number + 1}).drop("file_row_number")
            else:
                # Text files are loaded once; insertion order makes rowid the row number.
                reader = (
                    "read_csv(?, all_varchar = true, header = true)"
                    if kind == "csv"
                    else "read_json(?, format = 'newline_delimited')"
                )
                raw.execute(f"CREATE TEMP TABLE {name}_data AS SELECT * FROM {reader}", [str(path)])
                raw.execute(
                    f"CREATE TEMP VIEW {name} AS SELECT *, rowid + 1 AS {ROW} FROM {name}_data"
                )
        except duckdb.Error as exc:
            raise DataError(str(path), f"cannot read as {kind}: {_first_line(exc)}") from None
        return self.con.table(name)

    def from_arrow(self, table: pa.Table) -> ir.Table:
        """An in-memory table as a raw input (for the Python API and tests)."""
        name = f"ls_input_{next(_names)}"
        rows = pa.array(range(1, table.num_rows + 1), pa.int64())
        return self.con.create_table(name, table.append_column(ROW, rows), temp=True)

    def view(self, expr: ir.Table) -> ir.Table:
        """Name a derived input as a view, so that every use of it reads the file again.

        Ibis writes a table used more than once as a CTE, and DuckDB materializes such
        a CTE: for the events, every row with its properties (20 s and 2.4 GiB more on
        50 M events). Scanning the file once per rule costs less.
        """
        return self.con.create_view(f"ls_view_{next(_names)}", expr)

    def columns(self, table: ir.Table) -> list[str]:
        return [c for c in table.columns if c != ROW]

    # -- running ------------------------------------------------------------------

    def fetch(self, expr: ir.Table) -> list[dict[str, Any]]:
        return self.con.to_pyarrow(expr).to_pylist()

    def materialize(
        self, expr: ir.Table, progress: Callable[[float], None] | None = None
    ) -> ir.Table:
        name = f"ls_stage_{next(_names)}"
        return self._run(lambda: self.con.create_table(name, expr, temp=True), progress)

    def write(
        self, expr: ir.Table, path: Path, progress: Callable[[float], None] | None = None
    ) -> None:
        kind = WRITABLE[path.suffix.lower()]
        writer = self.con.to_parquet if kind == "parquet" else self.con.to_csv
        self._run(lambda: writer(expr, path), progress)

    def scalar(self, expr: ir.Scalar) -> Any:
        return self.con.execute(expr)

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        return self.con.to_pyarrow(expr)

    def sql(self, expr: ir.Table) -> str:
        return str(ibis.to_sql(expr, dialect="duckdb"))

    def _run(self, work: Callable[[], T], progress: Callable[[float], None] | None) -> T:
        """Run a query, reporting DuckDB's own progress estimate while it works."""
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
            try:
                done = self.con.con.query_progress()
            except duckdb.Error:
                done = -1
            if done >= 0:
                progress(min(done, 100.0))
        if failure:
            raise failure[0]
        progress(100.0)
        return result[0]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
