"""Dedupe: finish each staged record, decide whether it is a new article, a revision or a copy, write a plan.

The plan is every row the run will commit, written to disk before any table changes. Committing it is then a
replay-safe step (see tasks/load.py): a run killed half-way is finished by the next one from the same plan.

The decisions are SQL over the key columns of the run and of the matching history (DuckDB spills to disk), so
memory stays flat however many records a run holds, and bodies never leave their Parquet files.
"""

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import get_run_logger, task

from newsetl.reasons import Reason
from newsetl.schemas import ARTICLES, DUPLICATES, FILES, QUARANTINE, STAGED_QUARANTINE
from newsetl.settings import Settings
from tasks.furniture import MAX_FURNITURE_CHARS, MAX_FURNITURE_WORDS, counts_table, learned_lines, strip_closing
from tasks.tables import committed_seq, duckdb_type, open_table, parquet_sql, query, scan_sql, table_sql

# A finished record: an article row without its id and run, plus its run-order position and captions.
FINAL = pa.schema(
    [
        ("pos", pa.int64()),
        *(f for f in ARTICLES if f.name not in ("article_id", "run_id")),
        ("captions", pa.list_(pa.string())),
    ]
)

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


def content_hash(title: str, body: str) -> str:
    """Identity of a text: equal cleaned title and body give equal hashes, whatever the source."""
    return hashlib.blake2b(f"{title}\n\n{body}".encode(), digest_size=16).hexdigest()


def to_utc(local: datetime | None, zone: ZoneInfo) -> datetime | None:
    if local is None:
        return None
    return local.replace(tzinfo=zone).astimezone(UTC)


def finish_batch(
    staged: pa.Table, first_pos: int, learned: dict[str, frozenset[str]], settings: Settings
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Turn staged records into article rows (body, hash, UTC time, counts); empty ones are rejected."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    zones: dict[str, ZoneInfo] = {}
    cols = staged.to_pydict()
    for i in range(staged.num_rows):
        source = cols["source"][i]
        paragraphs = strip_closing(cols["paragraphs"][i] or [], learned.get(source, frozenset()))
        if not paragraphs:
            rejected.append(
                {
                    "source_file": cols["source_file"][i],
                    "record_no": cols["record_no"][i],
                    "reason": Reason.NO_BODY.value,
                    "detail": "the record holds only page furniture (trailer lines), no story text",
                }
            )
            continue
        if source not in zones:
            zones[source] = ZoneInfo(settings.source_timezones.get(source, "UTC"))
        published = to_utc(cols["published_local"][i], zones[source])
        title = cols["title"][i]
        body = "\n\n".join(paragraphs)
        rows.append(
            {
                "pos": first_pos + i,
                "source": source,
                "story_code": cols["story_code"][i],
                "title": title,
                "published_at": published,
                "body": body,
                "word_count": len(body.split()),
                "char_count": len(body),
                "paragraph_count": len(paragraphs),
                "caption_count": len(cols["captions"][i] or []),
                "content_hash": content_hash(title, body),
                "source_file": cols["source_file"][i],
                "record_no": cols["record_no"][i],
                "file_sha256": cols["file_sha256"][i],
                "year": published.year if published else None,
                "month": published.month if published else None,
                "captions": cols["captions"][i] or [],
            }
        )
    return pa.Table.from_pylist(rows, schema=FINAL), rejected


def learn_furniture(staged: list[Path], settings: Settings) -> tuple[dict[str, frozenset[str]], pa.Table]:
    """Closing lines of this run counted per source, added to the history's counts; returns what is learned
    and this run's counts (to be committed)."""
    records = parquet_sql([d / "records.parquet" for d in staged])
    run_counts = query(
        settings,
        f"""SELECT source, lower(paragraphs[-1]) AS line, count(*)::BIGINT AS articles FROM {records}
            WHERE length(paragraphs[-1]) <= {MAX_FURNITURE_CHARS}
              AND len(string_split(trim(paragraphs[-1]), ' ')) <= {MAX_FURNITURE_WORDS}
            GROUP BY ALL""",
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

    # 1. Finish every record, batch by batch; bodies go to disk, never all into memory.
    quarantine = [pq.read_table(d / "quarantine.parquet") for d in staged]
    finals: list[Path] = []
    pos = 0
    for i, d in enumerate(staged):
        records = pq.read_table(d / "records.parquet")
        final, rejected = finish_batch(records, pos, learned, settings)
        pos += records.num_rows
        if rejected:
            quarantine.append(pa.Table.from_pylist(rejected, schema=STAGED_QUARANTINE))
        finals.append(tmp / f"final-{i:05d}.parquet")
        pq.write_table(final, finals[-1], compression="zstd")

    # 2. Decide against the history, and 3. write every row the run commits.
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        final_sql = parquet_sql(finals) if finals else scan_sql([], FINAL)
        load_keys(con, final_sql, settings)
        con.execute(DECIDE_SQL)
        run = sql_literal(run_id)
        articles = ", ".join(f"f.{c}" if c not in ("article_id", "run_id") else c for c in ARTICLES.names)
        copy(
            con,
            f"""SELECT {articles.replace("run_id", f"{run} AS run_id")}
                FROM {final_sql} f JOIN publish p USING (pos) ORDER BY f.pos""",
            tmp / "articles.parquet",
        )
        copy(
            con,
            f"""SELECT p.article_id, (generate_subscripts(f.captions, 1) - 1)::INTEGER AS caption_no,
                       unnest(f.captions) AS caption, {run} AS run_id
                FROM {final_sql} f JOIN publish p USING (pos)""",
            tmp / "captions.parquet",
        )
        copy(con, f"SELECT *, {run} AS run_id FROM dups", tmp / "duplicates.parquet", DUPLICATES)
        counts = con.execute(
            """SELECT (SELECT count(*) FILTER (is_new) FROM publish),
                      (SELECT count(*) FILTER (NOT is_new) FROM publish),
                      (SELECT count(*) FROM dups WHERE kind = 'exact'),
                      (SELECT count(*) FROM dups WHERE kind = 'revision')"""
        ).fetchall()[0]
        displaced = [r[0] for r in con.execute("SELECT article_id FROM displaced ORDER BY 1").fetchall()]
    finally:
        con.close()
    files = stamp([pq.read_table(d / "files.parquet") for d in staged], FILES, run_id)
    quarantined = stamp(quarantine, QUARANTINE, run_id)
    pq.write_table(files, tmp / "files.parquet")
    pq.write_table(quarantined, tmp / "quarantine.parquet")
    pq.write_table(closing if closing is not None else counts_table({}), tmp / "furniture.parquet")
    for f in finals:
        f.unlink()
    reasons: dict[str, int] = {}
    for reason in quarantined.column("reason").to_pylist():
        reasons[reason] = reasons.get(reason, 0) + 1
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


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def copy(con: duckdb.DuckDBPyConnection, select: str, path: Path, schema: pa.Schema | None = None) -> None:
    """Stream a query's rows into a Parquet work file (with the declared schema when given)."""
    if schema is None:
        con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
        return
    casts = ", ".join(f"CAST({f.name} AS {duckdb_type(f.type)}) AS {f.name}" for f in schema)
    con.execute(f"COPY (SELECT {casts} FROM ({select})) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")


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
