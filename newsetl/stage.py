"""Staging: read every dump of a batch, parse and clean its records, describe them, and write them as Parquet
work files (records, quarantine, files, word case counts) for the plan."""

import hashlib
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from newsetl.article import article_row
from newsetl.clean import DEFAULT_FURNITURE, clean_record
from newsetl.enrich import describe, token_hashes, word_codes
from newsetl.entities import CaseCounts, add_entities
from newsetl.near import band_keys, shingles_of_hashes, signature, tokens_and_joins
from newsetl.parse import read_dump, read_record_at
from newsetl.reasons import Reason
from newsetl.records import CleanRecord, DumpFile, Rejected
from newsetl.runtime import old_objects_left_alone, release_memory
from newsetl.schemas import STAGED_FILES, STAGED_QUARANTINE, STAGED_RECORDS, STAGED_WORD_CASE
from newsetl.settings import Settings

# Bump when parsing or cleaning changes what a batch stages, so cached batches are not reused.
EXTRACT_VERSION = "12"
# Rows buffered before a row group is written: bounds memory whatever the size of a batch.
FLUSH_ROWS = 1000
# Articles tokenised and described at once: numpy counts the keywords of a hundred as fast per article as those
# of a thousand, whose tokens would raise the worker's peak of memory for nothing.
DESCRIBE_ROWS = 100
# The case of the words the entity model read in a batch (newsetl/entities.py CaseCounts).
CASE_FILE = "case_counts.parquet"


def batch_key(batch: list[DumpFile], settings: Settings) -> str:
    """A batch is named by the content of its files and the settings that shape what it stages, so a rerun
    or a retry finds its staged result, and a changed setting does not reuse a stale one."""
    shaping = settings.model_dump_json(
        include={"source_timezones", "furniture", "max_record_bytes", "entities", "entity_chars"}
    )
    digest = hashlib.sha256(f"extract-v{EXTRACT_VERSION}\0{shaping}".encode())
    for f in batch:
        digest.update(f"\0{f.source_file}\0{f.sha256}".encode())
    return "batch-" + digest.hexdigest()[:32]


def furniture_for(settings: Settings, source: str) -> frozenset[str]:
    extra = settings.furniture.get(source, [])
    return DEFAULT_FURNITURE | {line.casefold() for line in extra}


def extract_file(
    f: DumpFile, settings: Settings, only: Mapping[int, int | None] | None = None
) -> Iterator[CleanRecord | Rejected]:
    """Parse and clean one dump as a stream; a bad file or record becomes a Rejected, never an exception.

    With `only` ({record number: the byte offset it starts at, None when not known}), just those records: each
    whose offset is known is read from there (see read_record_at), the others by reading the dump up to them."""
    furniture = furniture_for(settings, f.source)
    try:
        if only is None:
            for item in read_dump(Path(f.path), max_record_bytes=settings.max_record_bytes):
                yield item if isinstance(item, Rejected) else clean_record(item, furniture)
            return
        wanted = set()
        for n, offset in sorted(only.items()):
            found = None
            if offset is not None:
                found = read_record_at(Path(f.path), n, offset, max_record_bytes=settings.max_record_bytes)
            if found is None:
                wanted.add(n)
            else:
                yield found if isinstance(found, Rejected) else clean_record(found, furniture)
        if not wanted:
            return
        for item in read_dump(Path(f.path), max_record_bytes=settings.max_record_bytes):
            if not wanted:
                return  # records come in the order of their numbers: the rest of the dump is not wanted
            if item.record_no in wanted:
                wanted.discard(item.record_no)
                yield item if isinstance(item, Rejected) else clean_record(item, furniture)
    except FileNotFoundError:
        yield Rejected(None, Reason.UNREADABLE, "the file disappeared while being ingested: drop it again")


