"""The plan: decide whether each staged record is a new article, a revision or a copy, and write the run's plan.

The plan is every row the run will commit, written to disk before any table changes. Committing it is then a
replay-safe step (see newsetl/commit.py): a run killed half-way is finished by the next one from the same plan.

The decisions are SQL over the key columns of the run and of the matching history (DuckDB spills to disk), so
memory stays flat however many records a run holds, and bodies never leave their Parquet files."""

import json
import shutil
from collections import Counter
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from newsetl.decide import (
    DECIDE_SQL,
    DUP_COLUMNS,
    OUTCOME_SQL,
    REOPENED_SQL,
    find_pairs,
    load_keys,
)
from newsetl.discovery import current_sha256, source_of
from newsetl.finish import (
    FINAL,
    PUBLISH_THREADS,
    finish_batches,
    learn_furniture,
    prevailing_languages,
)
from newsetl.near_pairs import decide_near
from newsetl.records import DumpFile
from newsetl.runtime import helper_process, release_memory
from newsetl.schemas import (
    ARTICLES,
    CAPTIONS,
    DUPLICATES,
    EDGES,
    ENTITIES,
    FILES,
    KEYWORDS,
    NEAR_INDEX,
    NEAR_SIGNATURES,
    QUARANTINE,
    RECORD_OFFSETS,
    STAGED_QUARANTINE,
    WORD_CASE,
)
from newsetl.settings import Settings
from newsetl.stage import stage_batch, word_case_of
from newsetl.tables import (
    ROW_GROUP_ROWS,
    committed_seq,
    connect,
    duckdb_type,
    open_table,
    parquet_sql,
    query,
    scan_sql,
    sql_literal,
    table_sql,
)


