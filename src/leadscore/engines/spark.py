"""Spark: the same compiled model on PySpark, `local[2]` by default or on a cluster.

`--spark-master URL` picks a cluster; `SPARK_REMOTE` (Spark Connect) is honoured when
no master is given. Inputs are paths (local files, or any URI Spark can read) or
tables of the session's catalog. The session runs in UTC, and instants become epoch
microseconds with Spark's `unix_micros`, so that DuckDB and Spark agree on time.
"""

import os
import tempfile
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from leadscore.compile.literals import double_literals
from leadscore.engines.base import IbisEngine, Progress, first_line, fresh_name
from leadscore.engines.canonical import ROW
from leadscore.engines.files import (
    READABLE,
    UTF8,
    TextFiles,
    check_local_file,
    diagnose,
    input_format,
)
from leadscore.errors import DataError, UsageError, given

# No `from __future__ import annotations` here: Ibis reads the UDF's annotations.


def _fix_string_escapes() -> None:
    r"""Write \v, \f and \a in Spark SQL strings as \uXXXX escapes.

    sqlglot writes them as `\v`, `\f`, `\a`, which Spark reads as the letters v, f, a:
    Ibis' `strip()` then trimmed the letter f off "fintech". Spark does read \uXXXX.
    """
    from ibis.backends.sql.dialects import PySpark

    PySpark.ESCAPED_SEQUENCES = {
        **PySpark.ESCAPED_SEQUENCES,
        "\v": "\\u000B",
        "\f": "\\u000C",
        "\a": "\\u0007",
    }


_fix_string_escapes()


def _fix_float_literals() -> None:
    """Float64 literals as DOUBLE: Spark reads `1.5` as DECIMAL(2,1), so that ratios of
    points became decimals rounded to a few places (leadscore.compile.literals)."""
    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    double_literals(PySparkCompiler)


_fix_float_literals()

DEFAULT_MASTER = "local[2]"
# Local mode runs the whole job in the driver's JVM; its 1 GiB default is too small for
# tens of millions of events. LEADSCORE_SPARK_MEMORY overrides it.
DEFAULT_DRIVER_MEMORY = "8g"


@ibis.udf.scalar.builtin(name="unix_micros")
def _unix_micros(ts) -> dt.int64:  # type: ignore[empty-body]
    """Spark's instant -> microseconds (Ibis' epoch_seconds drops the fraction)."""


