"""Compact: the stage that compacts the tables once their small files pile up (newsetl/compaction.py)."""

from dataclasses import asdict
from typing import Any

from prefect import get_run_logger, task

from newsetl.compaction import compact_all
from newsetl.errors import retries
from newsetl.settings import Settings


@task(name="compact-tables", **retries(1, 5))
def compact_tables(settings: Settings, min_small_files: int, vacuum: bool) -> list[dict[str, Any]]:
    """Compact the tables with a partition of at least `min_small_files` small files; vacuum them if asked."""
    done = compact_all(settings, min_small_files, vacuum)
    changed = [d for d in done if d.files_after != d.files_before or d.files_vacuumed]
    get_run_logger().info(
        "compacted %s",
        ", ".join(f"{d.table} {d.files_before}->{d.files_after} files" for d in changed) or "nothing (files are few)",
    )
    return [asdict(d) for d in done]