def build_plan(staged_dirs: list[str], settings: Settings, run_id: str, target: Path) -> dict[str, Any]:
    """Write the run's plan into `target` (atomically) and return its summary."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    staged = [Path(d) for d in staged_dirs]
    learning = learn_furniture(staged, settings)
    quarantine = [pq.read_table(d / "quarantine.parquet") for d in staged]
    prevailing = prevailing_languages(staged, settings) if staged else {}
    finals: list[Path] = []
    first = 0

    def finish(folders: list[Path]) -> None:
        """Number the records in run order and cut learned furniture, batch by batch (bodies stay on disk)."""
        nonlocal first
        finished = finish_batches(folders, learning.learned, tmp, prevailing, first)
        first += sum(pq.ParquetFile(d / "records.parquet").metadata.num_rows for d in folders)
        quarantine.extend(pa.Table.from_pylist(r, schema=STAGED_QUARANTINE) for r in finished.values() if r)
        finals.extend(finished)

    # 1. The run's records, and the earlier ones that a change of their source's furniture cuts differently,
    # staged again from their dumps (on a helper, while this process finishes the run's records) with every
    # record decided against them.
    with helper_process() as helper, ThreadPoolExecutor(1) as side:
        recleaning = side.submit(reclean, settings, learning.concerned, tmp / "recleaned", helper)
        finish(staged)
        recleaned, redecided, again = recleaning.result()
        if again is not None:
            finish([again])

        # 2. Decide against the history. A near copy an earlier run held back is decided again, staged anew from
        # its dump, when this run gives its story a version or displaces the article it was held against: until
        # the decisions touch no such copy.
        checked: dict[frozenset[str], float | None] = {}
        estimated: list[Path] = []
        matched: list[Path] = []  # each round's matches of the finals it added to the history's band keys
        covered = 0  # the finals whose matches are in `matched`
        while True:
            con = connect(settings)
            final_sql = parquet_sql(finals) if finals else scan_sql([], FINAL)
            unmatched = parquet_sql(finals[covered:]) if finals[covered:] else scan_sql([], FINAL)
            matched.append(tmp / f"matched-{len(matched):03d}.parquet")
            load_keys(con, final_sql, settings, redecided, recleaned, (unmatched, matched[:-1], matched[-1]))
            covered = len(finals)
            con.execute(DECIDE_SQL)
            find_pairs(con)
            near, pair_counts = decide_near(con, finals, settings, checked, estimated, helper)
            con.register("near_found", near)
            con.execute("CREATE TEMP TABLE near AS SELECT * FROM near_found")
            con.execute(OUTCOME_SQL)
            again, texts = restage(con, settings, redecided, tmp / f"redecided-{len(redecided):08d}", helper)
            if again is None:
                break
            estimated.append(tmp / f"estimated-{len(estimated):03d}.parquet")
            con.execute(f"COPY (SELECT a, b FROM pairs) TO {sql_literal(str(estimated[-1]))} (FORMAT parquet)")
            con.close()
            redecided |= texts
            finish([again])

    # 3. Write every row the run commits.
    try:
        run = sql_literal(run_id)
        publish = con.sql("SELECT pos, article_id FROM publish").to_arrow_table().combine_chunks()
        moved = dict(
            con.execute("SELECT article_id, duplicate_of FROM displaced WHERE article_id <> duplicate_of").fetchall()
        )
        con.execute(repoint_sql(moved, settings))
        copy(con, f"SELECT *, {run} AS run_id FROM dups", part_path(tmp, "duplicates", 0), DUPLICATES)
        counts = dict(
            con.execute(
                """SELECT 'new', count(*) FILTER (is_new AND article_id NOT IN (SELECT article_id FROM recleaned_ids))
                   FROM publish
                   UNION ALL SELECT 'revised', count(*) FILTER (NOT is_new) FROM publish
                   UNION ALL SELECT kind, count(*) FROM dups GROUP BY kind"""
            ).fetchall()
        )
        displaced = [r[0] for r in con.execute("SELECT article_id FROM displaced ORDER BY 1").fetchall()]
        rehashed = [r[0] for r in con.execute("SELECT content_hash FROM rehashed ORDER BY 1").fetchall()]
    finally:
        con.close()
    release_memory()  # what the decisions' reads left in Arrow's pool would add to the peak of the writes
    write_published(finals, publish, run_id, tmp)
    files = with_run_columns([pq.read_table(d / "files.parquet") for d in staged], FILES, run_id)
    quarantined = with_run_columns(quarantine, QUARANTINE, run_id)
    pq.write_table(files, part_path(tmp, "files", 0))
    pq.write_table(quarantined, part_path(tmp, "quarantine", 0))
    pq.write_table(learning.furniture, part_path(tmp, "furniture", 0))
    # In row groups of the tables' size: the commit reads a part a row group at a time, and a run's edges are
    # several rows a record.
    for name, rows, schema in (("edges", learning.edges, EDGES), ("word_case", word_case_of(staged), WORD_CASE),
                               ("record_offsets", offsets_of(staged), RECORD_OFFSETS)):  # fmt: skip
        pq.write_table(with_run_columns([rows], schema, run_id), part_path(tmp, name, 0), row_group_size=ROW_GROUP_ROWS)
    for f in [*finals, *estimated, *matched]:
        f.unlink()
    release_memory()
    reasons = Counter(quarantined.column("reason").to_pylist())
    by_kind = {k: counts[k] for k in ("exact", "revision", "near") if counts.get(k)}
    summary = {
        "run_id": run_id,
        "seq": int(target.name),
        "displaced": displaced,
        "moved": sorted(moved),
        "rehashed": rehashed,
        "redecided": sorted(redecided),
        "recleaned": sorted(recleaned),
        "furniture_sources": sorted(set(learning.edges.column("source").to_pylist())),
        "staged": [str(d) for d in staged],
        "files_new": files.num_rows,
        "records": sum(files.column("records").to_pylist()),
        "articles_new": counts["new"],
        "articles_revised": counts["revised"],
        "articles_recleaned": len(recleaned),
        "duplicates": sum(by_kind.values()),
        "duplicates_by_kind": by_kind,
        "near_pairs": pair_counts,
        "quarantined": quarantined.num_rows,
        "quarantined_by_reason": dict(sorted(reasons.items())),
    }
    (tmp / "plan.json").write_text(json.dumps(summary, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return summary


def restage(
    con: duckdb.DuckDBPyConnection, settings: Settings, redecided: set[str], target: Path, helper: Executor
) -> tuple[Path | None, set[str]]:
    """Stage again, into `target`, the earlier duplicates whose decision the outcome reopens (see REOPENED_SQL),
    with every copy of their texts: returns the folder (None when nothing is reopened) and the texts' hashes."""
    reopened = con.execute(REOPENED_SQL.format(dups=table_sql(settings, "duplicates"))).fetchall()
    if not reopened:
        return None, set()
    rows, texts = stage_texts(settings, {(f, n): h for f, n, h in reopened}, target, helper)
    if not texts:
        return None, set()
    pq.write_table(rows, target / "records.parquet", compression="zstd")
    return target, texts


