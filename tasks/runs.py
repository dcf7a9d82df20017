"""Runs: the stages that record an attempt in `runs` as it starts and as it ends (newsetl/runlog.py)."""

from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from newsetl.errors import retries
from newsetl.runlog import attempts_of, summary_counts, write_run
from newsetl.schemas import RUNS
from newsetl.settings import Settings
from newsetl.tables import ensure_tables, open_table


@task(name="open-attempt", **retries(1, 5, 20, jitter=0.5))
def open_attempt(settings: Settings, run_id: str) -> datetime:
    """Create missing tables, mark runs that died without finishing, and record this one as running."""
    ensure_tables(settings)
    runs = open_table(settings, "runs")
    # Under the lock no other run is alive, so a row still 'running' belongs to a killed process.
    runs.update(predicate="status = 'running'", updates={"status": "'interrupted'"})
    started = datetime.now(UTC)
    write_run(settings, {"run_id": run_id, "attempt": attempts_of(settings, run_id) + 1, "started_at": started,
                         "status": "running"})  # fmt: skip
    get_run_logger().info("run %s started on %s", run_id, settings.out_dir)
    return started


@task(name="close-attempt", **retries(1, 5, 20, jitter=0.5))
def close_attempt(settings: Settings, run_id: str, started: datetime, counts: dict[str, int]) -> dict[str, Any]:
    """Record the run's counts and status in `runs`; returns the run id and its counts."""
    finished = datetime.now(UTC)
    row = {
        "run_id": run_id,
        "attempt": attempts_of(settings, run_id),
        "started_at": started,
        "finished_at": finished,
        "status": "completed",
        "seconds": (finished - started).total_seconds(),
        **{k: v for k, v in counts.items() if k in RUNS.names},
    }
    write_run(settings, row)
    summary = summary_counts(row, counts)
    create_table_artifact(
        key="newsetl-run-summary",
        table=[{"count": k, "value": v} for k, v in summary.items()],
        description=f"newsetl run {run_id} on {settings.out_dir}",
    )
    get_run_logger().info("run %s completed: %s", run_id, summary)
    return {"run_id": run_id, **summary}
