"""Dedupe: the stage that decides the fate of every staged record of a round and writes its plan (newsetl/plan.py)."""

import duckdb
from prefect import get_run_logger, task

from newsetl.errors import Permanent, retries
from newsetl.plan import build_plan, next_seq
from newsetl.settings import Settings


class PlanOutOfMemory(Permanent, RuntimeError):
    """The plan needed more than DuckDB's memory cap: it would fail the same way again."""


@task(name="write-plan", **retries(2, 10))
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
        "planned %d records: %d new articles, %d revised, %d cleaned again, %d duplicates %s, %d quarantined %s; "
        "near-duplicate pairs %s",
        summary["records"],
        summary["articles_new"],
        summary["articles_revised"],
        summary["articles_recleaned"],
        summary["duplicates"],
        summary["duplicates_by_kind"],
        summary["quarantined"],
        summary["quarantined_by_reason"],
        summary["near_pairs"] or "none",
    )
    return str(target)
