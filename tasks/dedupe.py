"""Dedupe: decide whether each staged record is a new article, a revision or a copy, and write the run's plan.

The plan is every row the run will commit, written to disk before any table changes. Committing it is then a
replay-safe step (see newsetl/commit.py): a run killed half-way is finished by the next one from the same plan.

The decisions are SQL over the key columns of the run and of the matching history (DuckDB spills to disk), so
memory stays flat however many records a run holds, and bodies never leave their Parquet files.
"""

import json
import multiprocessing
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import get_run_logger, task

from newsetl.article import article_text, strip_learned
from newsetl.discovery import sha256_of, source_of
from newsetl.enrich import LANGUAGE_SURE
from newsetl.errors import Permanent, worth_retrying
from newsetl.furniture import HEAD, TAIL, Learned, counts_table, learned_templates
from newsetl.near import (
    ESTIMATE_MARGIN,
    PERMUTATIONS,
    estimated_similarity,
    near_in_block,
    shingles,
    signature,
)
from newsetl.reasons import Reason
from newsetl.records import DumpFile
from newsetl.runtime import FORKSERVER, release_memory, start_worker_server
from newsetl.schemas import (
    ARTICLES,
    CAPTIONS,
    DUPLICATES,
    ENTITIES,
    FILES,
    FURNITURE,
    KEYWORDS,
    NEAR_INDEX,
    NEAR_SIGNATURES,
    PARTITIONS,
    QUARANTINE,
    STAGED_FILES,
    STAGED_QUARANTINE,
    STAGED_RECORDS,
    WORD_CASE,
)
from newsetl.settings import Settings
from newsetl.stage import CASE_FILE, stage_batch, word_case_of
from newsetl.tables import (
    chunk_groups,
    committed_seq,
    connect,
    duckdb_type,
    open_table,
    parquet_sql,
    partition_files,
    query,
    read_chunks,
    scan_sql,
    sql_literal,
    table_sql,
)

# Records finished and committed together: the unit of memory of the plan and of each Delta commit.
CHUNK_ROWS = 8192
# Chunks read and written at once: Arrow reads, filters, compresses and writes them without holding the GIL.
PUBLISH_THREADS = 2

# A staged record numbered in run order.
FINAL = pa.schema([("pos", pa.int64()), *STAGED_RECORDS])

# The stable id of an article, in SQL so the decision can compute it: a story with a code keeps one id through
# its revisions; one without is named by its source and text.
ARTICLE_ID_SQL = """left(sha256(CASE WHEN story_code IS NOT NULL
    THEN 'code' || chr(0) || source || chr(0) || story_code
    ELSE 'text' || chr(0) || source || chr(0) || content_hash END), 16)"""

# Columns a duplicate row carries about itself.
DUP_COLUMNS = "source_file, record_no, source, story_code, title, published_at, content_hash"

# Which copy is the article: the earliest published (a dated copy before an undated one), ties going to the
# first in file order (the order a directory is ingested in, whatever run brings which file), then to what
# was published before. Among versions of a coded story the newest date line wins, undated counting as oldest,
# ties going to the last in file order.
EARLIEST = "published_at ASC NULLS LAST, source_file, record_no, in_history DESC, pos"
NEWEST = "published_at DESC NULLS LAST, source_file DESC, record_no DESC, in_history, pos DESC"

# A band key shared by more of a run's texts than this is a template, not a story: its pairs are not compared.
HOT_BAND = 500

# The decisions, over `run` (this run's finished records, `pos` = ingestion order), `hist` (published articles
# sharing a hash, a story code or an LSH band with the run) and `copies` (records earlier runs called duplicates
# that share a hash or a story code with the run). Every record and every matched article is a node; all follow
# the same three rules, in order, so the outcome does not depend on which run brought which copy:
# 1. exact: among the nodes of one text, the earliest stands for the text; the others are exact copies of it.
#    When that is an earlier run's duplicate, the text's fate was decided then: the others follow it;
# 2. revision: among the texts of one coded story (a text carries the story of each of its copies, the one that
#    stands for it or not), the newest version wins; the others are its revisions;
# 3. near (`pairs` here, verified and decided in Python, see `decide_near`): a text that is a light edit of an
#    earlier surviving text is a near copy of it.
# A published article that loses a rule to a newcomer leaves `articles` ("displaced") and becomes a duplicate;
# earlier duplicates of a text a newcomer now stands for become exact copies of the newcomer's fate.
DECIDE_SQL = f"""
CREATE TEMP TABLE nodes AS
    SELECT *, row_number() OVER (ORDER BY {EARLIEST}, node) AS ord FROM (
        SELECT 'r' || pos AS node, pos, false AS in_history, false AS held, {ARTICLE_ID_SQL} AS article_id,
               {DUP_COLUMNS}, NULL::INTEGER AS year, NULL::INTEGER AS month, NULL::VARCHAR AS points_to FROM run
        UNION ALL
        SELECT 'h' || article_id, NULL, true, false, article_id, {DUP_COLUMNS}, year, month, NULL FROM hist
        UNION ALL
        SELECT 'd' || source_file || chr(0) || record_no, NULL, true, true, NULL, {DUP_COLUMNS}, NULL, NULL,
               duplicate_of FROM copies);
CREATE TEMP TABLE texts AS
    SELECT *, first_value(node) OVER w AS rep, row_number() OVER w = 1 AS first
    FROM nodes WINDOW w AS (PARTITION BY content_hash ORDER BY ord);
-- A text is a version of every coded story one of its copies carries, whichever copy stands for it; in a story,
-- the earliest of those copies dates the text.
CREATE TEMP TABLE story_winners AS
    SELECT source, story_code, first(rep ORDER BY {NEWEST}) AS winner FROM (
        SELECT DISTINCT ON (source, story_code, content_hash) * FROM texts
        WHERE story_code IS NOT NULL ORDER BY source, story_code, content_hash, ord)
    GROUP BY ALL;
CREATE TEMP TABLE beaten AS
    SELECT t.rep AS node, min(w.winner) AS winner
    FROM texts t JOIN story_winners w USING (source, story_code) WHERE w.winner <> t.rep GROUP BY ALL;
CREATE TEMP TABLE ranked AS
    SELECT *, node NOT IN (SELECT node FROM beaten) AS wins,
           -- a story is as old as its first version: an update is not a copy of a copy of its own first version
           min(published_at) OVER (PARTITION BY source, coalesce(story_code, node)) AS since
    FROM texts WHERE first AND NOT held;
CREATE TEMP TABLE survivor_bands AS
    SELECT b.node, b.band_key FROM run_bands b SEMI JOIN ranked r ON r.node = b.node AND r.wins;
"""

