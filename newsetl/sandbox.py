"""The analyst's connection to the catalog: `newsetl sql` and `newsetl why` may read the published tables and
nothing else, whatever the query says.

Two locks, each enough against what the other might miss: a query must be one read-only statement (SELECT,
EXPLAIN), checked on DuckDB's own parse before it runs; and the connection itself reads only the tables'
folders (`allowed_directories` with `enable_external_access` off), loads no extension, and is locked so no
statement can lift either.
"""

import os
from pathlib import Path

import duckdb

from newsetl.schemas import TABLES
from newsetl.settings import Settings

READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class RefusedQuery(ValueError):
    """A query the sandbox does not run; the message says why and what to do instead."""


def check_query(query: str) -> None:
    """Refuse anything but one SELECT or EXPLAIN statement (SUMMARIZE, DESCRIBE, SHOW, VALUES parse as SELECT)."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise RefusedQuery(f"the query does not parse: {exc}") from None
    if len(statements) != 1:
        raise RefusedQuery(f"one statement per call ({len(statements)} given): run them one by one, or pass --unsafe")
    kind = statements[0].type
    if kind not in READ_ONLY:
        raise RefusedQuery(
            f"only SELECT and EXPLAIN run here, not {kind.name}: the catalog is for reading the tables "
            "(files, other databases, extensions and settings are out of reach; --unsafe lifts this on your own "
            "machine)"
        )


def table_folders(settings: Settings) -> list[str]:
    """The folders the catalog's views read, each as the views name it and, for a local one, as it resolves."""
    folders = set()
    for name in TABLES:
        uri = settings.table_uri(name)
        if isinstance(settings.out_dir, str):
            folders.add(uri.rstrip("/") + "/")
        else:
            folders |= {os.path.abspath(uri) + "/", str(Path(uri).resolve()) + "/"}
    return sorted(folders)


def open_catalog(settings: Settings, unsafe: bool = False) -> duckdb.DuckDBPyConnection:
    """The catalog opened read-only; sandboxed unless `unsafe`."""
    from newsetl.tables import register_object_store

    config: dict[str, str | bool | int | float | list[str]] = (
        {} if unsafe else {"autoload_known_extensions": False, "autoinstall_known_extensions": False}
    )
    con = duckdb.connect(str(settings.catalog_path), read_only=True, config=config)
    register_object_store(con, settings)
    if not unsafe:
        # In this order: the allowed folders can only be set while external access is still on.
        con.execute("SET allowed_directories = ?", [table_folders(settings)])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con
