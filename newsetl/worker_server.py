"""The process the extract workers (flows.runners.ExtractPool) and the plan's helper (tasks.dedupe.verify_pairs)
are forked from.

It imports WORKER_MODULES once, in the background, and each worker is a fork of it, ready at once. Whoever starts
it first must give it those modules (Python keeps one server a process): call start_worker_server, never
multiprocessing's own. This module imports no Prefect, so `newsetl run` can start the server before it imports
Prefect itself."""

import multiprocessing
import os
import signal
from contextlib import suppress
from multiprocessing import forkserver

# Prefect's task engine, the flow (Prefect sends it with each task, and it imports the extract code), and what
# each worker would otherwise do before its first article (flows.worker_preload).
WORKER_MODULES = ["prefect.task_engine", "flows.ingest", "flows.worker_preload"]
FORKSERVER = "forkserver" in multiprocessing.get_all_start_methods()  # not on Windows


def start_worker_server() -> None:
    """Start the server if it is not running (Python keeps one per process)."""
    if FORKSERVER:
        multiprocessing.set_forkserver_preload(WORKER_MODULES)
        forkserver.ensure_running()


def stop_worker_server() -> None:
    """Stop the server at once, when its process is done with it. Left alone, it would notice that its parent has
    gone only once its imports are done (up to 2 s after a run with nothing new), and a caller reading the parent's
    output would wait for it, since it holds the same stdout."""
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # (Python starts a new one if asked again)
    if pid is not None:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
