"""The Prefect flows of newsetl: `ingest` (the nightly DAG) and `compact`, and how extract batches reach worker
processes or Dask."""

# What the worker server imports once for all extract workers (see newsetl.runtime): Prefect's task engine, the
# flow (Prefect sends it with each task, and it imports the extract code), and Prefect's collections
# (flows.worker_preload), which each worker would otherwise load before its first article.
from newsetl.runtime import preload_in_workers

WORKER_MODULES = ("prefect.task_engine", "flows.ingest", "flows.worker_preload")
preload_in_workers(WORKER_MODULES)