def finish_rows(rows: list[dict[str, Any]], settings: Settings, cases: CaseCounts | None = None) -> None:
    """Add what is computed from an article's text: language, dateline, keywords and the MinHash signature and
    LSH band keys from one tokenisation, then entities a batch at a time (the model is fastest on batches),
    counting the case of their words into `cases`."""
    for start in range(0, len(rows), DESCRIBE_ROWS):
        part = rows[start : start + DESCRIBE_ROWS]
        titles, bodies = [r["title"] for r in part], [r["body"] for r in part]
        title_words = list(map(tokens_and_joins, titles))
        body_words = list(map(tokens_and_joins, bodies))
        # Each word is looked up once, for its term and its token hash; an article's words are its title's then
        # its body's, as in article_text (title + "\n\n" + body), whose shingles make the signature.
        texts = [words for pair in zip(title_words, body_words, strict=True) for words, _ in pair]
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        codes = word_codes(texts, int(lengths.sum()))
        hashes = np.split(token_hashes(codes), lengths.cumsum()[1:-1:2])
        for row, described, words in zip(
            part, describe(titles, bodies, title_words, body_words, codes), hashes, strict=True
        ):
            row.update(described)
            minhash = signature(shingles_of_hashes(words))
            row["bands"] = band_keys(minhash)
            row["minhash"] = minhash.astype("<u4").tobytes()
    if settings.entities:
        add_entities(
            rows,
            [r["title"] for r in rows],
            [r["body"] for r in rows],
            [r["captions"] for r in rows],
            settings.entity_chars,
            cases,
        )


class _Staged:
    """Buffers rows of one staged table and writes them as row groups of a Parquet file."""

    def __init__(self, path: Path, schema: pa.Schema, finish: Callable[[list[dict[str, Any]]], None] | None = None):
        self.schema = schema
        self.finish = finish
        self.rows: list[dict[str, Any]] = []
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            if self.finish is not None:
                self.finish(self.rows)
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []
            release_memory()

    def close(self) -> None:
        self.flush()
        self.writer.close()


@old_objects_left_alone()
def stage_batch(
    batch: list[DumpFile],
    settings: Settings,
    target: Path,
    only: Mapping[str, Mapping[int, int | None]] | None = None,
) -> Counter[str]:
    """Write records.parquet, quarantine.parquet, files.parquet and case_counts.parquet (the case of the words
    the entity model read, see word_case_of) of a batch into `target`, atomically. With `only`, just the records
    it numbers for each file (a plan staging earlier records again), as extract_file reads them."""
    counts: Counter[str] = Counter()
    if target.is_dir():
        return counts
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cases = CaseCounts()
    records = _Staged(tmp / "records.parquet", STAGED_RECORDS, lambda rows: finish_rows(rows, settings, cases))
    quarantine = _Staged(tmp / "quarantine.parquet", STAGED_QUARANTINE)
    files = _Staged(tmp / "files.parquet", STAGED_FILES)
    for f in batch:
        zone = settings.zone_of(f.source)
        kept = 0
        rejected: list[Rejected] = []
        for item in extract_file(f, settings, None if only is None else only.get(f.source_file, {})):
            if isinstance(item, Rejected):
                rejected.append(item)
                quarantine.add(
                    {
                        "source_file": f.source_file,
                        "record_no": item.record_no,
                        "reason": item.reason.value,
                        "detail": item.detail,
                    }
                )
                counts[item.reason.value] += 1
            else:
                records.add(article_row(item, f.source, f.source_file, f.sha256, zone))
                kept += 1
        whole_file = any(q.record_no is None and q.reason is not Reason.STRAY_TEXT for q in rejected)
        n_records = kept + sum(q.record_no is not None for q in rejected)
        files.add(
            {
                "source_file": f.source_file,
                "sha256": f.sha256,
                "bytes": f.bytes,
                "status": "quarantined" if whole_file and not n_records else "ingested",
                "records": n_records,
                "source": f.source,
            }
        )
        counts["records"] += n_records
        counts["kept"] += kept
    for staged in (records, quarantine, files):
        staged.close()
    pq.write_table(cases.table(), tmp / CASE_FILE, compression="zstd")
    tmp.rename(target)
    return counts


def word_case_of(staged: list[Path]) -> pa.Table:
    """The word case counts of staged batches added up (STAGED_WORD_CASE, by word). A folder without them (a
    piece of a batch but its last, see newsetl/rounds.py pieces_of) adds nothing."""
    parts = [pq.read_table(d / CASE_FILE) for d in staged if (d / CASE_FILE).is_file()]
    if not parts:
        return STAGED_WORD_CASE.empty_table()
    summed = pa.concat_tables(parts).group_by("word").aggregate([("lower_case", "sum"), ("capitalised", "sum")])
    return summed.rename_columns(STAGED_WORD_CASE.names).cast(STAGED_WORD_CASE)
