"""Delta Lake tables under the output directory: create, read through DuckDB, commit exactly once."""

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Schema, Transaction, WriterProperties, write_deltalake
from deltalake.transaction import AddAction, RemoveAction

from newsetl.entities import published_entities_sql
from newsetl.schemas import PARTITIONS, TABLES
from newsetl.settings import Settings

# Every commit of a plan part records, under this application id (a Delta "txn" action in the same commit),
# the version plan sequence × PARTS + part number: a table whose version has reached a part already holds it,
# so a replay resumes after the last part the table holds.
APP_ID = "newsetl"
PARTS = 1_000_000
# Row groups of 16,384 rows (the writer's default is a million): a reader holds a row group's column chunk at a
# time, which for `articles` bodies is about 45 MB instead of gigabytes once compaction has made files large,
# and DuckDB reads the row groups of one file in parallel.
ROW_GROUP_ROWS = 16_384
WRITER = WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP_ROWS)
# Rows a batch when a delete rewrites a file, and files rewritten at once (see delete_where_in).
REWRITE_ROWS = 4096
REWRITE_THREADS = 2


def ensure_tables(settings: Settings) -> None:
    """Create every missing table with its declared schema, and add to an existing table the columns a newer
    schema declares, so readers never see a table without columns and an output written by an older version
    keeps working (its old rows read NULL in the new columns)."""
    for name, schema in TABLES.items():
        uri = settings.table_uri(name)
        if not DeltaTable.is_deltatable(uri):
            if not settings.remote:
                settings.table_path(name).mkdir(parents=True, exist_ok=True)
            DeltaTable.create(uri, schema, mode="ignore", partition_by=PARTITIONS.get(name))
            continue
        table = DeltaTable(uri)
        held = set(table.schema().to_arrow().names)
        missing = [field for field in schema if field.name not in held]
        if missing:
            table.alter.add_columns(Schema.from_arrow(pa.schema(missing)).fields)
            add_schema_file(DeltaTable(uri), schema, PARTITIONS.get(name, []))


def add_schema_file(table: DeltaTable, schema: pa.Schema, partitions: list[str]) -> None:
    """Commit a file of no rows that holds every column: DuckDB's union_by_name only knows the columns some file
    has, so without it a column added to a table whose files predate it could not be selected."""
    fs, root = arrow_filesystem(table.table_uri)
    folder = "".join(f"{p}=__HIVE_DEFAULT_PARTITION__/" for p in partitions)
    path = f"{folder}part-00000-{uuid.uuid4()}-c000.zstd.parquet"
    data = pa.schema([f for f in schema if f.name not in partitions]).empty_table()
    fs.create_dir(f"{root}/{folder}".rstrip("/"), recursive=True)
    pq.write_table(data, f"{root}/{path}", filesystem=fs, compression="zstd")
    size = fs.get_file_info(f"{root}/{path}").size
    added = AddAction(path, size, dict.fromkeys(partitions), int(time.time() * 1000), True, '{"numRecords": 0}')
    table.create_write_transaction([added], "append", table.schema(), partitions or None)


def open_table(settings: Settings, name: str) -> DeltaTable:
    return DeltaTable(settings.table_uri(name))


def committed_version(table: DeltaTable) -> int:
    """The (sequence, part) version of the last plan part this table committed, 0 for none."""
    return table.transaction_version(APP_ID) or 0


def committed_seq(table: DeltaTable) -> int:
    """The sequence number of the last plan this table committed a part of (0 for none)."""
    return committed_version(table) // PARTS


def file_list(table: DeltaTable) -> list[str]:
    """The Parquet files of the table's current version: a glob would also see removed and orphan files.
    Local paths come percent-encoded (a space as %20), which DuckDB would take literally."""
    return [uri if "://" in uri else unquote(uri) for uri in table.file_uris()]


def partition_files(table: DeltaTable, months: set[tuple[int | None, int | None]]) -> list[str]:
    """The files of `articles` in the given (year, month) partitions: a lookup by partition reads only those."""
    wanted = {f"year={_hive(y)}/month={_hive(m)}/" for y, m in months}
    return [uri for uri in file_list(table) if any(w in uri for w in wanted)]


def _hive(value: int | None) -> str:
    return "__HIVE_DEFAULT_PARTITION__" if value is None else str(value)


def sql_literal(text: str) -> str:
    """A string as a SQL literal (DuckDB and Delta predicates alike)."""
    return "'" + text.replace("'", "''") + "'"


