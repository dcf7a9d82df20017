"""Committing plans: revisions replace articles with their captions, replaying a plan changes nothing, and a
delete rewrites only the files it must."""

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from newsetl.commit import apply_plan
from newsetl.settings import Settings
from newsetl.tables import delete_where_in, query, read_chunks
from tests.conftest import ingest_without_prefect


def record(day: int, title: str, captions: list[str], body: str) -> str:
    lines = [c for c in captions for _ in range(2)]
    return f"0\nSaturday {day} September 2016 - 05:28\n\n{title}\n\nStory Code : 7\n" + "\n".join([*lines, body])


def rows(settings: Settings, sql: str) -> list[dict]:
    return query(settings, sql).to_pylist()


def test_a_revision_without_captions_takes_the_captions_of_the_old_version_away(tmp_path: Path) -> None:
    """And its entities: the new version's names replace the old version's (entities on, the default)."""
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    old = record(10, "Old title", ["A photo caption."], "Vladimir Putin met the mayor in Moscow.")
    ingest_without_prefect(settings, {"a.txt": old}, 1)
    assert len(rows(settings, "SELECT * FROM {captions}")) == 1
    names = "SELECT e.entity FROM {entities} e JOIN {articles} a USING (article_id) ORDER BY 1"
    assert [r["entity"] for r in rows(settings, names)] == ["Moscow", "Vladimir Putin"]
    new = record(11, "New title", [], "Angela Merkel met the mayor in Berlin.")  # short, but English to langid
    ingest_without_prefect(settings, {"b.txt": new}, 2)
    assert rows(settings, "SELECT title, source_file FROM {articles}") == [
        {"title": "New title", "source_file": "site/b.txt"}
    ]
    assert rows(settings, "SELECT * FROM {captions}") == []
    assert [r["entity"] for r in rows(settings, "SELECT entity FROM {entities} ORDER BY 1")] == [
        "Angela Merkel",
        "Berlin",
    ]
    assert rows(settings, "SELECT source_file, kind FROM {duplicates}") == [
        {"source_file": "site/a.txt", "kind": "revision"}
    ]


def test_replaying_a_committed_plan_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    ingest_without_prefect(settings, {"a.txt": record(10, "Old title", ["Caption."], "Old body.")}, 1)
    copy = tmp_path / "plan-copy"
    ingest_without_prefect(settings, {"b.txt": record(11, "New title", ["Caption two."], "New body.")}, 2, copy)
    tables = ["articles", "captions", "duplicates", "quarantine", "files", "furniture"]
    before = {t: rows(settings, f"SELECT * FROM {{{t}}} ORDER BY ALL") for t in tables}
    apply_plan(copy, settings)  # as a rerun would, had the process died before discarding the plan
    assert {t: rows(settings, f"SELECT * FROM {{{t}}} ORDER BY ALL") for t in tables} == before


def test_a_run_of_only_broken_files_quarantines_them_and_publishes_nothing(tmp_path: Path) -> None:
    """No staged record at all: the plan's empty relation must still have every staged column's type."""
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    ingest_without_prefect(settings, {"junk.txt": "\x00\x01\x02 not a dump \x00" * 50}, 1)
    assert rows(settings, "SELECT count(*) AS n FROM {articles}") == [{"n": 0}]
    assert [r["source_file"] for r in rows(settings, "SELECT source_file FROM {quarantine}")] == ["site/junk.txt"]


