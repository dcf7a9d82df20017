"""Near copies at plan time: candidate pairs estimated from MinHash signatures, verified on the texts (the run's,
and only the few of the history a candidate names), and decided: a light edit of an earlier surviving text is a
near copy of it."""

import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from newsetl.article import article_text
from newsetl.near import (
    ESTIMATE_MARGIN,
    PERMUTATIONS,
    estimated_similarity,
    near_in_block,
    shingles,
    signature,
)
from newsetl.schemas import (
    ARTICLES,
    PARTITIONS,
)
from newsetl.settings import Settings
from newsetl.tables import (
    open_table,
    parquet_sql,
    partition_files,
    scan_sql,
    table_sql,
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
    con: duckdb.DuckDBPyConnection,
    finals: list[Path],
    settings: Settings,
    checked: dict[frozenset[str], float | None],
    estimated: list[Path],
) -> tuple[int, list[tuple[str, str]]]:
    """The number of candidate pairs, and those whose MinHash estimate is within ESTIMATE_MARGIN of the
    threshold (see near.py).

    A pair in `estimated` (the candidate pairs of the plan's earlier rounds, as Parquet files) is not estimated
    again, since its estimate depends on its two signatures alone: it is likely when it was then, that is when
    `checked` holds it (see decide_near).

    The run's signatures are held whole; the published ones a part at a time, each part with its pairs, so
    memory does not grow with the archive. The pairs are read as row numbers into the part's matrix and
    compared 20,000 at a time (two signature matrices of 8 MB)."""
    ((total,),) = con.execute("SELECT count(*) FROM pairs").fetchall()
    if not total:
        return 0, []
    kept: list[tuple[str, str]] = []
    if not estimated:
        con.execute("CREATE TEMP VIEW fresh_pairs AS SELECT * FROM pairs")
    else:
        close = [(min(pair), max(pair)) for pair in checked]  # (a frozenset of one node is a pair of it with itself)
        close += [(b, a) for a, b in close]
        con.register("close_before", pa.table({"a": [a for a, _ in close], "b": [b for _, b in close]}))
        kept += con.execute("SELECT a, b FROM pairs SEMI JOIN close_before USING (a, b)").fetchall()
        # A table, not a view: the anti-join is read four times below.
        con.execute(
            f"CREATE TEMP TABLE fresh_pairs AS SELECT * FROM pairs ANTI JOIN {parquet_sql(estimated)} USING (a, b)"
        )
    ((published,),) = con.execute(
        "SELECT count(DISTINCT CASE WHEN starts_with(a, 'h') THEN a WHEN starts_with(b, 'h') THEN b END) "
        "FROM fresh_pairs"
    ).fetchall()
    positions = con.sql(
        "SELECT DISTINCT substr(node, 2)::BIGINT AS pos FROM (SELECT a AS node FROM fresh_pairs UNION ALL "
        "SELECT b FROM fresh_pairs) WHERE starts_with(node, 'r')"
    ).to_arrow_table()
    run_names, run_matrix = run_signatures(finals, positions.column("pos").combine_chunks())
    parts = max(1, -(-published // SIGNATURE_PART_ROWS))
    floor = settings.near_threshold - ESTIMATE_MARGIN
    for part in range(parts):
        where = f"{PUBLISHED_SIDE} % {parts} = {part}"
        ids = [
            n[1:]
            for (n,) in con.execute(
                f"SELECT DISTINCT node FROM (SELECT a AS node FROM fresh_pairs WHERE {where} UNION ALL "
                f"SELECT b FROM fresh_pairs WHERE {where}) WHERE starts_with(node, 'h')"
            ).fetchall()
        ]
        hist_names, matrix = history_signatures(con, ids, settings, head=run_matrix)
        names = run_names + hist_names
        con.register("signature_rows", pa.table({"node": names, "row": np.arange(len(names))}))
        del ids, hist_names, names
        # A node without a signature (none should be) has no row: its pairs are not candidates.
        found = con.sql(
            f"""SELECT p.a, p.b, x.row AS ra, y.row AS rb FROM fresh_pairs p
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
# From this many blocks on, a helper process checks blocks too: below it, starting one costs more than it saves.
VERIFY_HELPER_BLOCKS = 4
# The helper (newsetl.runtime.helper_process) holds up to HELPER_QUEUE blocks, so it never waits for this
# process: one holding a single block would check half as many (docs/performance.md).
HELPER_QUEUE = 2


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
    con: duckdb.DuckDBPyConnection,
    finals: list[Path],
    likely: list[tuple[str, str]],
    settings: Settings,
    helper: Executor | None = None,
) -> dict[str, dict[str, float]]:
    """The exact check of the likely pairs: node -> {similar node: similarity}.

    Texts are read once, in blocks of connected pairs (DuckDB sorts them by block, spilling to disk), and each
    block's texts are fingerprinted, checked and dropped before the next: memory does not grow with the number
    of pairs a run has. With many blocks, the plan's `helper` process checks a block whenever it has room for one
    (HELPER_QUEUE): fingerprinting is Python, and would leave the machine's other core idle. The pairs found do
    not depend on who checked them."""
    if not likely:
        return {}
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
    if len(pairs_of) < VERIFY_HELPER_BLOCKS or (os.cpu_count() or 1) < 2:
        helper = None
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
    con: duckdb.DuckDBPyConnection,
    finals: list[Path],
    settings: Settings,
    checked: dict[frozenset[str], float | None],
    estimated: list[Path],
    helper: Executor | None = None,
) -> tuple[pa.Table, dict[str, int]]:
    """Verify the LSH candidate pairs and decide near copies: returns (node, target, similarity) and counts of
    the pairs at each step.

    `checked` holds the pairs verified by an earlier round of the same plan (their similarity, None when not
    near), and `estimated` its candidate pairs: a plan that decides again after restaging a few records
    estimates and verifies only the pairs those bring, since a pair's estimate and similarity depend on its two
    signatures and texts alone. `checked` is filled with the pairs verified here.

    A pair whose MinHash signatures are far from the threshold is dropped; every other candidate's Jaccard
    similarity is computed from the two texts. Nodes are visited earliest first (a story's newest version as
    early as its first version); one that is similar enough to an already kept text becomes a near copy of the
    most similar of them (the earliest on a tie), else it is kept. So the earliest published copy of a story is
    the article, whichever run brought it."""
    empty = pa.table({"node": pa.array([], pa.string()), "target": pa.array([], pa.string()),
                      "similarity": pa.array([], pa.float64())})  # fmt: skip
    candidates, likely = likely_pairs(con, finals, settings, checked, estimated)
    if not candidates:
        return empty, {}
    fresh = [(a, b) for a, b in likely if frozenset((a, b)) not in checked]
    found_now = verify_pairs(con, finals, fresh, settings, helper)
    for a, b in fresh:
        checked[frozenset((a, b))] = found_now.get(a, {}).get(b)
    edges: dict[str, dict[str, float]] = {}
    for a, b in likely:
        if (similarity := checked[frozenset((a, b))]) is not None:
            edges.setdefault(a, {})[b] = similarity
            edges.setdefault(b, {})[a] = similarity
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