def sql_list(texts: Iterable[str]) -> str:
    return ", ".join(sql_literal(t) for t in texts)


def scan_sql(files: list[str], schema: pa.Schema, partitions: list[str] | None = None) -> str:
    """A DuckDB table expression over a table's files, or an empty relation with the same columns."""
    if not files:
        cols = ", ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS {f.name}" for f in schema)
        return f"(SELECT {cols} WHERE false)"
    listing = sql_list(files)
    options = "union_by_name = true"
    if partitions:
        types = ", ".join(f"'{p}': {duckdb_type(schema.field(p).type)}" for p in partitions)
        options += f", hive_partitioning = true, hive_types = {{{types}}}"
    columns = ", ".join(f.name for f in schema)
    return f"(SELECT {columns} FROM read_parquet([{listing}], {options}))"


def read_chunks(path: Path, rows: int) -> Iterator[pa.Table]:
    """A Parquet file as tables of whole row groups, of about `rows` rows each (at least one row group). Not
    `ParquetFile.iter_batches`, whose memory grows with the rows read so far (about a kilobyte a staged record
    with pyarrow 26); this stays flat."""
    source = pq.ParquetFile(path)
    for groups, _ in chunk_groups(source, rows):
        yield source.read_row_groups(groups)


def chunk_groups(source: pq.ParquetFile, rows: int) -> list[tuple[list[int], int]]:
    """The chunks of read_chunks, from the file's footer: (row groups, rows) of each."""
    chunks: list[tuple[list[int], int]] = []
    groups: list[int] = []
    size = 0
    for i in range(source.num_row_groups):
        if not source.metadata.row_group(i).num_rows:
            continue  # (an empty file has one empty row group: it yields nothing, as it holds nothing)
        groups.append(i)
        size += source.metadata.row_group(i).num_rows
        if size >= rows:
            chunks.append((groups, size))
            groups, size = [], 0
    if groups:
        chunks.append((groups, size))
    return chunks


def parquet_sql(paths: list[Path] | list[str]) -> str:
    """A DuckDB table expression over work files."""
    return f"read_parquet([{sql_list(str(p) for p in paths)}])"


def table_sql(settings: Settings, name: str) -> str:
    """A DuckDB table expression over a table's current files; `entities` as published, without the common words
    the model took for names (see newsetl/entities.py)."""
    scan = scan_sql(file_list(open_table(settings, name)), TABLES[name], PARTITIONS.get(name))
    if name == "entities":
        return published_entities_sql(scan, table_sql(settings, "word_case"), settings.entity_lower_share)
    return scan


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB with a memory cap (it spills to disk past it) instead of 80 % of the RAM."""
    con = duckdb.connect(
        config={
            "memory_limit": settings.duckdb_memory_limit,
            "temp_directory": str(settings.state_dir / "duckdb-tmp"),
            "preserve_insertion_order": False,
            # DuckDB's allocator keeps up to 512 MB of freed memory by default: give it back.
            "allocator_flush_threshold": "16MB",
            "allocator_bulk_deallocation_flush_threshold": "16MB",
        }
    )
    register_object_store(con, settings)
    return con


def register_object_store(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Let DuckDB read an object-store output (s3://…) through an fsspec filesystem (s3fs, credentials and
    endpoint from the standard AWS_* variables): its own httpfs extension would be downloaded on first use.
    A local output is read by DuckDB directly, as always."""
    if isinstance(settings.out_dir, str):
        import fsspec  # imported late: only object-store outputs need it (pip install newsetl[s3])

        con.register_filesystem(fsspec.filesystem(settings.out_dir.split("://", 1)[0]))


def query(settings: Settings, sql: str, **tables: pa.Table) -> pa.Table:
    """Run `sql` in a private DuckDB: `{articles}` etc. name the tables, keyword tables are registered."""
    con = connect(settings)
    try:
        for alias, data in tables.items():
            con.register(alias, data)
        text = sql.format(**{name: table_sql(settings, name) for name in TABLES if "{" + name + "}" in sql})
        return con.sql(text).to_arrow_table()
    finally:
        con.close()


def commit(
    table: DeltaTable,
    data: pa.Table | pa.RecordBatchReader,
    version: int,
    partitions: list[str] | None = None,
) -> None:
    """Append `data` and record its plan part's `version` in the same commit, so a replay can tell it is in."""
    write_deltalake(
        table,
        data,
        mode="append",
        partition_by=partitions,
        writer_properties=WRITER,
        commit_properties=CommitProperties(app_transactions=[Transaction(app_id=APP_ID, version=version)]),
    )