def test_a_delete_rewrites_only_the_files_that_hold_a_row_and_keeps_the_rest(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    schema = pa.schema([("article_id", pa.string()), ("year", pa.int32()), ("body", pa.string())])

    def write(ids: list[str], year: int | None, id_type: pa.DataType | None = None) -> None:
        data = pa.table({"article_id": ids, "year": [year] * len(ids), "body": [i * 50 for i in ids]}, schema)
        write_deltalake(
            uri,
            data.cast(schema.set(0, pa.field("article_id", id_type or pa.string()))),
            mode="append",
            partition_by=["year"],
        )

    write([f"a{i}" for i in range(10_000)], 2016)  # 3 batches of 4,096 rows: row groups are rewritten by batch
    write(["b1", "b2"], None, pa.string_view())  # a file whose rows all go; deltalake's own writes use views
    write(["c1", "c2"], 2017)  # a file with no row to delete
    table = DeltaTable(uri)
    untouched = [u for u in table.file_uris() if "year=2017" in u]

    delete_where_in(table, "article_id", ["a5", "a9999", "b1", "b2", "nowhere"])

    table = DeltaTable(uri)
    left = pa.table(table.to_pyarrow_table()).sort_by("article_id")
    assert left.num_rows == 10_000 - 2 + 2
    assert not {"a5", "a9999", "b1", "b2"} & set(left.column("article_id").to_pylist())
    assert left.filter(pc.equal(left["article_id"], "a7")).to_pylist() == [
        {"article_id": "a7", "year": 2016, "body": "a7" * 50}
    ]
    assert len(table.file_uris()) == 2 and untouched[0] in table.file_uris()
    rewritten = next(u for u in table.file_uris() if "year=2016" in u)
    assert pq.ParquetFile(rewritten).metadata.num_row_groups == 3
    assert pa.table(table.get_add_actions(flatten=True)).column("num_records").to_pylist().count(9_998) == 1
    version = table.version()
    delete_where_in(table, "article_id", ["a5", "b1"])  # again: nothing is left to delete, nothing is committed
    assert DeltaTable(uri).version() == version
    table.optimize.compact()  # the rewritten file's statistics are enough for Delta's own operations
    assert DeltaTable(uri).to_pyarrow_table().num_rows == 10_000


def test_read_chunks_gives_whole_row_groups_of_about_the_asked_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"n": list(range(10_000))}), path, row_group_size=1000)
    chunks = list(read_chunks(path, 2500))
    assert [c.num_rows for c in chunks] == [3000, 3000, 3000, 1000]
    assert pa.concat_tables(chunks).column("n").to_pylist() == list(range(10_000))
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"n": pa.array([], pa.int64())}), empty)
    assert list(read_chunks(empty, 2500)) == []


def test_an_output_written_with_an_older_schema_gets_the_new_columns(tmp_path: Path) -> None:
    """A table created before a column was declared gains it (old rows read NULL), so a newer newsetl keeps
    writing to an output an older one made."""
    import shutil

    from newsetl.schemas import ARTICLES, RUNS
    from newsetl.tables import ensure_tables

    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    older = RUNS.remove(RUNS.get_field_index("seconds"))
    settings.table_path("runs").mkdir(parents=True)
    DeltaTable.create(settings.table_uri("runs"), older)
    write_deltalake(settings.table_uri("runs"), older.empty_table().select(older.names), mode="append")
    write_deltalake(
        settings.table_uri("runs"),
        pa.Table.from_pylist([{"run_id": "old", "status": "completed"}], schema=older),
        mode="append",
    )
    ensure_tables(settings)
    assert DeltaTable(settings.table_uri("runs")).schema().to_arrow().names == RUNS.names
    assert rows(settings, "SELECT run_id, seconds FROM {runs}") == [{"run_id": "old", "seconds": None}]
    # A partitioned table too: its articles stay in their partitions, and a month filter still reads.
    ingest_without_prefect(settings, {"a.txt": record(10, "A title", [], "Some story text to publish.")}, 1)
    older = ARTICLES.remove(ARTICLES.get_field_index("dateline"))
    shutil.rmtree(settings.table_path("articles"))
    DeltaTable.create(settings.table_uri("articles"), older, partition_by=["year", "month"])
    write_deltalake(
        settings.table_uri("articles"),
        pa.Table.from_pylist([{"article_id": "x", "title": "Old", "year": 2016, "month": 9}], schema=older),
        mode="append",
        partition_by=["year", "month"],
    )
    ensure_tables(settings)
    assert rows(settings, "SELECT title, dateline FROM {articles} WHERE year = 2016 AND month = 9") == [
        {"title": "Old", "dateline": None}
    ]
