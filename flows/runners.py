"""Where the flow's extract batches run: a process pool here, a local Dask cluster, or a Dask cluster elsewhere."""

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner

from newsetl.runtime import FORKSERVER, start_worker_server
from newsetl.settings import Settings


class ExtractPool(ProcessPoolTaskRunner):
    """Prefect's process pool, with workers forked from a server that has imported what they need, and let go on
    a thread once every batch is staged.

    Prefect's pool spawns fresh interpreters, each of which imports Prefect and the flow before its first batch,
    after discovery, while the other worker does the same. The workers' exit overlaps the plan's start instead
    of delaying it; after an error it waits for them, as Prefect's does."""

    def __enter__(self) -> "ExtractPool":
        super().__enter__()
        spawning = self._executor  # Prefect's pool: its workers would start at the first batch, none has yet
        if FORKSERVER and spawning is not None:
            start_worker_server()  # (already running: started by the CLI, or by discovery)
            self._executor = ProcessPoolExecutor(
                self._max_workers,
                mp_context=multiprocessing.get_context("forkserver"),
                # Prefect's set-up of each worker: its logs and events go to the flow's process.
                initializer=spawning._initializer,  # type: ignore[attr-defined]
                initargs=spawning._initargs,  # type: ignore[attr-defined]
            )
            spawning.shutdown()
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if exc_type is not None:
            super().__exit__(exc_type, exc_value, traceback)
            return
        # Not a daemon: the flow's process waits for the workers before it exits.
        threading.Thread(target=super().__exit__, args=(None, None, None), name="newsetl-close-extract-pool").start()


def task_runner_for(settings: Settings) -> TaskRunner[Any]:
    """The task runner the settings ask for (see `Settings.dask_address` and `Settings.workers`)."""
    if not settings.on_dask:
        # Extract batches are CPU-bound Python: processes, not threads, use every core (one per core by
        # default; PREFECT_TASKS_RUNNER_PROCESS_POOL_MAX_WORKERS sets another number).
        return ExtractPool()
    # Imported late: distributed takes a second or two to import, which a run on the process pool need not pay.
    from flows.dask_runner import CONNECT_TIMEOUT, NewsetlDaskTaskRunner

    # Dask logs every cluster start, worker and connection at INFO: dozens of lines around the run's own.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if settings.dask_address:
        return NewsetlDaskTaskRunner(address=settings.dask_address, client_kwargs={"timeout": CONNECT_TIMEOUT})
    # One thread per worker process: extraction holds the GIL. The dashboard takes a free port (Prefect logs
    # its link), so two runs on one machine do not fight over 8787.
    cluster = {"n_workers": settings.workers, "threads_per_worker": 1, "processes": True, "dashboard_address": ":0"}
    return NewsetlDaskTaskRunner(cluster_kwargs=cluster)


def runner_name(settings: Settings) -> str:
    """Where the extract batches run, in words for the run's log."""
    if settings.dask_address:
        return f"the Dask cluster at {settings.dask_address}"
    if settings.workers:
        return f"a local Dask cluster of {settings.workers} worker processes"
    return f"a pool of {os.cpu_count() or 1} processes"
