"""Rounds: a run's staged batches cut into rounds planned and committed one after another, and a dump too large for
one round cut into pieces, so a plan's memory does not grow with the run or with a dump."""

import shutil
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from newsetl.finish import CHUNK_ROWS
from newsetl.schemas import (
    STAGED_FILES,
    STAGED_QUARANTINE,
)
from newsetl.stage import CASE_FILE
from newsetl.tables import (
    read_chunks,
)


def pieces_of(staged: Path, limit: int) -> list[Path]:
    """A staged batch of more than `limit` records (one dump of gigabytes) cut into pieces of `limit` records,
    each planned in a round of its own, so a plan's memory does not grow with the size of a dump.

    The last piece carries the batch's `files`, `quarantine` and word case rows: a dump counts as ingested only once
    all its records are committed. A committed piece is removed (see newsetl/commit.py), so a rerun after a crash plans
    the pieces left, and no record twice."""
    pieces = staged / "pieces"
    if not pieces.is_dir():
        records = pq.ParquetFile(staged / "records.parquet")
        if records.metadata.num_rows <= limit:
            return [staged]
        tmp = staged / "pieces.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        count = -(-records.metadata.num_rows // limit)
        batches = (b for chunk in read_chunks(staged / "records.parquet", CHUNK_ROWS) for b in chunk.to_batches())
        for number, piece in groupby(cut_rows(batches, limit), key=itemgetter(0)):
            (tmp / f"{number:05d}").mkdir(parents=True)
            path = tmp / f"{number:05d}" / "records.parquet"
            with pq.ParquetWriter(path, records.schema_arrow, compression="zstd") as writer:
                for _, rows in piece:
                    writer.write_batch(rows)
        for number in range(count):
            for name, schema in (("quarantine", STAGED_QUARANTINE), ("files", STAGED_FILES)):
                if number == count - 1:
                    shutil.copy(staged / f"{name}.parquet", tmp / f"{number:05d}" / f"{name}.parquet")
                else:
                    pq.write_table(schema.empty_table(), tmp / f"{number:05d}" / f"{name}.parquet")
        if (staged / CASE_FILE).is_file():
            shutil.copy(staged / CASE_FILE, tmp / f"{count - 1:05d}" / CASE_FILE)
        tmp.rename(pieces)
        (staged / "records.parquet").unlink()
    return sorted(p for p in pieces.iterdir() if p.name.isdigit())


def cut_rows(batches: Iterable[pa.RecordBatch], limit: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(piece number, rows) for consecutive pieces of `limit` rows."""
    position = 0
    for batch in batches:
        while batch.num_rows:
            number, offset = divmod(position, limit)
            take = min(limit - offset, batch.num_rows)
            yield number, batch.slice(0, take)
            batch = batch.slice(take)
            position += take


def plan_rounds(staged_dirs: list[str], limit: int) -> list[list[str]]:
    """The run's staged batches (or their pieces, see pieces_of) cut into consecutive rounds of about `limit`
    records: each round is planned and committed before the next, against the history the previous ones
    published."""
    rounds: list[list[str]] = [[]]
    size = 0
    for d in staged_dirs:
        for piece in pieces_of(Path(d), limit):
            records = pq.ParquetFile(piece / "records.parquet").metadata.num_rows
            if rounds[-1] and size + records > limit:
                rounds.append([])
                size = 0
            rounds[-1].append(str(piece))
            size += records
    return rounds
