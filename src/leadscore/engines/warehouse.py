"""A warehouse through an Ibis connection URL (`--engine postgres://user@host/db`).

Inputs are tables of the warehouse (`schema.table`), where the data already lives, or
local files, which are read with DuckDB and uploaded into temporary tables (fine for
tests and small files; load big data with the warehouse's own tools). Every object
this engine creates is temporary and ends with the connection.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import ibis.expr.types as ir

from leadscore.engines.base import IbisEngine, first_line, fresh_name
from leadscore.engines.canonical import ROW
from leadscore.engines.duckdb import DuckDBEngine
from leadscore.engines.files import READABLE, UTF8
from leadscore.errors import DataError, UsageError

# Backends whose session time zone we set to UTC; decay uses epoch seconds anyway,
# but casts between zoned and plain times read the session's zone.
_UTC = {"postgres": "SET TIME ZONE 'UTC'"}


class WarehouseEngine(IbisEngine):
    def __init__(self, url: str, encoding: str = UTF8) -> None:
        self.encoding = encoding
        try:
            con = ibis.connect(url)
        except Exception as exc:  # a bad URL, a missing driver, a refused connection
            raise UsageError(f"cannot connect to {_redact(url)}: {first_line(exc)}") from None
        super().__init__(con)
        self.name = con.name
        self.dialect = con.name
        if self.name in _UTC:
            con.raw_sql(_UTC[self.name])
        if self.name == "postgres":
            self._check_text_settings()

    def _check_text_settings(self) -> None:
        """Text tests ignore case by Unicode's simple lowercase, which PostgreSQL's lower()
        follows only in a UTF-8 database with a UTF-8 ctype (not C or POSIX)."""
        encoding = self.con.raw_sql("SHOW server_encoding").fetchone()[0]
        ctype = self.con.raw_sql("SHOW lc_ctype").fetchone()[0]
        if encoding.upper() != "UTF8" or ctype.upper() in ("C", "POSIX"):
            self.warnings.append(
                f"the database's encoding is {encoding} with LC_CTYPE {ctype}: text tests "
                "ignore case only for ASCII letters there (use a UTF-8 database with a "
                "UTF-8 locale for other letters)"
            )

    def open(self, source: Path | str) -> ir.Table:
        text = str(source)
        path = Path(text)
        if path.suffix.lower() in READABLE or path.exists():
            local = DuckDBEngine(self.encoding)
            try:
                table = local.to_arrow(local.open(path))
            finally:
                local.close()
                local.con.disconnect()
            return self.con.create_table(fresh_name("input"), table, temp=True)
        schema, _, name = text.rpartition(".")
        try:
            table = self.con.table(name, database=schema or None)
        except Exception:
            raise DataError(
                text,
                f"not a file and not a table of {self.name} (files need .csv, .parquet or .jsonl)",
            ) from None
        # A table has no row order; its row numbers only tell records apart in messages.
        return table.mutate(**{ROW: ibis.row_number() + 1})

    def view(self, expr: ir.Table) -> ir.Table:
        """A temporary view (PostgreSQL, like DuckDB, materializes a CTE used twice)."""
        name = fresh_name("view")
        cursor = self.con.raw_sql(f'CREATE TEMPORARY VIEW "{name}" AS {self.con.compile(expr)}')
        if hasattr(cursor, "close"):
            cursor.close()
        return self.con.table(name)

    def checkpoint(self, expr: ir.Table) -> ir.Table:
        # PostgreSQL pulls subqueries up into one expression, so that each column
        # reference repeats the whole computation of that column: store each step.
        return self.materialize(expr)

    def close(self) -> None:
        self.con.disconnect()


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"
