"""Imported once by the server the extract workers are forked from (see newsetl.runtime), after Prefect and
the flow: what each worker would otherwise do before its first batch is done there, once.

That is Prefect's scan of the installed packages for its collections (it imports prefect-dask and Dask), which a
worker makes when it rebuilds the flow's context, whose result storage is a block. (The language model stays
out: the server outlives the workers into the plan, the run's peak of memory.)

The server's own exit skips the interpreter's shutdown (tearing down Prefect and every module one by one): it
has nothing to flush, and whoever reads the output of `newsetl run` waits for it, since it holds the
same stdout. The workers never run this hook: a forked worker leaves through `os._exit`."""

import atexit
import os

from prefect.plugins import load_prefect_collections

load_prefect_collections()
atexit.register(os._exit, 0)
