"""The `runs` table (one row per attempt of a run), and the lock that keeps two runs off one output directory."""

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from newsetl.schemas import RUNS
from newsetl.settings import Settings
from newsetl.tables import WRITER, open_table, query, sql_literal


class RunLocked(RuntimeError):
    """Another run holds the output directory."""


@contextmanager
def run_lock(settings: Settings) -> Iterator[None]:
    """Hold an exclusive lock on the output directory; wait up to `lock_timeout` seconds for another run."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with settings.lock_path.open("a+") as fh:
        deadline = time.monotonic() + settings.lock_timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLocked(
                        f"another newsetl run is writing to {settings.out_dir} (lock {settings.lock_path}); "
                        "wait for it to finish, or raise NEWSETL_LOCK_TIMEOUT"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_run(settings: Settings, row: dict[str, Any]) -> None:
    """Insert or replace the row of the run's attempt (a task retried within an attempt keeps one row)."""
    data = pa.Table.from_pylist([{**{f.name: None for f in RUNS}, **row}], schema=RUNS)
    write_deltalake(
        open_table(settings, "runs"),
        data,
        mode="overwrite",
        predicate=f"run_id = {sql_literal(row['run_id'])} AND coalesce(attempt, 1) = {int(row['attempt'])}",
        writer_properties=WRITER,
    )


def attempts_of(settings: Settings, run_id: str) -> int:
    """How many attempts of the run `runs` records (0 for a new run)."""
    rows = query(settings, f"SELECT max(coalesce(attempt, 1)) AS n FROM {{runs}} WHERE run_id = {sql_literal(run_id)}")
    return int(rows.column("n")[0].as_py() or 0)


def record_failed_attempt(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook (failed or crashed): the run's attempt says so in `runs`, and the catalog is rebuilt so that
    an analyst sees it at once (the next run would otherwise call it interrupted, and only then)."""
    from newsetl.catalog import write_catalog

    settings = Settings.for_dirs(flow_run.parameters.get("raw_dir"), flow_run.parameters.get("out_dir"))
    if not DeltaTable.is_deltatable(settings.table_uri("runs")):
        return  # failed before it could record anything
    table = open_table(settings, "runs")
    finished = datetime.now(UTC).isoformat()
    status = "crashed" if state.is_crashed() else "failed"
    table.update(
        predicate=f"run_id = {sql_literal(str(flow_run.id))} AND status = 'running'",
        updates={"status": f"'{status}'", "finished_at": f"'{finished}'::timestamp"},
    )
    write_catalog(settings)


def summary_counts(row: dict[str, Any], counts: dict[str, Any]) -> dict[str, Any]:
    """The run's counts as one flat mapping: files, records, articles, duplicates and quarantine by kind."""
    flat: dict[str, Any] = {}
    for name in RUNS.names:
        if name in ("run_id", "started_at", "finished_at", "status", "seconds"):
            continue
        flat[name] = row.get(name) or 0
        if name == "articles_revised":
            flat["articles_recleaned"] = counts.get("articles_recleaned", 0)
        if name == "duplicates":
            flat |= {f"duplicates {k}": n for k, n in sorted(counts.get("duplicates_by_kind", {}).items())}
        if name == "quarantined":
            flat |= {f"quarantined {r}": n for r, n in sorted(counts.get("quarantined_by_reason", {}).items())}
    flat["seconds"] = round(float(row["seconds"]), 2)
    return flat
