"""The flow's extract batches on Dask: a local cluster of worker processes publishes the tables the default
process pool publishes, and a scheduler that is not there fails the run soon with a message that says what to do."""

import subprocess
import time
from pathlib import Path

import pytest

from flows.runners import task_runner_for
from newsetl.devserver import free_port
from newsetl.generate import generate_corpus
from newsetl.settings import Settings
from newsetl.tables import query
from tests.conftest import NEWSETL, ROOT, run_newsetl, table_snapshot


@pytest.mark.slow
def test_a_local_dask_cluster_publishes_the_tables_of_the_default_run(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    generate_corpus(raw, 200, seed=13)
    # Several batches so both workers get some; the entity model stays on, so the workers load it too.
    env = {**prefect_server, "NEWSETL_BATCH_FILES": "10"}
    default, dask = tmp_path / "default", tmp_path / "dask"
    run_newsetl(env, "run", "--raw", str(raw), "--out", str(default))
    # A scheduler address in the environment too: the command line's --workers replaces it.
    dead = f"tcp://127.0.0.1:{free_port()}"
    logged = {**env, "NEWSETL_DASK_ADDRESS": dead, "PREFECT_LOGGING_LEVEL": "INFO"}
    done = run_newsetl(logged, "run", "--raw", str(raw), "--out", str(dask), "--workers", "2")
    assert "on a local Dask cluster of 2 worker processes" in done.stderr, done.stderr[-3000:]
    assert " WARNING " not in done.stderr, done.stderr[-3000:]
    assert table_snapshot(dask) == table_snapshot(default)


@pytest.mark.slow
def test_an_unreachable_scheduler_fails_the_run_with_what_to_do(
    prefect_server: dict[str, str], sample_tree: Path, tmp_path: Path
) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    done = run_newsetl(
        prefect_server, "run", "--raw", str(sample_tree), "--out", str(tmp_path), "--dask-address", address, check=False
    )
    assert time.monotonic() - started < 45
    assert done.returncode == 1
    assert f"no Dask scheduler answers at {address}" in done.stderr, done.stderr[-3000:]
    assert "dask scheduler" in done.stderr and "NEWSETL_DASK_ADDRESS" in done.stderr
    statuses = query(Settings(out_dir=tmp_path), "SELECT status FROM {runs}").to_pylist()
    assert statuses == [{"status": "failed"}]


def test_a_scheduler_and_a_local_cluster_at_once_is_refused(tmp_path: Path) -> None:
    env = {"NEWSETL_DASK_ADDRESS": "tcp://127.0.0.1:8786", "NEWSETL_WORKERS": "2", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([*NEWSETL, "run", "--out", str(tmp_path)], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "choose one" in done.stderr, done.stderr


def test_the_settings_choose_the_task_runner() -> None:
    assert type(task_runner_for(Settings())).__name__ == "ExtractPool"
    local = task_runner_for(Settings(workers=3))
    assert getattr(local, "cluster_kwargs", {}) | {"dashboard_address": None} == {
        "n_workers": 3,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
    }
    remote = task_runner_for(Settings(dask_address="tcp://10.0.0.5:8786"))
    assert getattr(remote, "address", None) == "tcp://10.0.0.5:8786"


def test_the_extract_workers_import_of_the_flow_loads_neither_duckdb_nor_deltalake() -> None:
    """Prefect sends the flow to each extract worker, which imports its module: that stays light."""
    code = "import sys, flows.ingest; print(sorted({'duckdb', 'deltalake', 'spacy'} & set(sys.modules)))"
    done = subprocess.run([NEWSETL[0], "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_deployment_takes_the_task_runner_from_the_environment() -> None:
    """prefect.yaml's worker and `newsetl serve` run the flow with the environment's settings; the flow takes
    its extract runner from them (or from its `workers` / `dask_address` parameters, shown in the UI)."""
    code = (
        "import inspect; from flows.ingest import ingest; from flows.runners import task_runner_for;"
        "from newsetl.settings import Settings; r = task_runner_for(Settings.for_dirs());"
        "assert {'workers', 'dask_address'} <= set(inspect.signature(ingest.fn).parameters);"
        "print(type(r).__name__, r.cluster_kwargs)"
    )
    done = subprocess.run(
        [NEWSETL[0], "-c", code], env={"NEWSETL_WORKERS": "2"}, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("NewsetlDaskTaskRunner {'n_workers': 2,"), done.stdout
