"""Run hand_written.sql in DuckDB and write Parquet.
Usage: hand_written.py LEADS EVENTS AS_OF_EPOCH OUT.parquet"""

import sys
from pathlib import Path

import duckdb

leads, events, as_of, out = sys.argv[1:5]
sql = (
    Path(__file__)
    .with_name("hand_written.sql")
    .read_text()
    .replace("{leads}", leads)
    .replace("{events}", events)
    .replace("{as_of}", as_of)
)
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
