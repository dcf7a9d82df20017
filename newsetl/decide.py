"""The decisions of a plan, in SQL over the key columns of a round and of the history they match: which record stands
for each text (exact copies), which version of each coded story wins (revisions), and, once the near pairs are
found (newsetl/near_pairs.py), every record's fate and the article it points to."""

from pathlib import Path

import duckdb
import pyarrow as pa

from newsetl.settings import Settings
from newsetl.tables import (
    parquet_sql,
    sql_literal,
    table_sql,
)

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
-- A story is as old as its first version, an earlier run's duplicate too: an update is not a copy of a copy of
-- its own first version.
CREATE TEMP TABLE ranked AS
    SELECT t.*, t.node NOT IN (SELECT node FROM beaten) AS wins, s.since
    FROM texts t
    JOIN (SELECT node, min(published_at) OVER (PARTITION BY source, coalesce(story_code, node)) AS since
          FROM texts WHERE first) s USING (node)
    WHERE t.first AND NOT t.held;
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


def load_keys(
    con: duckdb.DuckDBPyConnection,
    run_sql: str,
    settings: Settings,
    redecided: set[str],
    recleaned: set[str],
    matched: tuple[str, list[Path], Path],
) -> None:
    """Load the run's keys (`run`, `run_bands`) and the history they match (`hist`, `copies`, `cand_hist`).
    The earlier duplicates of the `redecided` texts and the `recleaned` articles are in the run itself, staged
    again (newsetl/plan.py, `restage` and `reclean`).

    `matched` is (the records of the run not matched to the history's band keys yet, the work files holding the
    matches of the others, the work file to write these records' matches to): a plan's later round matches only
    the records it added. Only key columns and band keys are read: no body of the history is read or hashed
    again."""
    con.register("redecided_hashes", pa.table({"content_hash": pa.array(sorted(redecided), pa.string())}))
    con.register("recleaned_ids", pa.table({"article_id": pa.array(sorted(recleaned), pa.string())}))
    keys = "pos, source, story_code, content_hash, published_at, source_file, record_no, title"
    con.execute(f"CREATE TEMP TABLE run AS SELECT {keys} FROM {run_sql}")
    con.execute(f"CREATE TEMP TABLE run_bands AS SELECT 'r' || pos AS node, unnest(bands) AS band_key FROM {run_sql}")
    unmatched, earlier, target = matched
    con.execute(
        f"""CREATE TEMP TABLE cand_hist AS SELECT DISTINCT b.node, i.article_id
            FROM (SELECT 'r' || pos AS node, unnest(bands) AS band_key FROM {unmatched}) b
            JOIN {table_sql(settings, "near_index")} i USING (band_key)"""
    )
    con.execute(f"COPY cand_hist TO {sql_literal(str(target))} (FORMAT parquet)")
    if earlier:
        con.execute(f"INSERT INTO cand_hist SELECT * FROM {parquet_sql(earlier)}")
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
            WHERE (a.content_hash IN (SELECT content_hash FROM run)
                   OR a.article_id IN (SELECT article_id FROM cand_hist)
                   OR a.article_id IN (SELECT duplicate_of FROM copies)
                   OR EXISTS (SELECT 1 FROM run r WHERE r.source = a.source AND r.story_code = a.story_code))
              AND a.article_id NOT IN (SELECT article_id FROM recleaned_ids)"""
    )


# The earlier near copies whose decision this run's outcome reopens: those of a story the run brings a version
# of (a revision beats a near copy), and those held against an article the run displaces.
REOPENED_SQL = """
SELECT source_file, record_no, content_hash FROM {dups} WHERE content_hash IN (
    SELECT content_hash FROM {dups} d WHERE kind = 'near' AND (
        duplicate_of IN (SELECT article_id FROM displaced)
        OR EXISTS (SELECT 1 FROM run r WHERE r.source = d.source AND r.story_code = d.story_code)))
    AND content_hash NOT IN (SELECT content_hash FROM redecided_hashes)"""
