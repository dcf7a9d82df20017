"""Extract: the stage that stages a batch of dumps (newsetl/stage.py), cached by the content of its files."""

from typing import Any

from prefect import get_run_logger, task
from prefect.context import TaskRunContext

from newsetl.errors import retries
from newsetl.records import DumpFile
from newsetl.settings import Settings
from newsetl.stage import batch_key, stage_batch


def _cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return batch_key(parameters["batch"], parameters["settings"])


@task(name="extract-batch", cache_key_fn=_cache_key, persist_result=True, **retries(2, 10))
def extract_batch(batch: list[DumpFile], settings: Settings) -> str:
    """Parse and clean a batch of dumps into a staged folder; returns the folder's path."""
    target = settings.staging_dir / batch_key(batch, settings)
    counts = stage_batch(batch, settings, target)
    rejected = {k: v for k, v in counts.items() if k not in ("records", "kept")}
    get_run_logger().info(
        "extracted %d files: %d records, %d kept, rejected %s",
        len(batch),
        counts["records"],
        counts["kept"],
        dict(sorted(rejected.items())) or "none",
    )
    return str(target)
