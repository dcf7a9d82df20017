"""Compaction: few files per partition afterwards, the same rows, exactly-once replays intact, old files vacuumed."""

import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from newsetl.catalog import files_read, write_catalog
from newsetl.commit import apply_plan
from newsetl.compaction import compact_all
from newsetl.discovery import DumpFile, make_batches, scan_raw_dir, sha256_of, source_of
from newsetl.generate import generate_corpus
from newsetl.plan import next_seq
from newsetl.schemas import TABLES
from newsetl.settings import Settings
from newsetl.tables import (
    ROW_GROUP_ROWS,
    WRITER,
    commit,
    committed_version,
    ensure_tables,
    file_list,
    open_table,
    query,
)
from tests.conftest import catalog_rows, plan_and_commit, run_newsetl, stage_batches, table_snapshot


def ingest_tree(settings: Settings, keep_plan: Path | None = None) -> None:
    """One run's steps on plain functions over the dumps of the raw tree that are not ingested yet."""
    ensure_tables(settings)
    known = set(query(settings, "SELECT sha256 FROM {files}").column("sha256").to_pylist())
    new = []
    for rel, path, size in scan_raw_dir(settings.raw_dir)[0]:
        digest = sha256_of(path)
        if digest not in known:
            known.add(digest)
            new.append(DumpFile(str(path), rel, source_of(rel), digest, size))
    staged = stage_batches(settings, make_batches(new, settings.batch_files, settings.batch_bytes))
    plan_and_commit(settings, staged, next_seq(settings), keep_plan, catalog=True)


def files_per_partition(settings: Settings) -> Counter[str]:
    return Counter(uri.rsplit("/", 1)[0] for uri in file_list(open_table(settings, "articles")))


def parquet_on_disk(settings: Settings, name: str) -> set[str]:
    return {str(p) for p in settings.table_path(name).rglob("*.parquet") if "_delta_log" not in p.parts}


@pytest.fixture
def three_runs(tmp_path: Path) -> tuple[Settings, Path]:
    """An output directory after three waves, each ingested in batches of 10 files (many small commits),
    and a copy of the last run's plan."""
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out", entities=False, batch_files=10)
    for wave in (1, 2, 3):
        generate_corpus(settings.raw_dir, 400, seed=5, wave=wave)
        ingest_tree(settings, keep_plan=tmp_path / "last-plan" if wave == 3 else None)
    return settings, tmp_path / "last-plan"


def test_compaction_leaves_one_file_per_partition_and_the_same_rows(three_runs: tuple[Settings, Path]) -> None:
    settings, last_plan = three_runs
    assert max(files_per_partition(settings).values()) >= 10
    before = table_snapshot(settings.out_dir)
    versions = {name: committed_version(open_table(settings, name)) for name in TABLES}

    done = {d.table: d for d in compact_all(settings)}
    write_catalog(settings)

    assert set(files_per_partition(settings).values()) == {1}
    assert done["articles"].files_after == len(files_per_partition(settings)) < done["articles"].files_before
    assert table_snapshot(settings.out_dir) == before
    # The replay bookkeeping lives in the log and survives the OPTIMIZE commit and the checkpoint.
    assert {name: committed_version(open_table(settings, name)) for name in TABLES} == versions
    apply_plan(last_plan, settings)  # a replay of a committed plan, as after a crash before it was discarded
    write_catalog(settings)
    assert table_snapshot(settings.out_dir) == before
    # Within the retention nothing is deleted: a catalog built before the compaction still reads its files.
    assert all(d.files_vacuumed == 0 for d in done.values())


def test_a_run_after_compaction_publishes_what_it_would_have_without(tmp_path: Path) -> None:
    outs = {}
    for name, compact in (("plain", False), ("compacted", True)):
        settings = Settings(raw_dir=tmp_path / name / "raw", out_dir=tmp_path / name / "out", entities=False)
        settings = settings.model_copy(update={"batch_files": 10})
        for wave in (1, 2):
            generate_corpus(settings.raw_dir, 300, seed=6, wave=wave)
            ingest_tree(settings)
            if compact:
                compact_all(settings)
        outs[name] = table_snapshot(settings.out_dir)
    assert outs["compacted"] == outs["plain"]


