"""Run-time tuning, in one place: the server the worker processes are forked from, giving Arrow's freed memory
back to the system, and Python's cyclic collector during a batch. Each is a speed or memory measure with no
effect on what is published; `docs/performance.md` has what each one gained.

This module imports no Prefect, so `newsetl run` can start the worker server before it imports Prefect itself.
"""

import gc
import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from multiprocessing import forkserver

import pyarrow as pa

FORKSERVER = "forkserver" in multiprocessing.get_all_start_methods()  # not on Windows
# Objects allocated before Python's cyclic collector looks at the youngest ones while a batch is staged (default 700).
YOUNG_OBJECTS = 50_000


# What the worker server imports before it forks: named by the flows (flows/__init__.py), which know what their
# workers run; the library only starts the server.
_preload: list[str] = []


def preload_in_workers(modules: Sequence[str]) -> None:
    """Name the modules the worker server imports once for all its forks."""
    _preload[:] = modules


def start_worker_server() -> None:
    """Start the server the extract workers and the plan's helper are forked from, with the modules named by
    preload_in_workers imported once, so each fork is ready at once. Python keeps one server a process: it has
    the modules named when it is first started."""
    if FORKSERVER:
        multiprocessing.set_forkserver_preload(list(_preload))
        forkserver.ensure_running()


def stop_worker_server() -> None:
    """Stop the server at once when its process is done with it: left alone it would finish its imports first,
    holding the parent's stdout, so a caller reading that output would wait for it."""
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # (Python starts a new one if asked again)
    if pid is not None:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def helper_process() -> ProcessPoolExecutor:
    """A process for the plan's Python-bound work (checking near pairs, staging earlier records again), forked
    from the worker server, which has imported that code: ready at once, it uses the machine's other core, and
    the models it loads leave with it instead of staying in the flow's process. Not a fork of this process,
    whose DuckDB threads may hold locks; "spawn" where there is no fork server."""
    start_worker_server()  # (running since the extract, unless this process has extracted nothing)
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver" if FORKSERVER else "spawn"))


def release_memory() -> None:
    """Give back the pages Arrow's allocator keeps for reuse: after a stage's reads and writes they would only
    add to the peak of the next stage, which needs the memory for other things (DuckDB, the workers)."""
    pa.default_memory_pool().release_unused()


@contextmanager
def old_objects_left_alone() -> Iterator[None]:
    """Python's cyclic collector kept off the objects there before (imports, the language model: all long-lived,
    and walked in full by every collection of the oldest generation) and run less often. The batch's own
    objects are still freed by their reference counts, and a cycle among them is still collected."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
