"""Compaction: rewrite a table's small files into few large ones, checkpoint its log, vacuum what no version needs.

Every plan part is its own commit (newsetl/commit.py), so each run adds a file per part and partition to every
table it touches: night after night the files get many and small, and a query opens all of them. Compaction
(a Delta OPTIMIZE commit) rewrites the rows, not their content: the application transaction versions that make
replays exact live in the log, not in the files, and survive it. The replaced files stay on disk until a
vacuum deletes them `vacuum_retention_hours` later, because a catalog an analyst built earlier still lists them."""

import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.fs import DeltaStorageHandler

from newsetl.schemas import PARTITIONS, TABLES
from newsetl.settings import Settings
from newsetl.tables import WRITER, open_table


@dataclass
class Compacted:
    """What compaction did to one table."""

    table: str
    files_before: int
    files_after: int
    files_vacuumed: int = 0
    bytes_vacuumed: int = 0
    seconds: float = 0.0


def most_small_files(table: DeltaTable, name: str, target_bytes: int) -> int:
    """The largest number of files below the target size in one partition (the whole table if unpartitioned)."""
    actions = pa.table(table.get_add_actions(flatten=True))
    small = actions.filter(pc.less(actions["size_bytes"], target_bytes))
    keys = [f"partition.{p}" for p in PARTITIONS.get(name, [])]
    if not keys:
        return small.num_rows
    counts = small.group_by(keys, use_threads=False).aggregate([([], "count_all")])
    return max(counts["count_all"].to_pylist(), default=0)


def compact_table(settings: Settings, name: str, min_small_files: int) -> Compacted:
    """Bin-pack the table's small files into files of about `compact_target_bytes` once a partition holds
    `min_small_files` of them, and checkpoint the log; files already large enough are left as they are."""
    started = time.monotonic()
    table = open_table(settings, name)
    before = len(table.file_uris())
    if most_small_files(table, name, settings.compact_target_bytes) < min_small_files:
        return Compacted(name, before, before)
    table.optimize.compact(target_size=settings.compact_target_bytes, writer_properties=WRITER)
    table.create_checkpoint()  # readers start from the checkpoint instead of replaying every commit's JSON
    table.cleanup_metadata()  # log files past the log retention (30 days) that the checkpoint makes needless
    after = len(open_table(settings, name).file_uris())
    return Compacted(name, before, after, seconds=time.monotonic() - started)


def vacuum_table(settings: Settings, name: str, done: Compacted) -> Compacted:
    """Delete the files no version of the last `vacuum_retention_hours` uses, orphans of killed writers too."""
    started = time.monotonic()
    table = open_table(settings, name)
    hours = settings.vacuum_retention_hours
    # Our own setting decides the retention (Delta's check would refuse less than 7 days, e.g. 0 in tests).
    options: dict[str, Any] = {"retention_hours": hours, "enforce_retention_duration": False, "full": True}
    doomed = table.vacuum(dry_run=True, **options)
    # Sizes first: once deleted, a file cannot tell how large it was. The lock keeps the list valid meanwhile.
    size = sum(i.size or 0 for i in DeltaStorageHandler(table.table_uri).get_file_info(doomed)) if doomed else 0
    if doomed:
        table.vacuum(dry_run=False, **options)
    done.files_vacuumed, done.bytes_vacuumed = len(doomed), size
    done.seconds += time.monotonic() - started
    return done


def compact_all(settings: Settings, min_small_files: int = 2, vacuum: bool = True) -> list[Compacted]:
    """Compact (and vacuum) every table; the caller holds the output lock."""
    done = []
    for name in TABLES:
        result = compact_table(settings, name, min_small_files)
        done.append(vacuum_table(settings, name, result) if vacuum else result)
    return done