# Candidate pairs: texts of this run sharing a band key, plus run texts and the published articles they matched.
# The band-key self-join is cut into parts of about PAIR_PART_ROWS keys by hash: at a million articles it holds
# 20 million keys, whose join in one piece outgrows DuckDB's memory cap.
PAIR_PART_ROWS = 2_000_000
BAND_PAIRS_SQL = """
INSERT INTO band_pairs
    SELECT DISTINCT x.node, y.node
    FROM (SELECT * FROM survivor_bands WHERE hash(band_key) % {parts} = {part}) x
    JOIN (SELECT * FROM survivor_bands WHERE hash(band_key) % {parts} = {part}) y
      ON x.band_key = y.band_key AND x.node < y.node
    WHERE x.band_key NOT IN (SELECT band_key FROM hot)"""
PAIRS_SQL = """
CREATE TEMP TABLE pairs AS
    SELECT DISTINCT a, b FROM band_pairs
    UNION
    SELECT c.node, c.other FROM (
        SELECT node, 'h' || article_id AS other FROM cand_hist
        -- a newcomer that stands for a text an earlier run called a copy meets what that copy pointed to
        UNION ALL SELECT t.node, 'h' || c.duplicate_of FROM texts t JOIN copies c USING (content_hash)
                  WHERE t.first AND NOT t.held) c
    SEMI JOIN ranked r ON r.node = c.node AND r.wins
    SEMI JOIN ranked h ON h.node = c.other AND h.wins"""


