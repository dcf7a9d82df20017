"""Committing: commit a plan to the Delta tables, exactly once, whatever moment a previous attempt died at.

A plan holds each table's rows as parts (one per extract batch for the big tables), and each part is its own
commit, recording its (plan, part) number as a Delta application transaction in the same commit. Replaying a
plan skips the parts a table already holds. `files` is committed last, so its number says which plans are
complete, and a plan above it is finished by the next run."""

import json
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from newsetl.runtime import release_memory
from newsetl.schemas import PARTITIONS, TABLES
from newsetl.settings import Settings
from newsetl.tables import (
    PARTS,
    commit,
    committed_version,
    delete_where_in,
    open_table,
    read_chunks,
)

# The tables a plan commits to. Each is committed on its own, in any order, two at a time (the Delta writer
# works without the GIL), the largest first; `files` comes last, since its sequence number says the whole plan is in.
COMMIT_ORDER = [
    "articles",
    "near_index",
    "near_signatures",
    "keywords",
    "captions",
    "entities",
    "duplicates",
    "quarantine",
    "furniture",
    "edges",
    "word_case",
    "record_offsets",
    "files",
]
COMMIT_THREADS = 2
# The rows to delete before a plan's first part: those of the articles it displaces or cleans again, the
# duplicates that pointed to an article that now is a duplicate itself, the duplicates of a text a newcomer now
# stands for, those of a text decided again (the plan re-adds each of them as it now stands), and the learned
# furniture of the sources the run counts again. The lists of one column are deleted together: each delete
# rewrites every file holding a row it names.
DELETES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "duplicates": [("duplicate_of", ("moved",)), ("content_hash", ("rehashed", "redecided"))],
    **{
        name: [("article_id", ("displaced", "recleaned"))]
        for name in ("captions", "entities", "keywords", "articles", "near_index", "near_signatures")
    },
    "furniture": [("source", ("furniture_sources",))],
}


def read_plan(plan_dir: Path) -> dict[str, Any]:
    return json.loads((plan_dir / "plan.json").read_text())


def stream(path: Path, schema: pa.Schema) -> pa.RecordBatchReader:
    """A plan file as a stream of batches in the table's declared schema: bounded memory at any size."""
    chunks = read_chunks(path, 8192)
    return pa.RecordBatchReader.from_batches(schema, (b for chunk in chunks for b in chunk.cast(schema).to_batches()))


def apply_plan(plan_dir: Path, settings: Settings) -> list[str]:
    """Commit every part of the plan a table does not hold yet; returns the tables committed to now."""
    plan = read_plan(plan_dir)

    def apply(name: str) -> bool:
        table = open_table(settings, name)
        held = committed_version(table)
        first = plan["seq"] * PARTS
        for column, lists in DELETES.get(name, []):
            values = [value for listed in lists for value in plan.get(listed, [])]
            if values and held < first:
                # Replaced rows leave before their successors arrive (even when the plan has no part for this
                # table); until a part is in, deleting again is harmless.
                delete_where_in(table, column, values)
                table = open_table(settings, name)
        parts = sorted((plan_dir / name).glob("part-*.parquet"))
        for part, path in enumerate(parts):
            if held < first + part:
                commit(table, stream(path, TABLES[name]), first + part, PARTITIONS.get(name))
        return bool(parts) and held < first + len(parts) - 1

    *tables, last = COMMIT_ORDER
    with ThreadPoolExecutor(COMMIT_THREADS) as pool:
        committed = dict(zip(tables, pool.map(apply, tables), strict=True))
    committed[last] = apply(last)
    discard_plan(plan_dir, settings)
    release_memory()
    return [name for name in COMMIT_ORDER if committed[name]]


def discard_plan(plan_dir: Path, settings: Settings) -> None:
    """Remove a committed plan with its staged batches and their cached task results. A batch planned in
    pieces (see newsetl/rounds.py, pieces_of) loses the committed piece, and goes once its last piece is in."""
    plan = read_plan(plan_dir)
    for staged in map(Path, plan["staged"]):
        if staged.parent.name == "pieces":
            if staged.is_dir():  # renamed first, so a piece half removed is never planned again
                staged.rename(staged.with_name(staged.name + ".done"))
            shutil.rmtree(staged.with_name(staged.name + ".done"), ignore_errors=True)
            if staged.parent.is_dir() and any(p.name.isdigit() for p in staged.parent.iterdir()):
                continue
            staged = staged.parent.parent
        shutil.rmtree(staged, ignore_errors=True)
        (settings.results_dir / staged.name).unlink(missing_ok=True)
    shutil.rmtree(plan_dir)


def pending_plans(settings: Settings) -> list[Path]:
    """Plans written but not known to be committed, oldest first; half-written ones are removed."""
    if not settings.plans_dir.is_dir():
        return []
    plans: list[Path] = []
    for p in sorted(settings.plans_dir.iterdir()):
        if p.name.endswith(".tmp"):
            shutil.rmtree(p, ignore_errors=True)
        elif (p / "plan.json").is_file():
            plans.append(p)
    return plans


def add_counts(total: dict[str, Any], plan: dict[str, Any]) -> None:
    """Add a committed plan's counts to the run's (a run of several rounds commits several plans)."""
    for key in ("records", "articles_new", "articles_revised", "articles_recleaned", "duplicates", "quarantined"):
        total[key] = total.get(key, 0) + plan.get(key, 0)
    for key in ("duplicates_by_kind", "quarantined_by_reason", "near_pairs"):
        merged = Counter(total.get(key, {}))
        merged.update(plan.get(key) or {})
        total[key] = dict(sorted(merged.items()))
