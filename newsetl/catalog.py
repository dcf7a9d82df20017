"""The catalog: the DuckDB file analysts open, with one view per table over the files of its current version."""

import os
import re

import duckdb

from newsetl.schemas import TABLES
from newsetl.settings import Settings
from newsetl.tables import register_object_store, table_sql

# Any DuckDB from 1.1 on (CLI, Python, DBeaver) must open the file, so it is written in 1.1's storage format.
STORAGE_VERSION = "v1.1.0"


def write_catalog(settings: Settings) -> int:
    """Write the catalog to a new file and swap it in: a reader holding the old one is never disturbed."""
    target = settings.catalog_path
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_VERSION})
    register_object_store(con, settings)  # a view is bound (its files read for their columns) when created
    try:
        for name in TABLES:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {table_sql(settings, name)}")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, target)
    return len(TABLES)


def files_read(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, int]:
    """How many Parquet files a query read, and how many its scans listed (EXPLAIN ANALYZE; summed over scans):
    shows whether a filter pruned partitions."""
    plan = "".join(row[1] for row in con.execute(f"EXPLAIN ANALYZE {sql}").fetchall())
    read = sum(int(n) for n in re.findall(r"Total Files Read: (\d+)", plan))
    # A scan that pruned nothing has no "Scanning Files" line: it listed what it read.
    listed = sum(int(n) for n in re.findall(r"Scanning Files: \d+/(\d+)", plan))
    return read, listed or read
