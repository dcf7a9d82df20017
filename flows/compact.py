"""The compaction flow: few large files per table, a checkpointed log, old files vacuumed, a fresh catalog."""

from typing import Any

from prefect import flow

from newsetl.runlog import run_lock
from newsetl.settings import Settings
from tasks.catalog import build_catalog
from tasks.compact import compact_tables


@flow(name="newsetl-compact")
def compact_output(out_dir: str | None = None, retention_hours: int | None = None) -> list[dict[str, Any]]:
    """Compact every table's small files, vacuum files unused for `retention_hours` (default
    NEWSETL_VACUUM_RETENTION_HOURS), and rebuild the catalog."""
    settings = Settings.for_dirs(None, out_dir)
    if retention_hours is not None:
        settings = settings.model_copy(update={"vacuum_retention_hours": retention_hours})
    # The run's lock: an ingestion never commits between the compaction and the catalog that lists its files.
    with run_lock(settings):
        done = compact_tables(settings, min_small_files=2, vacuum=True)
        build_catalog(settings)
    return done
