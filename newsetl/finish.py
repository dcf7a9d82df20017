"""Finishing a round's staged records before they are decided: furniture learned per source from the whole history
and cut from both ends of each body, unsure languages given their source's, and every record numbered in run
order, chunk by chunk into the plan's work files."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from newsetl.article import strip_learned
from newsetl.enrich import LANGUAGE_SURE
from newsetl.furniture import HEAD, TAIL, Learned, learned_templates
from newsetl.reasons import Reason
from newsetl.runtime import release_memory
from newsetl.schemas import (
    EDGES,
    FURNITURE,
    STAGED_RECORDS,
)
from newsetl.settings import Settings
from newsetl.tables import (
    chunk_groups,
    connect,
    parquet_sql,
    query,
    table_sql,
)

# Chunks read and written at once: Arrow reads, filters, compresses and writes them without holding the GIL.
PUBLISH_THREADS = 2

# Records finished and committed together: the unit of memory of the plan and of each Delta commit.
CHUNK_ROWS = 8192

# A staged record numbered in run order.
FINAL = pa.schema([("pos", pa.int64()), *STAGED_RECORDS])


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
    rows = t.filter(hit).to_pylist()
    for row, kept in zip(rows, strip_learned(rows, learned), strict=True):
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


def hashed(sql: str) -> str:
    """A text's 63-bit hash, the same in every DuckDB version (the first bits of its MD5): how the `edges` table
    stores templates and stories, eight bytes each whatever the length of the paragraph."""
    return f"(md5_number_lower({sql}) >> 1)::BIGINT"


KEYS = pa.schema([("source", pa.string()), ("side", pa.string()), ("template", pa.int64())])
COUNTS = pa.schema([*KEYS, ("articles", pa.int64())])


def keys_table(keys: list[tuple[str, str, int]]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(KEYS.names, key, strict=True)) for key in keys], schema=KEYS)


class Learning(NamedTuple):
    learned: Learned  # what this run's records are cut of
    concerned: list[tuple[str, int]]  # (source_file, record_no) of the earlier records a change concerns
    furniture: pa.Table  # the learned furniture of the run's sources, as the `furniture` table holds it
    edges: pa.Table  # the run's rows of the `edges` table, but the run id


def learn_furniture(staged: list[Path], settings: Settings) -> Learning:
    """The furniture of the run's sources, learned from the templates at the head and tail of every record of
    the history and of this run, counted in distinct stories; and the earlier records that were cut by what is
    furniture no more, or not cut of what is furniture now (they are cleaned again in this run)."""
    if not staged:
        return Learning({}, [], FURNITURE.empty_table(), EDGES.empty_table().drop_columns(["run_id"]))
    records = parquet_sql([d / "records.parquet" for d in staged])
    con = connect(settings)
    try:
        con.execute(
            f"""CREATE TEMP TABLE run_edges AS
                SELECT source, side, {hashed("line")} AS template, story, source_file, record_no FROM (
                    SELECT source, {hashed(STORY_SQL)} AS story, source_file, record_no, '{HEAD}' AS side,
                           unnest(head) AS line FROM {records}
                    UNION ALL
                    SELECT source, {hashed(STORY_SQL)}, source_file, record_no, '{TAIL}', unnest(tail)
                    FROM {records})"""
        )
        edges, furniture = table_sql(settings, "edges"), table_sql(settings, "furniture")
        # Only templates this run sees, or learned before, can change their state; the history is read for those.
        con.execute(
            f"""CREATE TEMP TABLE known AS
                SELECT source, coalesce(side, '{TAIL}') AS side, {hashed("line")} AS template, line FROM {furniture}
                WHERE source IN (SELECT source FROM run_edges)"""
        )
        con.execute(
            """CREATE TEMP TABLE candidates AS
                SELECT DISTINCT source, side, template FROM run_edges UNION SELECT source, side, template FROM known"""
        )
        counts = con.sql(
            f"""SELECT source, side, template, count(DISTINCT story) AS articles FROM (
                    SELECT source, side, template, story FROM {edges}
                    SEMI JOIN candidates USING (source, side, template)
                    UNION ALL SELECT source, side, template, story FROM run_edges)
                GROUP BY ALL HAVING articles >= {settings.furniture_min_articles}"""
        ).fetchall()
        # Every record has a head paragraph: the distinct stories among heads are all the source's stories.
        totals = con.sql(
            f"""SELECT source, count(DISTINCT story) FROM (
                    SELECT source, story FROM {edges} WHERE side = '{HEAD}' AND source IN (SELECT source FROM run_edges)
                    UNION ALL SELECT source, story FROM run_edges WHERE side = '{HEAD}')
                GROUP BY ALL"""
        ).fetchall()
        found = learned_templates(
            {(source, side, str(template)): n for source, side, template, n in counts},
            dict(totals),
            settings.furniture_min_articles,
            settings.furniture_min_share,
        )
        after = {(source, side, int(t)) for (source, side), templates in found.items() for t in templates}
        # What the source's earlier records are cut of (a change of the settings changes it too).
        before = set(con.sql("SELECT source, side, template FROM known").fetchall())
        con.register("learned", keys_table(sorted(after)))
        con.register("counts", pa.Table.from_pylist([dict(zip(COUNTS.names, c, strict=True)) for c in counts], COUNTS))
        concerned: list[tuple[str, int]] = []
        if before != after:
            # Side aside: the one paragraph of a one-paragraph body counts at its head and is cut as its tail.
            con.register("changed", keys_table(sorted(before ^ after)))
            concerned = con.sql(
                f"SELECT DISTINCT source_file, record_no FROM {edges} SEMI JOIN changed USING (source, template)"
                " ORDER BY ALL"
            ).fetchall()
        # The edges keep templates as hashes: the text of one learned before is in `known`, that of one learned
        # now is read again from the run's records.
        con.execute("CREATE TEMP TABLE lines AS SELECT * FROM known SEMI JOIN learned USING (source, side, template)")
        if con.sql("SELECT 1 FROM learned ANTI JOIN lines USING (source, side, template) LIMIT 1").fetchall():
            con.execute(
                f"""INSERT INTO lines SELECT DISTINCT source, side, template, line FROM (
                        SELECT source, side, {hashed("line")} AS template, line FROM (
                            SELECT source, '{HEAD}' AS side, unnest(head) AS line FROM {records}
                            UNION ALL SELECT source, '{TAIL}', unnest(tail) FROM {records})
                        WHERE source IN (SELECT source FROM learned))
                    SEMI JOIN learned USING (source, side, template)
                    ANTI JOIN known USING (source, side, template)"""
            )
        furniture_rows = con.sql(
            """SELECT source, min(line) AS line, articles, side FROM learned
               JOIN counts USING (source, side, template) JOIN lines USING (source, side, template)
               GROUP BY source, side, template, articles ORDER BY source, side, line"""
        ).to_arrow_table()
        # Records of other sources are cleaned in this run too when a decision is taken again (newsetl/plan.py):
        # with what their source learned last.
        elsewhere = con.sql(
            f"""SELECT source, line, articles, coalesce(side, '{TAIL}') FROM {furniture}
                WHERE source NOT IN (SELECT source FROM run_edges) AND articles >= {settings.furniture_min_articles}"""
        ).fetchall()
        run_rows = con.sql("SELECT * FROM run_edges").to_arrow_table()
    finally:
        con.close()
    learned: dict[tuple[str, str], set[str]] = {}
    for source, line, _, side in [*zip(*furniture_rows.to_pydict().values(), strict=True), *elsewhere]:
        learned.setdefault((source, side), set()).add(line)
    return Learning(
        {key: frozenset(lines) for key, lines in learned.items()},
        concerned,
        furniture_rows.cast(FURNITURE),
        run_rows,
    )


def finish_batches(
    staged: list[Path], learned: Learned, plan: Path, prevailing: dict[str, str] | None = None, first: int = 0
) -> dict[Path, list[dict[str, Any]]]:
    """finish_batch each chunk of the staged records into a work file of the plan: {file: records rejected}, in
    run order. In chunks, not whole files: one dump of gigabytes is one batch, and must not be one read. Two at
    once: Arrow reads, compresses and writes without holding the GIL."""
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
