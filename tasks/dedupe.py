"""Dedupe: decide whether each staged record is a new article, a revision or a copy, and write the run's plan.

The plan is every row the run will commit, written to disk before any table changes. Committing it is then a
replay-safe step (see tasks/load.py): a run killed half-way is finished by the next one from the same plan.

The decisions are SQL over the key columns of the run and of the matching history (DuckDB spills to disk), so
memory stays flat however many records a run holds, and bodies never leave their Parquet files.
"""

import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import get_run_logger, task

from newsetl.reasons import Reason
from newsetl.schemas import ARTICLES, CAPTIONS, DUPLICATES, FILES, QUARANTINE, STAGED_QUARANTINE, STAGED_RECORDS
from newsetl.settings import Settings
from tasks.article import strip_learned
from tasks.furniture import counts_table, learned_lines
from tasks.tables import (
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

# Records finished and committed together: the unit of memory of the plan and of each Delta commit.
CHUNK_ROWS = 8192

# A staged record numbered in run order.
FINAL = pa.schema([("pos", pa.int64()), *STAGED_RECORDS])

# The stable id of an article, in SQL so the decision can compute it: a story with a code keeps one id through
# its revisions; one without is named by its source and text.
ARTICLE_ID_SQL = """left(sha256(CASE WHEN story_code IS NOT NULL
    THEN 'code' || chr(0) || source || chr(0) || story_code
    ELSE 'text' || chr(0) || source || chr(0) || content_hash END), 16)"""

# Columns a duplicate row carries about itself.
DUP_COLUMNS = "source_file, record_no, source, story_code, title, published_at, content_hash"

# The rules, applied to `run` (this run's finished records, with `pos` = ingestion order), `hist` (published
# articles sharing a hash or a story code with the run) and `copies` (hashes of earlier duplicates):
# - a record whose text was seen before (published, once published, or earlier in the run) is an exact copy
#   of the article that text belongs to;
# - among the versions of a coded story (the published one and the run's new texts), the newest date line wins,
#   ties and missing dates going to the later ingested; every other version is a revision duplicate.
DECIDE_SQL = f"""
CREATE TEMP TABLE known AS
    SELECT content_hash, min(aid) AS aid FROM (
        SELECT content_hash, article_id AS aid FROM hist
        UNION ALL SELECT content_hash, duplicate_of FROM copies)
    GROUP BY content_hash;
CREATE TEMP TABLE firsts AS
    SELECT r.*, {ARTICLE_ID_SQL} AS article_id
    FROM run r
    WHERE r.pos = (SELECT min(pos) FROM run x WHERE x.content_hash = r.content_hash)
      AND r.content_hash NOT IN (SELECT content_hash FROM known);
CREATE TEMP TABLE ranked AS
    SELECT article_id, pos, in_history,
           row_number() OVER (PARTITION BY source, story_code
                              ORDER BY published_at DESC NULLS LAST, pos DESC) = 1 AS wins
    FROM (SELECT article_id, source, story_code, published_at, -1 AS pos, true AS in_history
          FROM hist WHERE story_code IS NOT NULL
          UNION ALL
          SELECT article_id, source, story_code, published_at, pos, false FROM firsts WHERE story_code IS NOT NULL);
CREATE TEMP TABLE publish AS
    SELECT f.pos, f.article_id,
           f.story_code IS NULL OR f.article_id NOT IN (SELECT article_id FROM hist) AS is_new
    FROM firsts f
    WHERE f.story_code IS NULL OR f.pos IN (SELECT pos FROM ranked WHERE wins AND NOT in_history);
CREATE TEMP TABLE displaced AS
    SELECT h.* FROM hist h
    WHERE h.article_id IN (SELECT article_id FROM ranked WHERE in_history AND NOT wins);
CREATE TEMP TABLE dups AS
    SELECT {DUP_COLUMNS}, coalesce(k.aid, f.article_id) AS duplicate_of, 'exact' AS kind, 1.0 AS similarity
    FROM run r
    LEFT JOIN known k USING (content_hash)
    LEFT JOIN (SELECT content_hash, article_id FROM firsts) f USING (content_hash)
    WHERE r.pos NOT IN (SELECT pos FROM firsts)
    UNION ALL
    SELECT {DUP_COLUMNS}, article_id, 'revision', NULL FROM firsts
    WHERE story_code IS NOT NULL AND pos NOT IN (SELECT pos FROM publish)
    UNION ALL
    SELECT {DUP_COLUMNS}, article_id, 'revision', NULL FROM displaced;
"""


def finish_batch(
    staged: pa.Table, first_pos: int, learned: dict[str, frozenset[str]]
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Number a staged batch in run order and cut learned furniture from the few bodies that end in it."""
    t = staged.append_column("pos", pa.array(range(first_pos, first_pos + staged.num_rows), pa.int64()))
    if not learned:
        return t.select(FINAL.names), []
    pairs = pa.array([f"{source}\0{line}" for source, lines in learned.items() for line in lines], pa.string())
    keys = pc.binary_join_element_wise(t.column("source"), t.column("closing"), "\0")
    hit = pc.fill_null(pc.is_in(keys, value_set=pairs), False)
    if not pc.any(hit).as_py():
        return t.select(FINAL.names), []
    fixed, rejected = [], []
    for row in t.filter(hit).to_pylist():
        kept = strip_learned(row, learned[row["source"]])
        if kept is None:
            rejected.append(
                {
                    "source_file": row["source_file"],
                    "record_no": row["record_no"],
                    "reason": Reason.NO_BODY.value,
                    "detail": "the record holds only page furniture (trailer lines), no story text",
                }
            )
        else:
            fixed.append(kept)
    rest = t.filter(pc.invert(hit))
    return pa.concat_tables([rest.select(FINAL.names), pa.Table.from_pylist(fixed, schema=FINAL)]), rejected


def learn_furniture(staged: list[Path], settings: Settings) -> tuple[dict[str, frozenset[str]], pa.Table]:
    """Closing lines of this run counted per source, added to the history's counts; returns what is learned
    and this run's counts (to be committed)."""
    records = parquet_sql([d / "records.parquet" for d in staged])
    run_counts = query(
        settings,
        f"""SELECT source, closing AS line, count(*)::BIGINT AS articles FROM {records}
            WHERE closing IS NOT NULL GROUP BY ALL""",
    )
    totals = query(
        settings,
        f"""SELECT source, sum(n)::BIGINT AS n FROM (
                SELECT source, count(*) AS n FROM {{articles}} GROUP BY ALL
                UNION ALL SELECT source, count(*) FROM {records} GROUP BY ALL) GROUP BY ALL""",
    )
    counts = query(
        settings,
        "SELECT source, line, sum(articles)::BIGINT AS articles FROM "
        "(SELECT * FROM {furniture} UNION ALL SELECT * FROM run_counts) GROUP BY ALL",
        run_counts=run_counts,
    )
    learned = learned_lines(
        {(r["source"], r["line"]): r["articles"] for r in counts.to_pylist()},
        {r["source"]: r["n"] for r in totals.to_pylist()},
        settings.furniture_min_articles,
        settings.furniture_min_share,
    )
    return learned, run_counts


def load_keys(con: duckdb.DuckDBPyConnection, run_sql: str, settings: Settings) -> None:
    """Load the run's keys (`run`) and the history they match (`hist`, `copies`) into `con`."""
    keys = "pos, source, story_code, content_hash, published_at, source_file, record_no, title"
    con.execute(f"CREATE TEMP TABLE run AS SELECT {keys} FROM {run_sql}")
    articles = table_sql(settings, "articles")
    con.execute(
        f"""CREATE TEMP TABLE hist AS
            SELECT article_id, {DUP_COLUMNS}, year, month FROM {articles} a
            WHERE a.content_hash IN (SELECT content_hash FROM run)
               OR EXISTS (SELECT 1 FROM run r WHERE r.source = a.source AND r.story_code = a.story_code)"""
    )
    con.execute(
        f"""CREATE TEMP TABLE copies AS SELECT DISTINCT content_hash, duplicate_of
            FROM {table_sql(settings, "duplicates")} WHERE content_hash IN (SELECT content_hash FROM run)"""
    )


def build_plan(staged_dirs: list[str], settings: Settings, run_id: str, target: Path) -> dict[str, Any]:
    """Write the run's plan into `target` (atomically) and return its summary."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    staged = [Path(d) for d in staged_dirs]
    learned, closing = learn_furniture(staged, settings) if staged else ({}, None)

    # 1. Number the records in run order and cut learned furniture, batch by batch (bodies stay on disk).
    quarantine = [pq.read_table(d / "quarantine.parquet") for d in staged]
    finals: list[Path] = []
    pos = 0
    for d in staged:
        # In chunks, not whole files: one dump of gigabytes is one batch, and must not be one read.
        for chunk in pq.ParquetFile(d / "records.parquet").iter_batches(batch_size=CHUNK_ROWS):
            final, rejected = finish_batch(pa.Table.from_batches([chunk]), pos, learned)
            pos += chunk.num_rows
            if rejected:
                quarantine.append(pa.Table.from_pylist(rejected, schema=STAGED_QUARANTINE))
            finals.append(tmp / f"final-{len(finals):05d}.parquet")
            pq.write_table(final, finals[-1], compression="zstd")

    # 2. Decide against the history, and 3. write every row the run commits.
    con = connect(settings)
    try:
        final_sql = parquet_sql(finals) if finals else scan_sql([], FINAL)
        load_keys(con, final_sql, settings)
        con.execute(DECIDE_SQL)
        run = sql_literal(run_id)
        publish = con.sql("SELECT pos, article_id FROM publish").to_arrow_table().combine_chunks()
        copy(con, f"SELECT *, {run} AS run_id FROM dups", part_path(tmp, "duplicates", 0), DUPLICATES)
        counts = con.execute(
            """SELECT (SELECT count(*) FILTER (is_new) FROM publish),
                      (SELECT count(*) FILTER (NOT is_new) FROM publish),
                      (SELECT count(*) FROM dups WHERE kind = 'exact'),
                      (SELECT count(*) FROM dups WHERE kind = 'revision')"""
        ).fetchall()[0]
        displaced = [r[0] for r in con.execute("SELECT article_id FROM displaced ORDER BY 1").fetchall()]
    finally:
        con.close()
    write_published(finals, publish, run_id, tmp)
    files = stamp([pq.read_table(d / "files.parquet") for d in staged], FILES, run_id)
    quarantined = stamp(quarantine, QUARANTINE, run_id)
    pq.write_table(files, part_path(tmp, "files", 0))
    pq.write_table(quarantined, part_path(tmp, "quarantine", 0))
    pq.write_table(closing if closing is not None else counts_table({}), part_path(tmp, "furniture", 0))
    for f in finals:
        f.unlink()
    reasons = Counter(quarantined.column("reason").to_pylist())
    summary = {
        "run_id": run_id,
        "seq": int(target.name),
        "displaced": displaced,
        "staged": [str(d) for d in staged],
        "files_new": files.num_rows,
        "records": sum(files.column("records").to_pylist()),
        "articles_new": counts[0],
        "articles_revised": counts[1],
        "duplicates": counts[2] + counts[3],
        "duplicates_by_kind": {k: n for k, n in (("exact", counts[2]), ("revision", counts[3])) if n},
        "quarantined": quarantined.num_rows,
        "quarantined_by_reason": dict(sorted(reasons.items())),
    }
    (tmp / "plan.json").write_text(json.dumps(summary, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return summary


def part_path(plan: Path, table: str, part: int) -> Path:
    """Plan files are parts of a table, each committed on its own, so no commit holds more than a batch."""
    (plan / table).mkdir(exist_ok=True)
    return plan / table / f"part-{part:05d}.parquet"


def write_published(finals: list[Path], publish: pa.Table, run_id: str, plan: Path) -> None:
    """Write the plan's articles and captions, one part per finished chunk (bounded memory)."""
    part = 0
    for path in finals:
        final = pq.read_table(path)
        chosen = final.filter(pc.is_in(final.column("pos"), value_set=publish.column("pos")))
        if not chosen.num_rows:
            continue
        where = pc.index_in(chosen.column("pos"), value_set=publish.column("pos"))
        chosen = chosen.append_column("article_id", pc.take(publish.column("article_id"), where))
        run = pa.array([run_id] * chosen.num_rows, pa.string())
        articles = chosen.append_column("run_id", run).select(ARTICLES.names).cast(ARTICLES)
        pq.write_table(articles, part_path(plan, "articles", part), compression="zstd")
        lists = chosen.column("captions").combine_chunks()
        numbers = [n for c in lists.to_pylist() for n in range(len(c))]
        captions = pa.table(
            {
                "article_id": pc.take(chosen.column("article_id"), pc.list_parent_indices(lists)),
                "caption_no": pa.array(numbers, pa.int32()),
                "caption": pc.list_flatten(lists),
                "run_id": pa.array([run_id] * len(numbers), pa.string()),
            },
        )
        pq.write_table(captions.cast(CAPTIONS), part_path(plan, "captions", part), compression="zstd")
        part += 1


def copy(con: duckdb.DuckDBPyConnection, select: str, path: Path, schema: pa.Schema) -> None:
    """Stream a query's rows into a Parquet work file, in the declared schema."""
    casts = ", ".join(f"CAST({f.name} AS {duckdb_type(f.type)}) AS {f.name}" for f in schema)
    con.execute(f"COPY (SELECT {casts} FROM ({select})) TO {sql_literal(str(path))} (FORMAT parquet, COMPRESSION zstd)")


def stamp(parts: list[pa.Table], schema: pa.Schema, run_id: str) -> pa.Table:
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


@task(name="plan-publish", retries=2, retry_delay_seconds=[2, 10])
def plan_publish(staged_dirs: list[str], settings: Settings, run_id: str) -> str:
    """Decide the fate of every staged record and write the run's plan; returns the plan's folder."""
    target = settings.plans_dir / f"{next_seq(settings):08d}"
    summary = build_plan(staged_dirs, settings, run_id, target)
    get_run_logger().info(
        "planned %d records: %d new articles, %d revised, %d duplicates %s, %d quarantined %s",
        summary["records"],
        summary["articles_new"],
        summary["articles_revised"],
        summary["duplicates"],
        summary["duplicates_by_kind"],
        summary["quarantined"],
        summary["quarantined_by_reason"],
    )
    return str(target)
