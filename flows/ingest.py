"""The ingestion flow: discover new dumps, extract them in batches, deduplicate, publish, catalog."""

import os
from typing import Any

from prefect import flow, unmapped
from prefect.runtime import flow_run

from flows.runners import task_runner_for
from newsetl.settings import Settings
from tasks.catalog import build_catalog
from tasks.compact import compact_tables
from tasks.dedupe import plan_publish
from tasks.discover import discover_files, make_batches
from tasks.extract import extract_batch, result_storage
from tasks.load import publish_plan, recover_pending
from tasks.report import DISCOVERED, EXTRACTED, PUBLISHED, Progress, report_quality, staged_dirs
from tasks.runs import finish_run, record_failure, run_lock, start_run


# The task runner is chosen from the environment when this module is imported, so a deployment's worker or
# `newsetl serve` follows NEWSETL_DASK_ADDRESS / NEWSETL_WORKERS; `newsetl run` applies its own options.
@flow(
    name="newsetl-ingest",
    task_runner=task_runner_for(Settings()),
    on_failure=[record_failure],
)
def ingest(raw_dir: str | None = None, out_dir: str | None = None) -> dict[str, Any]:
    """Ingest every dump under the raw root that no run has ingested yet, and publish the tables."""
    settings = Settings.for_dirs(raw_dir, out_dir)
    run_id = str(flow_run.id)
    progress = Progress(settings)
    with run_lock(settings):
        started = start_run(settings, run_id)
        recover_pending(settings)
        found = discover_files(settings)
        progress.update(DISCOVERED, f"{len(found.new)} new file(s) found")
        counts: dict[str, Any] = {
            "files_new": len(found.new),
            "files_unchanged": found.unchanged,
            "files_ignored": found.ignored,
        }
        if found.new:
            extract = extract_batch.with_options(result_storage=result_storage(settings))
            # Two batches per worker at least: one slow batch does not leave the other workers idle at the end.
            batches = make_batches(
                found.new,
                settings.batch_files,
                settings.batch_bytes,
                parts=2 * (settings.workers or os.cpu_count() or 1),
            )
            staged = staged_dirs(extract.map(batches, unmapped(settings)), batches, progress)
            progress.update(EXTRACTED, "planning what to publish")
            plan = plan_publish(staged, settings, run_id)
            counts |= publish_plan(plan, settings)
        # Cheap when files are few (one look at each table's file list); rewrites only once they pile up.
        compact_tables(settings, settings.compact_min_files, vacuum=False)
        progress.update(PUBLISHED, "published; reporting data quality and rebuilding the catalog")
        report_quality(settings, run_id)
        row = finish_run(settings, run_id, started, counts)
        build_catalog(settings)
        progress.update(100.0, "completed")
    return row