def reclean(
    settings: Settings, concerned: list[tuple[str, int]], target: Path, helper: Executor
) -> tuple[set[str], set[str], Path | None]:
    """Stage again, into `target`, the earlier records `concerned` that are published articles or duplicates,
    with every copy of the duplicates' texts and every duplicate of the articles: returns the articles' ids
    (deleted, then published as they are now cleaned), the texts decided again, and the folder (None when none)."""
    if not concerned:
        return set(), set(), None
    keys = pa.table(list(zip(*concerned, strict=True)), schema=pa.schema([("source_file", pa.string()),
                                                                           ("record_no", pa.int32())]))  # fmt: skip
    articles = query(
        settings,
        "SELECT article_id, source_file, record_no FROM {articles} SEMI JOIN keys USING (source_file, record_no)",
        keys=keys,
    )
    copies = query(
        settings,
        """SELECT source_file, record_no, content_hash FROM {duplicates} WHERE content_hash IN (
               SELECT content_hash FROM {duplicates} WHERE duplicate_of IN (SELECT article_id FROM recleaned)
               UNION ALL SELECT content_hash FROM {duplicates} SEMI JOIN keys USING (source_file, record_no))""",
        keys=keys,
        recleaned=articles,
    )
    ids = dict(zip(zip(articles["source_file"].to_pylist(), articles["record_no"].to_pylist(), strict=True),
                   articles["article_id"].to_pylist(), strict=True))  # fmt: skip
    wanted: dict[tuple[str, int], str | None] = dict.fromkeys(ids)
    wanted |= {(f, n): h for f, n, h in zip(*copies.to_pydict().values(), strict=True)}
    if not wanted:
        return set(), set(), None
    rows, texts = stage_texts(settings, wanted, target, helper)
    if not rows.num_rows:
        return set(), set(), None
    found = set(zip(rows["source_file"].to_pylist(), rows["record_no"].to_pylist(), strict=True))
    recleaned = {article for key, article in ids.items() if key in found}
    pq.write_table(rows, target / "records.parquet", compression="zstd")
    return recleaned, texts, target