def find_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """Create `pairs` (see PAIRS_SQL) from the decisions' `survivor_bands`, `cand_hist`, `repeats`, `ranked`."""
    ((keys,),) = con.execute("SELECT count(*) FROM survivor_bands").fetchall()
    parts = max(1, -(-keys // PAIR_PART_ROWS))
    con.execute(
        f"CREATE TEMP TABLE hot AS SELECT band_key FROM survivor_bands GROUP BY ALL HAVING count(*) > {HOT_BAND}"
    )
    con.execute("CREATE TEMP TABLE band_pairs (a VARCHAR, b VARCHAR)")
    for part in range(parts):
        con.execute(BAND_PAIRS_SQL.format(parts=parts, part=part))
    con.execute(PAIRS_SQL)
    # What made the pairs is needed no more: its memory goes to the rest of the plan.
    for table in ("band_pairs", "hot", "survivor_bands", "run_bands", "cand_hist"):
        con.execute(f"DROP TABLE {table}")


# After `near` (node, target, similarity) is registered: every node's fate and the article it now points to.
# A text standing for an earlier run's duplicate points where that duplicate points (through an article this
# run displaces, to what replaced it); only the duplicates of texts a newcomer now stands for are written again.
OUTCOME_SQL = """
CREATE TEMP TABLE stands AS
    SELECT r.node, coalesce(t.article_id, r.article_id) AS target
    FROM ranked r LEFT JOIN near n ON n.node = r.node LEFT JOIN ranked t ON t.node = n.target
    UNION ALL
    SELECT node, points_to FROM texts WHERE first AND held;
-- An older version points where its story's newest text does.
CREATE TEMP TABLE resolved AS
    SELECT s.node, coalesce(w.target, s.target) AS target
    FROM stands s LEFT JOIN beaten b ON b.node = s.node LEFT JOIN stands w ON w.node = b.winner;
CREATE TEMP TABLE outcome AS
    SELECT x.*,
           CASE WHEN NOT x.first THEN 'exact' WHEN NOT k.wins THEN 'revision' WHEN n.node IS NOT NULL THEN 'near'
           END AS kind,
           CASE WHEN NOT x.first THEN 1.0 WHEN k.wins THEN n.similarity END AS similarity,
           v.target AS duplicate_of
    FROM texts x
    LEFT JOIN ranked k ON k.node = x.node
    LEFT JOIN near n ON n.node = x.node
    JOIN resolved v ON v.node = CASE WHEN x.first THEN x.node ELSE x.rep END
    WHERE NOT (x.first AND x.held);
CREATE TEMP TABLE publish AS
    SELECT pos, article_id, article_id NOT IN (SELECT article_id FROM hist) AS is_new
    FROM outcome WHERE kind IS NULL AND NOT in_history;
CREATE TEMP TABLE displaced AS
    SELECT article_id, duplicate_of FROM outcome WHERE kind IS NOT NULL AND in_history AND NOT held;
CREATE TEMP TABLE rehashed AS
    SELECT DISTINCT content_hash FROM outcome WHERE held AND starts_with(rep, 'r');
CREATE TEMP TABLE dups AS
    SELECT {DUP_COLUMNS}, coalesce(m.duplicate_of, o.duplicate_of) AS duplicate_of, kind, similarity
    FROM outcome o LEFT JOIN (SELECT * FROM displaced WHERE article_id <> duplicate_of) m
         ON m.article_id = o.duplicate_of AND o.rep IN (SELECT node FROM texts WHERE first AND held)
    WHERE kind IS NOT NULL AND (NOT held OR starts_with(rep, 'r'));
""".replace("{DUP_COLUMNS}", ", ".join("o." + c for c in DUP_COLUMNS.split(", ")))


def with_prevailing_language(t: pa.Table, prevailing: dict[str, str]) -> pa.Table:
    """The records whose language the classifier was unsure of (or found no word to judge) take their source's
    prevailing language, when the source has one; the confidence column keeps the classifier's own."""
    if not prevailing or not t.num_rows:
        return t
    unsure = pc.fill_null(pc.less(t.column("language_confidence"), LANGUAGE_SURE), True)
    fallback = pc.take(pa.array(list(prevailing.values()), pa.string()),
                       pc.index_in(t.column("source"), value_set=pa.array(list(prevailing), pa.string())))  # fmt: skip
    chosen = pc.if_else(pc.and_(unsure, pc.is_valid(fallback)), fallback, t.column("language"))
    return t.set_column(t.schema.get_field_index("language"), "language", chosen)


def prevailing_languages(staged: list[Path], settings: Settings) -> dict[str, str]:
    """Each source's commonest language among the articles the classifier was sure of, published or staged."""
    records = parquet_sql([d / "records.parquet" for d in staged])
    sure = f"language IS NOT NULL AND coalesce(language_confidence, 1) >= {LANGUAGE_SURE}"
    found = query(
        settings,
        f"""SELECT source, first(language ORDER BY n DESC, language) AS language FROM (
                SELECT source, language, count(*) AS n FROM (
                    SELECT source, language, language_confidence FROM {{articles}}
                    UNION ALL SELECT source, language, language_confidence FROM {records})
                WHERE {sure} GROUP BY ALL)
            GROUP BY source""",
    )
    return dict(zip(found.column("source").to_pylist(), found.column("language").to_pylist(), strict=True))


def finish_batch(
    staged: pa.Table, first_pos: int, learned: Learned, prevailing: dict[str, str] | None = None
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Number a staged batch in run order, give unsure languages their source's, and cut learned furniture from
    the bodies that begin or end with it."""
    t = staged.append_column("pos", pa.array(range(first_pos, first_pos + staged.num_rows), pa.int64()))
    t = with_prevailing_language(t, prevailing or {})
    if not learned or not t.num_rows:
        return t.select(FINAL.names), []
    hits = []
    for side in (HEAD, TAIL):
        pairs = pa.array([f"{source}\0{line}" for (source, s), lines in learned.items() if s == side for line in lines],
                         pa.string())  # fmt: skip
        edge = t.column(side).combine_chunks()
        if side == TAIL:  # a body of one paragraph has no tail: its paragraph ends it too
            head = t.column(HEAD).combine_chunks()
            edge = pc.if_else(pc.equal(pc.list_value_length(edge), 0), head, edge)
        outer = pc.list_slice(edge, 0, 1)  # the outermost paragraph's template
        rows = pc.list_parent_indices(outer)
        keys = pc.binary_join_element_wise(
            pc.take(t.column("source").combine_chunks(), rows), pc.list_flatten(outer), "\0"
        )
        hits.append(pc.filter(rows, pc.is_in(keys, value_set=pairs)))
    hit = pc.is_in(pa.array(range(t.num_rows), pa.int64()), value_set=pa.concat_arrays(hits).cast(pa.int64()))
    if not pc.any(hit).as_py():
        return t.select(FINAL.names), []
    fixed, rejected = [], []
    nothing: frozenset[str] = frozenset()
    for row in t.filter(hit).to_pylist():
        source = row["source"]
        kept = strip_learned(row, learned.get((source, HEAD), nothing), learned.get((source, TAIL), nothing))
        if kept is None:
            rejected.append(
                {
                    "source_file": row["source_file"],
                    "record_no": row["record_no"],
                    "reason": Reason.NO_BODY.value,
                    "detail": "the record holds only page furniture (lines its source repeats), no story text",
                }
            )
        else:
            fixed.append(kept)
    rest = t.filter(pc.invert(hit))
    return pa.concat_tables([rest.select(FINAL.names), pa.Table.from_pylist(fixed, schema=FINAL)]), rejected


# A story, whichever copy or version of it a record is: its code, else its title. Furniture recurs across many
# stories; the paragraphs that revisions and copies of one story share do not count as recurring.
STORY_SQL = "coalesce('c' || story_code, 't' || lower(title))"


def learn_furniture(staged: list[Path], settings: Settings) -> tuple[Learned, pa.Table]:
    """The templates at the head and tail of this run's records, counted per source in distinct stories and added
    to the history's counts; returns what is learned and this run's counts (to be committed)."""
    records = parquet_sql([d / "records.parquet" for d in staged])
    run_counts = query(
        settings,
        f"""SELECT source, line, count(DISTINCT story)::BIGINT AS articles, side FROM (
                SELECT source, {STORY_SQL} AS story, '{HEAD}' AS side, unnest(list_distinct(head)) AS line
                FROM {records}
                UNION ALL
                SELECT source, {STORY_SQL}, '{TAIL}', unnest(list_distinct(tail)) FROM {records})
            GROUP BY ALL""",
    )
    totals = query(
        settings,
        f"""SELECT source, count(DISTINCT story)::BIGINT AS n FROM (
                SELECT source, {STORY_SQL} AS story FROM {{articles}}
                UNION ALL SELECT source, {STORY_SQL} FROM {records}) GROUP BY ALL""",
    )
    # Only what recurs is kept: a template seen in two stories of this run, or counted by an earlier run. (Every
    # head and tail paragraph of every article would make the table as large as `articles`.)
    run_counts = query(
        settings,
        f"""SELECT * FROM run_counts r WHERE articles >= 2 OR EXISTS (
                SELECT 1 FROM {{furniture}} h WHERE h.source = r.source AND h.line = r.line
                AND coalesce(h.side, '{TAIL}') = r.side)""",
        run_counts=run_counts,
    )
    counts = query(
        settings,
        f"""SELECT source, coalesce(side, '{TAIL}') AS side, line, sum(articles)::BIGINT AS articles FROM (
                SELECT source, side, line, articles FROM {{furniture}}
                UNION ALL SELECT source, side, line, articles FROM run_counts) GROUP BY ALL""",
        run_counts=run_counts,
    )
    learned = learned_templates(
        {(r["source"], r["side"], r["line"]): r["articles"] for r in counts.to_pylist()},
        {r["source"]: r["n"] for r in totals.to_pylist()},
        settings.furniture_min_articles,
        settings.furniture_min_share,
    )
    return learned, run_counts.select(FURNITURE.names).cast(FURNITURE)


def load_keys(con: duckdb.DuckDBPyConnection, run_sql: str, settings: Settings, redecided: set[str]) -> None:
    """Load the run's keys (`run`, `run_bands`) and the history they match (`hist`, `copies`, `cand_hist`).
    The earlier duplicates of the `redecided` texts are in the run itself, staged again (see `restage`).

    Only key columns and band keys are read: no body of the history is read or hashed again."""
    con.register("redecided_hashes", pa.table({"content_hash": pa.array(sorted(redecided), pa.string())}))
    keys = "pos, source, story_code, content_hash, published_at, source_file, record_no, title"
    con.execute(f"CREATE TEMP TABLE run AS SELECT {keys} FROM {run_sql}")
    con.execute(f"CREATE TEMP TABLE run_bands AS SELECT 'r' || pos AS node, unnest(bands) AS band_key FROM {run_sql}")
    con.execute(
        f"""CREATE TEMP TABLE cand_hist AS SELECT DISTINCT b.node, i.article_id
            FROM run_bands b JOIN {table_sql(settings, "near_index")} i USING (band_key)"""
    )
    con.execute(
        f"""CREATE TEMP TABLE copies AS SELECT {DUP_COLUMNS}, duplicate_of
            FROM {table_sql(settings, "duplicates")} d
            WHERE (content_hash IN (SELECT content_hash FROM run)
                   OR EXISTS (SELECT 1 FROM run r WHERE r.source = d.source AND r.story_code = d.story_code))
            AND content_hash NOT IN (SELECT content_hash FROM redecided_hashes)"""
    )
    articles = table_sql(settings, "articles")
    con.execute(
        f"""CREATE TEMP TABLE hist AS
            SELECT article_id, {DUP_COLUMNS}, year, month FROM {articles} a
            WHERE a.content_hash IN (SELECT content_hash FROM run)
               OR a.article_id IN (SELECT article_id FROM cand_hist)
               OR a.article_id IN (SELECT duplicate_of FROM copies)
               OR EXISTS (SELECT 1 FROM run r WHERE r.source = a.source AND r.story_code = a.story_code)"""
    )


def history_scan(con: duckdb.DuckDBPyConnection, ids: list[str], settings: Settings) -> str:
    """The published articles of these ids as a table expression over the partitions (year, month) that hold
    them only."""
    con.register("wanted_ids", pa.table({"article_id": pa.array(ids, pa.string())}))
    where = con.execute("SELECT DISTINCT year, month FROM hist SEMI JOIN wanted_ids USING (article_id)").fetchall()
    files = partition_files(open_table(settings, "articles"), {(y, m) for y, m in where})
    articles = scan_sql(files, ARTICLES, PARTITIONS["articles"])
    return f"(SELECT * FROM {articles} SEMI JOIN wanted_ids USING (article_id))"


def history_texts(con: duckdb.DuckDBPyConnection, ids: list[str], settings: Settings) -> Iterator[tuple[str, str]]:
    """(node, title and body) of these published articles, streamed a thousand at a time."""
    if not ids:
        return
    result = con.execute(f"SELECT article_id, title, body FROM {history_scan(con, ids, settings)}")
    while chunk := result.fetchmany(1000):
        yield from ((f"h{aid}", article_text(title, body)) for aid, title, body in chunk)


def as_matrix(column: pa.Array) -> npt.NDArray[np.uint32]:
    """A column of 400-byte signatures as a matrix of 100 uint32 a row."""
    fixed = column.cast(pa.binary(4 * PERMUTATIONS))
    # A fixed-size binary column is one buffer of its values, back to back.
    words = np.frombuffer(fixed.buffers()[1], dtype="<u4")
    return words[fixed.offset * PERMUTATIONS :][: len(fixed) * PERMUTATIONS].reshape(-1, PERMUTATIONS)


def run_signatures(finals: list[Path], positions: pa.Array) -> tuple[list[str], npt.NDArray[np.uint32]]:
    """The MinHash signatures of the run's records at these positions, as rows of one matrix (40 MB per
    100,000), and their nodes."""
    names: list[str] = []
    parts = [np.empty((0, PERMUTATIONS), np.uint32)]
    for path in finals:
        t = pq.read_table(path, columns=["pos", "minhash"])
        t = t.filter(pc.is_in(t.column("pos"), value_set=positions))
        if t.num_rows:
            parts.append(as_matrix(t.column("minhash").combine_chunks()))
            names += [f"r{p}" for p in t.column("pos").to_pylist()]
    return names, np.concatenate(parts)


def history_signatures(
    con: duckdb.DuckDBPyConnection, ids: list[str], settings: Settings, head: npt.NDArray[np.uint32]
) -> tuple[list[str], npt.NDArray[np.uint32]]:
    """One matrix of `head` (the run's signatures) followed by the stored signatures of these published
    articles, filled as they are read (never held twice). Returns the published nodes' names (in their rows'
    order) and the matrix. An article published before signatures were stored has none: its text is read and
    signed instead."""
    matrix = np.empty((len(head) + len(ids), PERMUTATIONS), np.uint32)
    matrix[: len(head)] = head
    filled = len(head)
    names: list[str] = []
    if ids:
        con.register("signed_ids", pa.table({"article_id": pa.array(ids, pa.string())}))
        table = table_sql(settings, "near_signatures")
        found = con.sql(f"SELECT article_id, minhash FROM {table} SEMI JOIN signed_ids USING (article_id)")
        for batch in found.to_arrow_reader(50_000):
            part = as_matrix(batch.column("minhash"))
            matrix[filled : filled + len(part)] = part
            filled += len(part)
            names += [f"h{a}" for a in batch.column("article_id").to_pylist()]
        missing = sorted(set(ids) - {n[1:] for n in names})
        for name, text in history_texts(con, missing, settings):
            matrix[filled] = signature(shingles(text))
            filled += 1
            names.append(name)
    return names, matrix[:filled]


# Published signatures compared at once: against a large archive a round's pairs can reach 500,000 published
# articles (200 MB of signatures), so the pairs are compared in parts of about this many of them.
SIGNATURE_PART_ROWS = 100_000

# A pair's published node (its second node when it has none): the pairs are cut into parts by it.
PUBLISHED_SIDE = "hash(CASE WHEN starts_with(a, 'h') THEN a ELSE b END)"


def likely_pairs(
    con: duckdb.DuckDBPyConnection, finals: list[Path], settings: Settings
) -> tuple[int, list[tuple[str, str]]]:
    """The number of candidate pairs, and those whose MinHash estimate is within ESTIMATE_MARGIN of the
    threshold (see near.py).

    The run's signatures are held whole; the published ones a part at a time, each part with its pairs, so
    memory does not grow with the archive. The pairs are read as row numbers into the part's matrix and
    compared 20,000 at a time (two signature matrices of 8 MB)."""
    ((total, published),) = con.execute(
        "SELECT count(*), count(DISTINCT CASE WHEN starts_with(a, 'h') THEN a WHEN starts_with(b, 'h') THEN b END) "
        "FROM pairs"
    ).fetchall()
    if not total:
        return 0, []
    positions = con.sql(
        "SELECT DISTINCT substr(node, 2)::BIGINT AS pos FROM (SELECT a AS node FROM pairs UNION ALL "
        "SELECT b FROM pairs) WHERE starts_with(node, 'r')"
    ).to_arrow_table()
    run_names, run_matrix = run_signatures(finals, positions.column("pos").combine_chunks())
    parts = max(1, -(-published // SIGNATURE_PART_ROWS))
    floor = settings.near_threshold - ESTIMATE_MARGIN
    kept: list[tuple[str, str]] = []
    for part in range(parts):
        where = f"{PUBLISHED_SIDE} % {parts} = {part}"
        ids = [
            n[1:]
            for (n,) in con.execute(
                f"SELECT DISTINCT node FROM (SELECT a AS node FROM pairs WHERE {where} UNION ALL "
                f"SELECT b FROM pairs WHERE {where}) WHERE starts_with(node, 'h')"
            ).fetchall()
        ]
        hist_names, matrix = history_signatures(con, ids, settings, head=run_matrix)
        names = run_names + hist_names
        con.register("signature_rows", pa.table({"node": names, "row": np.arange(len(names))}))
        del ids, hist_names, names
        # A node without a signature (none should be) has no row: its pairs are not candidates.
        found = con.sql(
            f"""SELECT p.a, p.b, x.row AS ra, y.row AS rb FROM pairs p
                JOIN signature_rows x ON x.node = p.a JOIN signature_rows y ON y.node = p.b WHERE {where}"""
        )
        for batch in found.to_arrow_reader(20_000):
            left = matrix[batch.column("ra").to_numpy()]
            right = matrix[batch.column("rb").to_numpy()]
            close = pa.array(estimated_similarity(left, right) >= floor)
            kept += zip(
                batch.column("a").filter(close).to_pylist(), batch.column("b").filter(close).to_pylist(), strict=True
            )
        con.unregister("signature_rows")
        del matrix
    return total, kept


# Texts fingerprinted and checked at once: whole groups of connected likely pairs, about this many texts a block.
VERIFY_BLOCK = 1000
# From this many blocks on, a helper process checks blocks too (starting one takes it 0.2 s or more).
VERIFY_HELPER_BLOCKS = 4
# The helper is forked from the server the extract workers came from, which has imported the near-duplicate code
# (see newsetl.runtime), so it is ready at once; it holds up to HELPER_QUEUE blocks, so it never waits for this
# process. At 100,000 records it checked 10,000 of 20,000 texts; a fresh interpreter holding one block, 5,000.
# (Not a fork of this process, whose DuckDB threads may hold locks; "spawn" where there is no fork server.)
HELPER_QUEUE = 2
HELPER_START = "forkserver" if FORKSERVER else "spawn"


def component_blocks(pairs: list[tuple[str, str]], size: int) -> dict[str, int]:
    """Each node of the pairs numbered by block: a connected group of pairs is never cut, and blocks are filled
    up to `size` nodes with whole groups (a group larger than that is a block of its own)."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        top = node
        while parent.get(top, top) != top:
            top = parent[top]
        while node != top:
            parent[node], node = top, parent[node]
        return top

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
    groups: dict[str, list[str]] = {}
    for node in sorted({n for pair in pairs for n in pair}):
        groups.setdefault(root(node), []).append(node)
    blocks: dict[str, int] = {}
    block = filled = 0
    for group in groups.values():
        if filled and filled + len(group) > size:
            block, filled = block + 1, 0
        blocks.update((n, block) for n in group)
        filled += len(group)
    return blocks


def verify_pairs(
    con: duckdb.DuckDBPyConnection, finals: list[Path], likely: list[tuple[str, str]], settings: Settings
) -> dict[str, dict[str, float]]:
    """The exact check of the likely pairs: node -> {similar node: similarity}.

    Texts are read once, in blocks of connected pairs (DuckDB sorts them by block, spilling to disk), and each
    block's texts are fingerprinted, checked and dropped before the next: memory does not grow with the number
    of pairs a run has. With many blocks, a helper process checks a block whenever it has room for one
    (HELPER_QUEUE): fingerprinting is Python, and would leave the machine's other core idle. The pairs found do
    not depend on who checked them."""
    blocks = component_blocks(likely, VERIFY_BLOCK)
    pairs_of: dict[int, list[tuple[str, str]]] = {}
    for a, b in likely:
        pairs_of.setdefault(blocks[a], []).append((a, b))
    nodes = list(blocks)
    con.register(
        "verify_nodes",
        pa.table({"node": pa.array(nodes, pa.string()), "block": pa.array(list(blocks.values()), pa.int64())}),
    )
    ids = [n[1:] for n in nodes if n[0] == "h"]
    history = f"SELECT 'h' || article_id AS node, title, body FROM {history_scan(con, ids, settings)}"
    run = f"SELECT 'r' || pos AS node, title, body FROM {parquet_sql(finals)}"
    result = con.execute(
        f"SELECT v.block, t.node, t.title, t.body FROM verify_nodes v JOIN ({history} UNION ALL {run}) t USING (node) "
        "ORDER BY v.block"
    )
    found: list[tuple[str, str, float]] = []
    with ExitStack() as stack:
        helper = None
        if len(pairs_of) >= VERIFY_HELPER_BLOCKS and (os.cpu_count() or 1) > 1:
            start_worker_server()  # (running since the extract, unless this process has extracted nothing)
            helper = stack.enter_context(ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(HELPER_START)))
        handed: list[Future[list[tuple[str, str, float]]]] = []

        def check(block: int, texts: dict[str, str]) -> None:
            if helper is not None:
                for future in [f for f in handed if f.done()]:
                    found.extend(future.result())
                    handed.remove(future)
                if len(handed) < HELPER_QUEUE:  # the helper has room: it takes this block
                    handed.append(helper.submit(near_in_block, texts, pairs_of.get(block, []), settings.near_threshold))
                    return
            found.extend(near_in_block(texts, pairs_of.get(block, []), settings.near_threshold))

        texts: dict[str, str] = {}
        current = -1
        while chunk := result.fetchmany(1000):
            for block, node, title, body in chunk:
                if block != current:
                    if texts:
                        check(current, texts)
                    texts, current = {}, block
                texts[node] = article_text(title, body)
        if texts:
            check(current, texts)
        for future in handed:
            found.extend(future.result())
    edges: dict[str, dict[str, float]] = {}
    for a, b, similarity in found:
        edges.setdefault(a, {})[b] = similarity
        edges.setdefault(b, {})[a] = similarity
    return edges


def decide_near(
    con: duckdb.DuckDBPyConnection, finals: list[Path], settings: Settings
) -> tuple[pa.Table, dict[str, int]]:
    """Verify the LSH candidate pairs and decide near copies: returns (node, target, similarity) and counts of
    the pairs at each step.

    A pair whose MinHash signatures are far from the threshold is dropped; every other candidate's Jaccard
    similarity is computed from the two texts. Nodes are visited earliest first (a story's newest version as
    early as its first version); one that is similar enough to an already kept text becomes a near copy of the
    most similar of them (the earliest on a tie), else it is kept. So the earliest published copy of a story is
    the article, whichever run brought it."""
    empty = pa.table({"node": pa.array([], pa.string()), "target": pa.array([], pa.string()),
                      "similarity": pa.array([], pa.float64())})  # fmt: skip
    candidates, likely = likely_pairs(con, finals, settings)
    if not candidates:
        return empty, {}
    edges = verify_pairs(con, finals, likely, settings)
    counts = {"candidates": candidates, "likely": len(likely), "near": sum(map(len, edges.values())) // 2}
    if not edges:
        return empty, counts
    # A registered table, not an IN list: DuckDB takes 100,000 literals at about 1 KB each.
    con.register("near_nodes", pa.table({"node": pa.array(list(edges), pa.string())}))
    order = con.execute(
        "SELECT node FROM ranked SEMI JOIN near_nodes USING (node) ORDER BY since NULLS LAST, ord"
    ).fetchall()
    rank = {n: i for i, (n,) in enumerate(order)}
    kept: set[str] = set()
    decided: list[tuple[str, str, float]] = []
    for (node,) in order:
        earlier = [(sim, -rank[other], other) for other, sim in edges[node].items() if other in kept]
        if earlier:
            sim, _, target = max(earlier)
            decided.append((node, target, round(sim, 4)))
        else:
            kept.add(node)
    found = pa.table(
        {
            "node": pa.array([d[0] for d in decided], pa.string()),
            "target": pa.array([d[1] for d in decided], pa.string()),
            "similarity": pa.array([d[2] for d in decided], pa.float64()),
        }
    )
    return found, counts


def finish_batches(
    staged: list[Path], learned: Learned, plan: Path, prevailing: dict[str, str] | None = None, first: int = 0
) -> dict[Path, list[dict[str, Any]]]:
    """finish_batch each chunk of the staged records into a work file of the plan: {file: records rejected}, in
    run order. In chunks, not whole files: one dump of gigabytes is one batch, and must not be one read. Two at
    once: Arrow reads, compresses and writes without holding the GIL (1.3 to 1.5 s instead of 2.0 to 2.9 s for
    100,000 records)."""
    chunks: list[tuple[Path, list[int], int, Path]] = []  # (records, row groups, first position, work file)
    pos = first
    for d in staged:
        for groups, rows in chunk_groups(pq.ParquetFile(d / "records.parquet"), CHUNK_ROWS):
            chunks.append((d / "records.parquet", groups, pos, plan / f"final-{pos:012d}.parquet"))
            pos += rows

    def finish(chunk: tuple[Path, list[int], int, Path]) -> list[dict[str, Any]]:
        records, groups, first_pos, path = chunk
        final, rejected = finish_batch(pq.ParquetFile(records).read_row_groups(groups), first_pos, learned, prevailing)
        pq.write_table(final, path, compression="zstd")
        release_memory()
        return rejected

    with ThreadPoolExecutor(PUBLISH_THREADS) as pool:
        return dict(zip([chunk[3] for chunk in chunks], pool.map(finish, chunks), strict=True))


def build_plan(staged_dirs: list[str], settings: Settings, run_id: str, target: Path) -> dict[str, Any]:
    """Write the run's plan into `target` (atomically) and return its summary."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    staged = [Path(d) for d in staged_dirs]
    learned, closing = learn_furniture(staged, settings) if staged else ({}, None)

    # 1. Number the records in run order and cut learned furniture, batch by batch (bodies stay on disk).
    quarantine = [pq.read_table(d / "quarantine.parquet") for d in staged]
    prevailing = prevailing_languages(staged, settings) if staged else {}
    finished = finish_batches(staged, learned, tmp, prevailing)
    quarantine += [
        pa.Table.from_pylist(rejected, schema=STAGED_QUARANTINE) for rejected in finished.values() if rejected
    ]
    finals = list(finished)

    # 2. Decide against the history. A near copy an earlier run held back is decided again, staged anew from its
    # dump, when this run gives its story a version or displaces the article it was held against: until the
    # decisions touch no such copy.
    redecided: set[str] = set()
    first = sum(pq.ParquetFile(d / "records.parquet").metadata.num_rows for d in staged)
    while True:
        con = connect(settings)
        final_sql = parquet_sql(finals) if finals else scan_sql([], FINAL)
        load_keys(con, final_sql, settings, redecided)
        con.execute(DECIDE_SQL)
        find_pairs(con)
        near, pair_counts = decide_near(con, finals, settings)
        con.register("near_found", near)
        con.execute("CREATE TEMP TABLE near AS SELECT * FROM near_found")
        con.execute(OUTCOME_SQL)
        again, texts = restage(con, settings, redecided, tmp / f"redecided-{len(redecided):08d}")
        if again is None:
            break
        con.close()
        redecided |= texts
        more = finish_batches([again], learned, tmp, prevailing, first)
        first += pq.ParquetFile(again / "records.parquet").metadata.num_rows
        quarantine += [pa.Table.from_pylist(r, schema=STAGED_QUARANTINE) for r in more.values() if r]
        finals += list(more)

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
                """SELECT 'new', count(*) FILTER (is_new) FROM publish
                   UNION ALL SELECT 'revised', count(*) FILTER (NOT is_new) FROM publish
                   UNION ALL SELECT kind, count(*) FROM dups GROUP BY kind"""
            ).fetchall()
        )
        displaced = [r[0] for r in con.execute("SELECT article_id FROM displaced ORDER BY 1").fetchall()]
        rehashed = [r[0] for r in con.execute("SELECT content_hash FROM rehashed ORDER BY 1").fetchall()]
    finally:
        con.close()
    write_published(finals, publish, run_id, tmp)
    files = with_run_columns([pq.read_table(d / "files.parquet") for d in staged], FILES, run_id)
    quarantined = with_run_columns(quarantine, QUARANTINE, run_id)
    pq.write_table(files, part_path(tmp, "files", 0))
    pq.write_table(quarantined, part_path(tmp, "quarantine", 0))
    pq.write_table(closing if closing is not None else counts_table({}), part_path(tmp, "furniture", 0))
    pq.write_table(with_run_columns([word_case_of(staged)], WORD_CASE, run_id), part_path(tmp, "word_case", 0))
    for f in finals:
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
        "staged": [str(d) for d in staged],
        "files_new": files.num_rows,
        "records": sum(files.column("records").to_pylist()),
        "articles_new": counts["new"],
        "articles_revised": counts["revised"],
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


# The earlier near copies whose decision this run's outcome reopens: those of a story the run brings a version
# of (a revision beats a near copy), and those held against an article the run displaces.
REOPENED_SQL = """
SELECT source_file, record_no, content_hash FROM {dups} WHERE content_hash IN (
    SELECT content_hash FROM {dups} d WHERE kind = 'near' AND (
        duplicate_of IN (SELECT article_id FROM displaced)
        OR EXISTS (SELECT 1 FROM run r WHERE r.source = d.source AND r.story_code = d.story_code)))
    AND content_hash NOT IN (SELECT content_hash FROM redecided_hashes)"""


def restage(
    con: duckdb.DuckDBPyConnection, settings: Settings, redecided: set[str], target: Path
) -> tuple[Path | None, set[str]]:
    """Stage again, into `target`, the earlier duplicates whose decision the outcome reopens (see REOPENED_SQL),
    with every copy of their texts: returns the folder (None when nothing is reopened) and the texts' hashes.

    A text is reopened only when every dump holding a copy of it is still in the raw root as it was ingested;
    otherwise its copies keep their decision."""
    reopened = con.execute(REOPENED_SQL.format(dups=table_sql(settings, "duplicates"))).fetchall()
    if not reopened:
        return None, set()
    wanted = {(f, n): h for f, n, h in reopened}
    names = sorted({f for f, _, _ in reopened})
    con.register("reopened_files", pa.table({"source_file": pa.array(names, pa.string())}))
    recorded = dict(
        con.execute(
            f"""SELECT source_file, last(sha256 ORDER BY ingested_at) FROM {table_sql(settings, "files")}
                SEMI JOIN reopened_files USING (source_file) GROUP BY source_file"""
        ).fetchall()
    )
    dumps, gone = [], set()
    for name in names:
        path = settings.raw_dir / name
        if path.is_file() and not path.is_symlink() and sha256_of(path) == recorded.get(name):
            dumps.append(DumpFile(str(path), name, source_of(name), recorded[name], path.stat().st_size))
        else:
            gone.add(name)
    shutil.rmtree(target, ignore_errors=True)
    stage_batch(dumps, settings, target / "staged")
    rows = pq.read_table(target / "staged" / "records.parquet")
    found = {(f, n) for f, n in zip(rows["source_file"].to_pylist(), rows["record_no"].to_pylist(), strict=True)}
    lost = {h for key, h in wanted.items() if key[0] in gone or key not in found}
    texts = set(wanted.values()) - lost
    if not texts:
        return None, set()
    keep = [wanted.get((f, n)) in texts for f, n in zip(rows["source_file"].to_pylist(),
                                                          rows["record_no"].to_pylist(), strict=True)]  # fmt: skip
    pq.write_table(rows.filter(pa.array(keep, pa.bool_())), target / "records.parquet", compression="zstd")
    shutil.rmtree(target / "staged")
    return target, texts


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


class PlanOutOfMemory(Permanent, RuntimeError):
    """The plan needed more than DuckDB's memory cap: it would fail the same way again."""


@task(name="write-plan", retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=worth_retrying)
def write_plan(staged_dirs: list[str], settings: Settings, run_id: str) -> str:
    """Decide the fate of every staged record and write the run's plan; returns the plan's folder."""
    target = settings.plans_dir / f"{next_seq(settings):08d}"
    try:
        summary = build_plan(staged_dirs, settings, run_id, target)
    except duckdb.OutOfMemoryException as error:
        raise PlanOutOfMemory(
            f"deduplicating {len(staged_dirs)} staged batch(es) needed more memory than DuckDB may use "
            f"(NEWSETL_DUCKDB_MEMORY_LIMIT={settings.duckdb_memory_limit}): set it higher, for example to 1GB, "
            f"and run again. What earlier rounds published stays published. DuckDB said: " + str(error).splitlines()[0]
        ) from error
    get_run_logger().info(
        "planned %d records: %d new articles, %d revised, %d duplicates %s, %d quarantined %s; near-duplicate pairs %s",
        summary["records"],
        summary["articles_new"],
        summary["articles_revised"],
        summary["duplicates"],
        summary["duplicates_by_kind"],
        summary["quarantined"],
        summary["quarantined_by_reason"],
        summary["near_pairs"] or "none",
    )
    return str(target)
