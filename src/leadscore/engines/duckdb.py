"""DuckDB, the embedded default engine: reads CSV, Parquet and JSON lines in place."""

from pathlib import Path

import duckdb
import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from leadscore.engines.base import READABLE, WRITABLE, IbisEngine, Progress, first_line, fresh_name
from leadscore.engines.canonical import ROW
from leadscore.errors import DataError

# No `from __future__ import annotations` here: Ibis reads the UDF's annotations.


def input_format(path: Path) -> str:
    kind = READABLE.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            str(path), f"unknown file type {path.suffix!r}; expected .csv, .parquet or .jsonl"
        )
    return kind


def check_local_file(path: Path) -> str:
    """The file's format, or a DataError that says what is wrong with the path."""
    if not path.exists():
        raise DataError(str(path), "file not found")
    if path.is_dir():
        raise DataError(str(path), "is a folder; expected a .csv, .parquet or .jsonl file")
    return input_format(path)


@ibis.udf.scalar.builtin(name="epoch_us")
def _epoch_us(ts) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's instant -> microseconds, without Ibis' cast through local time."""


class DuckDBEngine(IbisEngine):
    """An in-process DuckDB database, in UTC, holding the inputs of one run."""

    name = "duckdb"
    dialect = "duckdb"
    epoch_us = staticmethod(_epoch_us)

    def __init__(self) -> None:
        super().__init__(ibis.duckdb.connect())
        self.con.raw_sql("SET TimeZone = 'UTC'")

    def open(self, source: Path | str) -> ir.Table:
        """A raw input table with `_ls_row`, the 1-based row number of each record."""
        path = Path(source)
        kind = check_local_file(path)
        name = fresh_name("input")
        raw = self.con.con
        try:
            if kind == "parquet":
                # Parquet is read where it lies; file_row_number gives rows for messages.
                table = self.con.read_parquet(path, table_name=name, file_row_number=True)
                return table.mutate(**{ROW: table.file_row_number + 1}).drop("file_row_number")
            # Text files are loaded once; insertion order makes rowid the row number.
            reader = (
                "read_csv(?, all_varchar = true, header = true)"
                if kind == "csv"
                else "read_json(?, format = 'newline_delimited')"
            )
            raw.execute(f"CREATE TEMP TABLE {name}_data AS SELECT * FROM {reader}", [str(path)])
            raw.execute(f"CREATE TEMP VIEW {name} AS SELECT *, rowid + 1 AS {ROW} FROM {name}_data")
        except duckdb.Error as exc:
            raise DataError(str(path), f"cannot read as {kind}: {first_line(exc)}") from None
        return self.con.table(name)

    def write(self, expr: ir.Table, path: Path, progress: Progress | None = None) -> None:
        kind = WRITABLE[path.suffix.lower()]
        writer = self.con.to_parquet if kind == "parquet" else self.con.to_csv
        self._run(lambda: writer(expr, path), progress)

    def progress(self) -> float | None:
        try:
            done = self.con.con.query_progress()
        except duckdb.Error:
            return None
        return done if done >= 0 else None
