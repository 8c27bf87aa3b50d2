"""DuckDB, the embedded default engine: reads CSV, Parquet and JSON lines in place."""

from pathlib import Path

import duckdb
import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from leadscore.engines.base import WRITABLE, IbisEngine, Progress, first_line, fresh_name
from leadscore.engines.canonical import ROW
from leadscore.engines.files import (
    UTF8,
    TextFiles,
    check_local_file,
    diagnose,
    first_bad_record,
    looks_unsplit,
    reader_agrees,
)
from leadscore.errors import DataError, shown

# No `from __future__ import annotations` here: Ibis reads the UDF's annotations.


@ibis.udf.scalar.builtin(name="epoch_us")
def _epoch_us(ts) -> dt.int64:  # type: ignore[empty-body]
    """DuckDB's instant -> microseconds, without Ibis' cast through local time."""


class DuckDBEngine(IbisEngine):
    """An in-process DuckDB database, in UTC, holding the inputs of one run."""

    name = "duckdb"
    dialect = "duckdb"
    epoch_us = staticmethod(_epoch_us)

    def __init__(self, encoding: str = UTF8) -> None:
        super().__init__(ibis.duckdb.connect())
        self.con.raw_sql("SET TimeZone = 'UTC'")
        self.text_files = TextFiles(encoding)

    def open(self, source: Path | str) -> ir.Table:
        """A raw input table with `_ls_row`, the 1-based row number of each record."""
        path = Path(source)
        kind = check_local_file(path)
        name = fresh_name("input")
        raw = self.con.con
        if kind == "parquet":
            try:
                # Parquet is read where it lies; file_row_number gives rows for messages.
                table = self.con.read_parquet(path, table_name=name, file_row_number=True)
            except duckdb.Error as exc:
                raise DataError(str(path), f"cannot read as parquet: {first_line(exc)}") from None
            return table.mutate(**{ROW: table.file_row_number + 1}).drop("file_row_number")
        readable = self.text_files.utf8(path, kind)
        # Text files are loaded once; insertion order makes rowid the row number.
        reader = (
            "read_csv(?, all_varchar = true, header = true)"
            if kind == "csv"
            else "read_json(?, format = 'newline_delimited')"
        )
        try:
            raw.execute(f"CREATE TEMP TABLE {name}_data AS SELECT * FROM {reader}", [str(readable)])
        except duckdb.Error as exc:
            raise diagnose(readable, kind, first_line(exc), str(path)) from None
        described = raw.execute(f"DESCRIBE {name}_data").fetchall()
        columns = [row[0] for row in described]
        if not reader_agrees(readable, kind, columns, str(path)):
            # The reader guessed the layout from rows that do not share it: say which.
            problem = first_bad_record(readable, kind, str(path))
            if problem is not None:
                raise problem
            if kind == "csv" and looks_unsplit(columns):
                raise DataError(
                    str(path), f"cannot tell the columns apart in the header {shown(columns[0])}"
                )
        # JSON values of mixed types (text and numbers in one key) come as JSON: read
        # them as their text, so that 1715331600 and "2024-05-01" are both times.
        fields = ", ".join(
            f"{_quoted(c)} ->> '$' AS {_quoted(c)}" for c, kind_, *_ in described if kind_ == "JSON"
        )
        replace = f" REPLACE ({fields})" if fields else ""
        raw.execute(
            f"CREATE TEMP VIEW {name} AS SELECT *{replace}, rowid + 1 AS {ROW} FROM {name}_data"
        )
        return self.con.table(name)

    def close(self) -> None:
        self.text_files.close()

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


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