def start_session(master: str | None = None) -> Any:
    """A Spark session in UTC: `master`, else SPARK_REMOTE, else local[2]."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError(
            f"{given('engine')} spark needs PySpark: pip install 'leadscore[spark]' "
            "(and Java 17 or 21)"
        ) from None
    remote = os.environ.get("SPARK_REMOTE")
    builder = SparkSession.builder.appName("leadscore")
    if master is None and remote:
        builder = builder.remote(remote)
    else:
        master = master or DEFAULT_MASTER
        builder = builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            memory = os.environ.get("LEADSCORE_SPARK_MEMORY", DEFAULT_DRIVER_MEMORY)
            log_config = Path(__file__).with_name("spark-log4j2.properties").as_uri()
            builder = (
                builder.config("spark.driver.memory", memory)
                .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log_config}")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                # 200 shuffle partitions (the default) is overhead on two cores.
                .config("spark.sql.shuffle.partitions", str(4 * (os.cpu_count() or 2)))
                .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="leadscore-spark-"))
            )
    builder = builder.config("spark.sql.session.timeZone", "UTC").config(
        "spark.sql.execution.arrow.pyspark.enabled", "true"
    )
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # no Java, an unreachable master: say so in one line
        raise UsageError(f"cannot start Spark ({master or remote}): {first_line(exc)}") from None
    if remote is None or master is not None:
        session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine(IbisEngine):
    name = "spark"
    dialect = "pyspark"
    epoch_us = staticmethod(_unix_micros)

    def __init__(
        self, master: str | None = None, session: Any = None, encoding: str = UTF8
    ) -> None:
        """Start a session for this run, or use the caller's (which it leaves running)."""
        self.text_files = TextFiles(encoding)
        self._owned = session is None
        self.session = session if session is not None else start_session(master)
        super().__init__(ibis.pyspark.connect(self.session))
        self._cached: list[Any] = []

    # -- inputs ---------------------------------------------------------------------

    def open(self, source: Path | str) -> ir.Table:
        """A file (by extension) or a catalog table, with `_ls_row` in file order."""
        from pyspark.sql import functions as F

        text = str(source)
        suffix = Path(text).suffix.lower()
        local: Path | None = None  # the file Spark reads: a UTF-8 copy with --encoding
        if "://" in text:
            kind, uri = input_format(Path(text)), text
        elif suffix in READABLE or Path(text).exists():
            kind, local = check_local_file(Path(text)), Path(text)
            if kind != "parquet":
                local = self.text_files.utf8(local, kind)
            uri = local.resolve().as_uri()
        else:
            return self._catalog_table(text)
        reader = self.session.read
        try:
            if kind == "parquet":
                df = reader.parquet(uri)
            elif kind == "csv":
                # RFC 4180 quoting; every column as text, like the DuckDB engine reads CSV.
                df = reader.csv(uri, header=True, escape='"', inferSchema=False)
            else:
                df = reader.json(uri)
            df.schema  # noqa: B018  (reading the schema surfaces a bad file here)
        except Exception as exc:
            if local is not None and kind != "parquet":
                raise diagnose(local, kind, first_line(exc), text) from None
            raise DataError(text, f"cannot read as {kind}: {first_line(exc)}") from None
        # Increasing in file order (partitions follow the file); row_number() turns
        # such an id into a row when an error message needs one.
        df = df.withColumn(ROW, F.monotonically_increasing_id())
        name = fresh_name("input")
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def _catalog_table(self, name: str) -> ir.Table:
        from pyspark.sql import functions as F

        if not self.session.catalog.tableExists(name):
            raise DataError(
                name,
                "not a file and not a table of the Spark catalog "
                "(files need .csv, .parquet or .jsonl)",
            )
        df = self.session.table(name).withColumn(ROW, F.monotonically_increasing_id())
        view = fresh_name("input")
        df.createOrReplaceTempView(view)
        return self.con.table(view)

    def from_arrow(self, table: pa.Table) -> ir.Table:
        rows = pa.array(range(1, table.num_rows + 1), pa.int64())
        df = self.session.createDataFrame(table.append_column(ROW, rows))
        name = fresh_name("input")
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def row_number(self, table: ir.Table, row: Any) -> int:
        return int(self.scalar(table.filter(table[ROW] <= row).count()))

    # -- running --------------------------------------------------------------------

    def _frame(self, expr: ir.Table) -> Any:
        return self.session.sql(self.con.compile(expr))

    def materialize(self, expr: ir.Table, progress: Progress | None = None) -> ir.Table:
        """Cache a stage (memory, then disk) and count it, so that later stages reuse it."""
        from pyspark import StorageLevel

        df = self._frame(expr).persist(StorageLevel.MEMORY_AND_DISK)
        self._run(df.count, progress)
        self._cached.append(df)
        name = fresh_name("stage")
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        # toArrow (PySpark 4) keeps nulls as nulls; Ibis' route through pandas does not
        # with every pandas release.
        table = self._frame(expr).toArrow()
        return table.cast(expr.schema().to_pyarrow())

    def scalar(self, expr: ir.Scalar) -> Any:
        return self._frame(expr.as_table()).collect()[0][0]

    def progress(self) -> float | None:
        try:
            tracker = self.session.sparkContext.statusTracker()
        except Exception:  # Spark Connect has no status tracker
            return None
        stages = [tracker.getStageInfo(s) for s in tracker.getActiveStageIds()]
        stages = [s for s in stages if s is not None and s.numTasks]
        if not stages:
            return None
        done = sum(s.numCompletedTasks for s in stages) / sum(s.numTasks for s in stages)
        return 100.0 * done

    def close(self) -> None:
        self.text_files.close()
        for df in self._cached:
            df.unpersist()
        self._cached.clear()
        if self._owned:
            self.session.stop()
