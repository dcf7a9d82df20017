"""Two `newsetl run` started at the same moment on one output directory: the second waits for the first (or,
told not to wait, exits with a message), and the tables are those of a single run: nothing twice."""

import subprocess
from pathlib import Path

import pytest

from newsetl.generate import generate_corpus
from tests.conftest import NEWSETL, ROOT, catalog_rows, run_newsetl, table_snapshot

pytestmark = pytest.mark.slow

# No entity model (the slowest step, beside the point here), and a few batches as in production.
RUN_ENV = {"NEWSETL_ENTITIES": "false", "NEWSETL_BATCH_FILES": "20"}


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "raw"
    generate_corpus(root, 600, seed=3)
    return root


@pytest.fixture(scope="module")
def single_run(prefect_server: dict[str, str], raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tables of one run alone over the corpus."""
    out = tmp_path_factory.mktemp("single")
    run_newsetl({**prefect_server, **RUN_ENV}, "run", "--raw", str(raw), "--out", str(out))
    return table_snapshot(out)


def run_two_at_once(env: dict[str, str], raw: Path, out: Path) -> list[subprocess.CompletedProcess[str]]:
    """Start two `newsetl run` on the same directories together; both finished."""
    args = [*NEWSETL, "run", "--raw", str(raw), "--out", str(out)]
    procs = [
        subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


def test_the_second_run_waits_for_the_first(
    prefect_server: dict[str, str], raw: Path, single_run: dict, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    results = run_two_at_once({**prefect_server, **RUN_ENV}, raw, out)
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    assert table_snapshot(out) == single_run
    # One ingested everything; the other, once it had the lock, found nothing new.
    runs = catalog_rows(out, "SELECT status, files_new FROM runs ORDER BY started_at")
    assert [status for status, _ in runs] == ["completed", "completed"]
    assert runs[0][1] > 0 and runs[1][1] == 0


def test_a_run_told_not_to_wait_exits_with_a_message(
    prefect_server: dict[str, str], raw: Path, single_run: dict, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    results = run_two_at_once({**prefect_server, **RUN_ENV, "NEWSETL_LOCK_TIMEOUT": "0"}, raw, out)
    assert sorted(r.returncode for r in results) == [0, 1], [r.stderr[-2000:] for r in results]
    (refused,) = [r for r in results if r.returncode == 1]
    assert "another newsetl run is writing to" in refused.stderr
    assert "NEWSETL_LOCK_TIMEOUT" in refused.stderr
    assert table_snapshot(out) == single_run
    # The refused run never got to record itself: one run, completed.
    assert catalog_rows(out, "SELECT status FROM runs") == [("completed",)]