def delete_where_in(table: DeltaTable, column: str, values: Iterable[str]) -> None:
    """Delete the rows whose `column` is one of `values`, in one commit that replaces each file holding one by a
    copy without those rows, written REWRITE_ROWS at a time, two files at once. (deltalake's own delete holds a
    file's rows in memory at several times the file's size.) Idempotent: deleting twice deletes nothing more."""
    wanted = pa.array(sorted(set(values)), pa.string())
    if not len(wanted):
        return
    fs, root = arrow_filesystem(table.table_uri)
    now = int(time.time() * 1000)

    def rewrite(added: dict[str, Any]) -> list[AddAction | RemoveAction]:
        path = added["path"]
        source = pq.ParquetFile(f"{root}/{path}", filesystem=fs)
        hit = [
            i
            for i in range(source.num_row_groups)
            if pc.any(_holds(source.read_row_group(i, [column]), column, wanted)).as_py()
        ]
        if not hit:
            return []
        values_of = {
            k.removeprefix("partition."): None if v is None else str(v)
            for k, v in added.items()
            if k.startswith("partition.")
        }
        copy = f"{path.rsplit('/', 1)[0] + '/' if '/' in path else ''}part-00000-{uuid.uuid4()}-c000.zstd.parquet"
        removed = RemoveAction(path, True, now, added["size_bytes"], values_of)
        rows = _copy_without(source, hit, column, wanted, fs, f"{root}/{copy}")
        if not rows:
            fs.delete_file(f"{root}/{copy}")
            return [removed]
        size = fs.get_file_info(f"{root}/{copy}").size
        return [removed, AddAction(copy, size, values_of, now, True, json.dumps({"numRecords": rows}))]

    with ThreadPoolExecutor(REWRITE_THREADS) as pool:  # Arrow reads and writes without holding the GIL
        actions = [
            a for found in pool.map(rewrite, pa.table(table.get_add_actions(flatten=True)).to_pylist()) for a in found
        ]
    if actions:
        table.create_write_transaction(actions, "append", table.schema(), table.metadata().partition_columns or None)


def _holds(rows: pa.Table | pa.RecordBatch, column: str, wanted: pa.Array) -> pa.Array:
    """Which rows' `column` is in `wanted` (cast, since `is_in` does not take a string_view)."""
    return pc.is_in(rows.column(column).cast(pa.string()), wanted)


def _copy_without(
    source: pq.ParquetFile, hit: list[int], column: str, wanted: pa.Array, fs: pafs.FileSystem, where: str
) -> int:
    """Copy `source` to `where` without the rows whose `column` is in `wanted` (only row groups in `hit` hold
    one); returns the rows written. It goes by batches of REWRITE_ROWS, each written as a row group: a row group
    of 16,384 rows would be held whole by the writer, at about three times its size."""
    rows = 0
    schema = pa.schema([f.with_type(_without_views(f.type)) for f in source.schema_arrow])
    with pq.ParquetWriter(where, schema, filesystem=fs, compression="zstd") as writer:
        for i in range(source.num_row_groups):
            # A reader per row group: iter_batches grows only with what one reader has read (see read_chunks).
            for batch in source.iter_batches(batch_size=REWRITE_ROWS, row_groups=[i]):
                batch = batch.cast(schema)
                if i in hit:
                    batch = batch.filter(pc.invert(_holds(batch, column, wanted)))
                if batch.num_rows:
                    writer.write_batch(batch)
                    rows += batch.num_rows
    return rows


def _without_views(t: pa.DataType) -> pa.DataType:
    """`t` with string and binary views made plain: a file written by deltalake's own operations may hold
    views, which Arrow cannot filter."""
    if pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_without_views(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_without_views(f.type)) for f in t])
    return t


def arrow_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The Arrow filesystem of a table URI and the table's root in it: the local disk, or an object store
    through fsspec (s3fs), as DuckDB reads it (see register_object_store)."""
    scheme, _, rest = uri.partition("://")
    if not rest or scheme == "file":
        return pafs.LocalFileSystem(), unquote(rest if rest else uri).rstrip("/")
    import fsspec  # imported late: only object-store outputs need it (pip install newsetl[s3])

    return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem(scheme))), rest.rstrip("/")


def duckdb_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_list(t):
        return duckdb_type(t.value_type) + "[]"
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f"{f.name} {duckdb_type(f.type)}" for f in t) + ")"
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
        return "BLOB"
    raise TypeError(f"no DuckDB type for {t}")