def stage_texts(
    settings: Settings, wanted: dict[tuple[str, int], str | None], target: Path, helper: Executor
) -> tuple[pa.Table, set[str]]:
    """Stage again the records `wanted` ({(source_file, record_no): the hash of the text it is a copy of, None for
    an article}): their staged rows and the texts all of whose copies are among them.

    Only a dump still in the raw root as it was ingested is staged again; a text with a copy that is not keeps
    its decision, and none of its copies is returned. A record `record_offsets` knows is read from where it
    starts; one it does not (a UTF-16 dump, or one ingested before the table was kept) from its dump's
    start."""
    names = sorted({f for f, _ in wanted})
    files = query(
        settings,
        """SELECT source_file, last(sha256 ORDER BY ingested_at) AS sha256 FROM {files}
           SEMI JOIN names USING (source_file) GROUP BY source_file""",
        names=pa.table({"source_file": pa.array(names, pa.string())}),
    )
    recorded = dict(zip(files["source_file"].to_pylist(), files["sha256"].to_pylist(), strict=True))
    present = [n for n in names if (p := settings.raw_dir / n).is_file() and not p.is_symlink() and n in recorded]
    paths = [settings.raw_dir / name for name in present]
    dumps = [
        DumpFile(str(path), name, source_of(name), digest, path.stat().st_size)
        for name, path, digest in zip(present, paths, current_sha256(paths, settings), strict=True)
        if digest == recorded[name]
    ]
    shutil.rmtree(target, ignore_errors=True)
    offsets = query(
        settings,
        """SELECT sha256, record_no, min(byte_offset) AS byte_offset FROM {record_offsets}
           SEMI JOIN digests USING (sha256) GROUP BY ALL""",
        digests=pa.table({"sha256": pa.array([d.sha256 for d in dumps], pa.string())}),
    )
    where = dict(zip(zip(offsets["sha256"].to_pylist(), offsets["record_no"].to_pylist(), strict=True),
                     offsets["byte_offset"].to_pylist(), strict=True))  # fmt: skip
    numbers: dict[str, dict[int, int | None]] = {}
    for f, n in wanted:
        numbers.setdefault(f, {})[n] = where.get((recorded.get(f), n))
    helper.submit(stage_batch, dumps, settings, target / "staged", numbers).result()
    rows = pq.read_table(target / "staged" / "records.parquet")
    shutil.rmtree(target / "staged")
    keys = list(zip(rows["source_file"].to_pylist(), rows["record_no"].to_pylist(), strict=True))
    found = set(keys)
    lost = {h for key, h in wanted.items() if h is not None and key not in found}
    texts = {h for h in wanted.values() if h is not None} - lost
    keep = [key in wanted and (wanted[key] is None or wanted[key] in texts) for key in keys]
    return rows.filter(pa.array(keep, pa.bool_())), texts


def offsets_of(staged: list[Path]) -> pa.Table:
    """Where the staged records of UTF-8 dumps start in them (RECORD_OFFSETS but the run)."""
    parts = []
    for d in staged:
        t = pq.read_table(d / "records.parquet", columns=["file_sha256", "record_no", "record_offset"])
        parts.append(
            t.filter(pc.is_valid(t.column("record_offset"))).rename_columns(["sha256", "record_no", "byte_offset"])
        )
    return pa.concat_tables(parts) if parts else RECORD_OFFSETS.empty_table().drop_columns(["run_id"])


def repoint_sql(moved: dict[str, str], settings: Settings) -> str:
    """Earlier duplicates of an article that now is a duplicate itself point to what replaced it: they are
    re-added to the plan (and deleted from the table before it is committed, see newsetl/commit.py)."""
    if not moved:
        return "SELECT 1"
    mapping = ", ".join(f"({sql_literal(old)}, {sql_literal(new)})" for old, new in sorted(moved.items()))
    # A copy that is word for word the replacing article becomes an exact copy of it.
    return f"""INSERT INTO dups
        SELECT {", ".join("d." + c for c in DUP_COLUMNS.split(", "))}, m.new,
               CASE WHEN d.content_hash = n.content_hash THEN 'exact' ELSE d.kind END,
               CASE WHEN d.content_hash = n.content_hash THEN 1.0 ELSE d.similarity END
        FROM {table_sql(settings, "duplicates")} d
        JOIN (VALUES {mapping}) m(old, new) ON d.duplicate_of = m.old
        LEFT JOIN (SELECT article_id, content_hash FROM outcome WHERE kind IS NULL) n ON n.article_id = m.new
        -- the duplicates of a text written again (see OUTCOME_SQL) or decided again already point where they must
        WHERE d.content_hash NOT IN (SELECT content_hash FROM rehashed)
          AND d.content_hash NOT IN (SELECT content_hash FROM redecided_hashes)"""


def part_path(plan: Path, table: str, part: int) -> Path:
    """Plan files are parts of a table, each committed on its own, so no commit holds more than a batch."""
    (plan / table).mkdir(exist_ok=True)
    return plan / table / f"part-{part:05d}.parquet"