def test_vacuum_with_no_retention_deletes_the_replaced_files_and_the_catalog_still_reads(
    three_runs: tuple[Settings, Path],
) -> None:
    settings, _ = three_runs
    before = table_snapshot(settings.out_dir)
    old_catalog = settings.out_dir / "old.duckdb"
    shutil.copy(settings.catalog_path, old_catalog)
    stale = len(parquet_on_disk(settings, "articles"))

    done = {d.table: d for d in compact_all(settings.model_copy(update={"vacuum_retention_hours": 0}))}
    write_catalog(settings)

    live = {uri for uri in file_list(open_table(settings, "articles"))}
    assert parquet_on_disk(settings, "articles") == live
    assert done["articles"].files_vacuumed == stale  # every file before the compaction: replaced or deleted
    assert done["articles"].bytes_vacuumed > 0
    assert table_snapshot(settings.out_dir) == before
    assert catalog_rows(settings.out_dir, "SELECT count(*) FROM articles WHERE year = 2016")[0][0] > 0
    # What the retention is for: a catalog built before the vacuum lists files that are gone now.
    with pytest.raises(duckdb.IOException):
        duckdb.connect(str(old_catalog), read_only=True).execute("SELECT count(*) FROM articles").fetchall()


def test_a_month_query_through_the_catalog_reads_only_that_months_files(three_runs: tuple[Settings, Path]) -> None:
    settings, _ = three_runs
    partitions = files_per_partition(settings)
    month_files = partitions[str(settings.table_path("articles") / "year=2016" / "month=9")]
    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    try:
        one_month = files_read(con, "SELECT count(*) FROM articles WHERE year = 2016 AND month = 9")
        by_date = files_read(con, "SELECT count(*) FROM articles WHERE published_at >= '2016-09-01'")
    finally:
        con.close()
    assert one_month == (month_files, sum(partitions.values()))
    # A filter on the timestamp alone opens every file (it can only skip row groups inside them).
    assert by_date[0] == sum(partitions.values())


@pytest.mark.slow
def test_newsetl_compact_then_rerun_changes_nothing(prefect_server: dict[str, str], tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    # Small batches: many commits; no compaction inside the runs, so `newsetl compact` has work.
    env = {
        **prefect_server,
        "NEWSETL_BATCH_FILES": "10",
        "NEWSETL_ENTITIES": "false",
        "NEWSETL_COMPACT_MIN_FILES": "1000",
    }
    for wave in (1, 2):
        generate_corpus(raw, 300, seed=8, wave=wave)
        run_newsetl(env, "run", "--raw", str(raw), "--out", str(out))
    before = table_snapshot(out)
    settings = Settings(raw_dir=raw, out_dir=out)
    assert max(files_per_partition(settings).values()) > 1

    done = run_newsetl(env, "compact", "--out", str(out), "--retention-hours", "0")
    assert "articles: " in done.stdout and "MB reclaimed" in done.stdout
    assert set(files_per_partition(settings).values()) == {1}
    assert parquet_on_disk(settings, "articles") == set(file_list(open_table(settings, "articles")))
    assert table_snapshot(out) == before
    run_newsetl(env, "run", "--raw", str(raw), "--out", str(out))
    assert table_snapshot(out) == before
    statuses = catalog_rows(out, "SELECT status FROM runs")
    assert statuses == [("completed",)] * 3


def test_committed_and_compacted_files_keep_row_groups_small(tmp_path: Path) -> None:
    """A reader holds a row group's column chunk at a time: compaction must not make one of a whole file."""
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out", entities=False)
    ensure_tables(settings)
    schema = TABLES["near_signatures"]
    rows = ROW_GROUP_ROWS * 2 + 5
    for part in range(2):
        ids = pa.array([f"{part}-{i}" for i in range(rows)], pa.string())
        sig = pa.array([bytes(400)] * rows, pa.binary())
        run = pa.array(["run"] * rows, pa.string())
        commit(open_table(settings, "near_signatures"), pa.table([ids, sig, run], schema=schema), part + 1)
    table = open_table(settings, "near_signatures")
    table.optimize.compact(writer_properties=WRITER)
    files = file_list(open_table(settings, "near_signatures"))
    assert len(files) == 1
    meta = pq.ParquetFile(files[0]).metadata
    assert meta.num_rows == 2 * rows
    assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) == ROW_GROUP_ROWS
