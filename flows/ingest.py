"""The ingestion flow: discover new dumps, extract them in batches, deduplicate, publish, catalog."""

from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, unmapped
from prefect.runtime import flow_run

from flows.runners import runner_name, task_runner_for
from newsetl.records import DumpFile
from newsetl.runtime import start_worker_server
from newsetl.settings import Settings
from tasks.extract import extract_batch

if TYPE_CHECKING:
    from flows.progress import Progress


def on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook: the run's row in `runs` says it failed or crashed, and the catalog shows it (imported late,
    as below)."""
    from newsetl.runlog import record_failed_attempt

    record_failed_attempt(flow, flow_run, state)


def extract_all(files: list[DumpFile], settings: Settings, progress: "Progress") -> list[str]:
    """Stage the new files in batches on their own pool of worker processes (or Dask cluster), closed once they
    are staged: the workers' memory is given back as the plan starts, and the flow's other tasks run in-process.
    Returns the staged folders."""
    from flows.progress import staged_dirs
    from newsetl.discovery import batches_for

    # Prefect keeps extract results inside the output's work files, so any process that writes these tables
    # (a retry by a worker, a rerun from the CLI) finds the batches already done, and deleting the output
    # forgets them too. A path, not a saved block: nothing to ask the server, nothing to look up.
    extract = extract_batch.with_options(result_storage=settings.results_dir.resolve())
    batches = batches_for(files, settings)
    get_run_logger().info("extracting %d batch(es) on %s", len(batches), runner_name(settings))
    with task_runner_for(settings) as runner:
        # (The ignore: Prefect 3.9 types `map` for tasks that may return a coroutine.)
        futures = runner.map(extract, {"batch": batches, "settings": unmapped(settings)})  # type: ignore[arg-type]
        return staged_dirs(futures, batches, progress)


@flow(name="newsetl-ingest", on_failure=[on_failure], on_crashed=[on_failure])
def ingest(
    raw_dir: str | None = None,
    out_dir: str | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
) -> dict[str, Any]:
    """Ingest every dump under the raw root that no run has ingested yet, and publish the tables.

    `workers` / `dask_address` (or NEWSETL_WORKERS / NEWSETL_DASK_ADDRESS) send the extract batches to a local
    Dask cluster or to a running one; by default they run in a pool of processes, one per core."""
    # Imported here: the extract workers import this module (Prefect sends them the flow with each task), and
    # these stages load DuckDB and deltalake, which the workers never use.
    from flows.progress import DISCOVERED, EXTRACTED, PUBLISHED, Progress
    from newsetl.commit import add_counts
    from newsetl.rounds import plan_rounds
    from newsetl.runlog import run_lock
    from tasks.catalog import build_catalog
    from tasks.compact import compact_tables
    from tasks.dedupe import write_plan
    from tasks.discover import discover_files
    from tasks.load import commit_plan, recover_pending
    from tasks.report import report_quality
    from tasks.runs import close_attempt, open_attempt

    settings = Settings.for_dirs(raw_dir, out_dir)
    if workers or dask_address:  # given to the run, they replace both settings
        settings = settings.model_copy(update={"workers": workers, "dask_address": dask_address})
    run_id = str(flow_run.id)
    progress = Progress(settings)
    with run_lock(settings):
        started = open_attempt(settings, run_id)
        recover_pending(settings)
        # `newsetl run` has started the extract workers' server already; a run started otherwise (a deployment's)
        # starts it when discovery finds new files, so that it imports what they need while the files are hashed.
        found = discover_files(settings, on_new=None if settings.on_dask else start_worker_server)
        progress.update(DISCOVERED, f"{len(found.new)} new file(s) found")
        counts: dict[str, Any] = {"files_new": len(found.new), "files_unchanged": found.unchanged,
                                  "files_ignored": found.ignored}  # fmt: skip
        if found.new:
            staged = extract_all(found.new, settings, progress)
            progress.update(EXTRACTED, "planning what to publish")
            for group in plan_rounds(staged, settings.plan_records):
                add_counts(counts, commit_plan(write_plan(group, settings, run_id), settings))
            # Cheap when files are few (one look at each table's file list); rewrites only once they pile up.
            compact_tables(settings, settings.compact_min_files, vacuum=False)
            progress.update(PUBLISHED, "published; reporting data quality and rebuilding the catalog")
            report_quality(settings, run_id)
        row = close_attempt(settings, run_id, started, counts)
        build_catalog(settings)
        progress.update(100.0, "completed")
    return row