def write_published(finals: list[Path], publish: pa.Table, run_id: str, plan: Path) -> None:
    """Write the plan's articles and the rows that hang off them, one part per finished chunk (bounded memory).
    A chunk with no article leaves a gap in the parts' numbers: the commit takes them in order, not by number."""

    def write(part: int, path: Path) -> None:
        final = pq.read_table(path)
        chosen = final.filter(pc.is_in(final.column("pos"), value_set=publish.column("pos")))
        if not chosen.num_rows:
            return
        where = pc.index_in(chosen.column("pos"), value_set=publish.column("pos"))
        ids = pc.take(publish.column("article_id"), where)
        chosen = chosen.append_column("article_id", ids)
        run = pa.array([run_id] * chosen.num_rows, pa.string())
        articles = chosen.append_column("run_id", run).select(ARTICLES.names).cast(ARTICLES)
        pq.write_table(articles, part_path(plan, "articles", part), compression="zstd")
        captions = explode(chosen, "captions", run_id).rename_columns({"captions": "caption"})
        captions = captions.append_column("caption_no", pa.array(list_positions(chosen.column("captions")), pa.int32()))
        pq.write_table(captions.select(CAPTIONS.names).cast(CAPTIONS), part_path(plan, "captions", part))
        for name, schema in (("entities", ENTITIES), ("keywords", KEYWORDS)):
            rows = explode(chosen, name, run_id)
            pq.write_table(rows.select(schema.names).cast(schema), part_path(plan, name, part))
        index = explode(chosen, "bands", run_id, keep=("year", "month")).rename_columns({"bands": "band_key"})
        pq.write_table(index.select(NEAR_INDEX.names).cast(NEAR_INDEX), part_path(plan, "near_index", part))
        signed = chosen.select(["article_id", "minhash"]).append_column("run_id", run)
        pq.write_table(signed.cast(NEAR_SIGNATURES), part_path(plan, "near_signatures", part))
        del final, chosen, articles, captions, index, signed
        release_memory()  # each chunk's buffers are given back, not kept for the next (a chunk is tens of MB)

    with ThreadPoolExecutor(PUBLISH_THREADS) as pool:
        for done in [pool.submit(write, part, path) for part, path in enumerate(finals)]:
            done.result()


def explode(chosen: pa.Table, column: str, run_id: str, keep: tuple[str, ...] = ()) -> pa.Table:
    """One row per element of a list column, with the article's id (and the `keep` columns) and the run."""
    lists = chosen.column(column).combine_chunks()
    parents = pc.list_parent_indices(lists)
    flat = pc.list_flatten(lists)
    cols: dict[str, Any] = {"article_id": pc.take(chosen.column("article_id"), parents)}
    for name in keep:
        cols[name] = pc.take(chosen.column(name), parents)
    if pa.types.is_struct(flat.type):
        cols.update({f.name: flat.field(i) for i, f in enumerate(flat.type)})
    else:
        cols[column] = flat
    cols["run_id"] = pa.array([run_id] * len(flat), pa.string())
    return pa.table(cols)


def list_positions(lists: pa.ChunkedArray) -> list[int]:
    return [n for item in lists.to_pylist() for n in range(len(item))]


def copy(con: duckdb.DuckDBPyConnection, select: str, path: Path, schema: pa.Schema) -> None:
    """Stream a query's rows into a Parquet work file, in the declared schema."""
    casts = ", ".join(f"CAST({f.name} AS {duckdb_type(f.type)}) AS {f.name}" for f in schema)
    con.execute(f"COPY (SELECT {casts} FROM ({select})) TO {sql_literal(str(path))} (FORMAT parquet, COMPRESSION zstd)")


def with_run_columns(parts: list[pa.Table], schema: pa.Schema, run_id: str) -> pa.Table:
    """Concatenate staged parts and add the run's columns, in the declared schema."""
    names = [n for n in schema.names if n not in ("run_id", "ingested_at")]
    t = pa.concat_tables([p.select(names) for p in parts]) if parts else schema.empty_table().select(names)
    t = t.append_column("run_id", pa.array([run_id] * t.num_rows, pa.string()))
    if "ingested_at" in schema.names:
        now = datetime.now(UTC)
        t = t.append_column("ingested_at", pa.array([now] * t.num_rows, schema.field("ingested_at").type))
    return t.select(schema.names).cast(schema)


def next_seq(settings: Settings) -> int:
    return committed_seq(open_table(settings, "files")) + 1
