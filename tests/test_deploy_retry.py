"""Operating newsetl as deployed: prefect.yaml's deployment on a real server, run by a `process` worker; a run
whose extract batch fails is retried the way the UI's Retry button does it, and redoes only that batch."""

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.settings import PREFECT_API_URL, temporary_settings

from newsetl.devserver import stop_group
from newsetl.discovery import DumpFile, batches_for, scan_raw_dir, sha256_of, source_of
from newsetl.generate import generate_corpus
from newsetl.settings import Settings
from newsetl.stage import batch_key
from tests.conftest import NEWSETL, ROOT, catalog_rows, run_newsetl, table_snapshot

PREFECT = [sys.executable, "-m", "prefect"]
# Several extract batches, and no entity model (the slowest step, beside the point here): the test stays short.
RUN_ENV = {"NEWSETL_BATCH_FILES": "12", "NEWSETL_ENTITIES": "false"}
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def prefect(env: dict[str, str], *args: str) -> str:
    """Run the `prefect` command against the test server; its output."""
    done = subprocess.run([*PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def deploy(env: dict[str, str], tmp_path: Path, raw: Path, out: Path) -> None:
    """`prefect deploy --all` of the project's prefect.yaml, pointed at the test's directories and unscheduled
    (a worker must not start the real nightly run on data/raw should the test cross 02:00 UTC)."""
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    # Only the ingestion: the weekly compaction is not what this test operates.
    config["deployments"] = [d for d in config["deployments"] if d["name"] == "nightly"]
    (deployment,) = config["deployments"]
    for schedule in deployment["schedules"]:
        schedule["active"] = False
    job_env = deployment["work_pool"]["job_variables"]["env"]
    job_env |= {"NEWSETL_RAW_DIR": str(raw), "NEWSETL_OUT_DIR": str(out), **RUN_ENV}
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text(yaml.safe_dump(config, sort_keys=False))
    pool = deployment["work_pool"]["name"]
    prefect(env, "work-pool", "create", pool, "--type", "process", "--overwrite")
    prefect(env, "--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file))


@pytest.fixture
def worker(prefect_server: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    """`prefect worker start --pool newsetl` in the background, polling every second; yields its log file."""
    env = {**prefect_server, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_LOGGING_LEVEL": "INFO"}
    log = tmp_path / "worker.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*PREFECT, "worker", "start", "--pool", "newsetl"],
            env=env,
            cwd=tmp_path,  # not the project: the deployment's pull step must take the run there
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield log
        finally:
            stop_group(proc)


def planned_batches(raw: Path, settings: Settings) -> list[list[DumpFile]]:
    """The extract batches the first run of an empty output will make (discover-files' rules, without a run)."""
    found, _ = scan_raw_dir(raw)
    files: list[DumpFile] = []
    seen: set[str] = set()
    for rel, path, size in found:
        digest = sha256_of(path)
        if digest not in seen:
            seen.add(digest)
            files.append(DumpFile(str(path.resolve()), rel, source_of(rel), digest, size))
    return batches_for(files, settings)


class Api:
    """The few Prefect API calls the test makes, against the test server."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["PREFECT_API_URL"]

    def call(self, fn: Any) -> Any:
        async def go() -> Any:
            with temporary_settings({PREFECT_API_URL: self.url}):
                async with get_client() as client:
                    return await fn(client)

        return asyncio.run(go())

    def start(self, deployment: str) -> UUID:
        async def fn(client: Any) -> UUID:
            dep = await client.read_deployment_by_name(deployment)
            return (await client.create_flow_run_from_deployment(dep.id)).id

        return self.call(fn)

    def flow_run(self, flow_run_id: UUID) -> FlowRun:
        return self.call(lambda client: client.read_flow_run(flow_run_id))

    def wait(self, flow_run_id: UUID, since: float, timeout: float = 150) -> FlowRun:
        """The flow run once it reaches a final state after `since` (a retried run passes through Scheduled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.flow_run(flow_run_id)
            if run.state and run.state.type.value in FINAL and run.state.timestamp.timestamp() > since:
                return run
            time.sleep(1)
        raise AssertionError(f"flow run {flow_run_id} did not finish in {timeout} s: {run.state}")

    def task_runs(self, flow_run_id: UUID) -> list[TaskRun]:
        flow_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        return self.call(lambda client: client.read_task_runs(flow_run_filter=flow_filter))

    def artifacts(self, flow_run_id: UUID) -> dict[str, Any]:
        artifact_filter = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        found = self.call(lambda client: client.read_artifacts(artifact_filter=artifact_filter))
        # Each attempt of the run made its own; the latest wins.
        return {a.key: a.data for a in sorted(found, key=lambda a: a.created)}


def extract_states(task_runs: list[TaskRun], since: float) -> Counter[str]:
    """State names of the extract task runs that finished after `since`."""
    return Counter(
        tr.state_name or ""
        for tr in task_runs
        if tr.name.startswith("extract-batch")
        if tr.state and tr.state.timestamp.timestamp() > since
    )


@pytest.mark.slow
def test_a_failed_run_retried_like_the_ui_redoes_only_its_failed_batch(
    prefect_server: dict[str, str], worker: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = time.time()
    raw, out, reference = tmp_path / "raw", tmp_path / "out", tmp_path / "reference"
    generate_corpus(raw, 300, seed=5)
    for name, value in RUN_ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings.for_dirs(raw, out)
    batches = planned_batches(raw, settings)
    assert len(batches) >= 4
    # A disk-like failure in one batch: a file where its staging folder is to be made, so mkdir fails, and
    # fails again on each of the task's own retries.
    broken = 1
    blocker = settings.staging_dir / (batch_key(batches[broken], settings) + ".tmp")
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")

    print(f"\ncorpus ready {time.time() - t0:.1f}")
    deploy(prefect_server, tmp_path, raw, out)
    print(f"deployed {time.time() - t0:.1f}")
    api = Api(prefect_server)
    started = time.time()
    flow_run_id = api.start("newsetl-ingest/nightly")
    failed = api.wait(flow_run_id, since=started)
    first = api.task_runs(flow_run_id)
    print(f"failed {time.time() - t0:.1f}")
    print("first attempt:", failed.state_name, dict(Counter(tr.state_name for tr in first)))
    assert failed.state and failed.state_name == "Failed", (failed.state, worker.read_text()[-3000:])
    message = failed.state.message or ""
    # The failure names the batch, the cause with its path, and the dumps involved.
    assert f"extract batch {broken + 1} of {len(batches)} failed" in message, message
    assert "FileExistsError" in message and blocker.name in message, message
    assert batches[broken][0].source_file in message, message
    assert extract_states(first, started) == Counter({"Completed": len(batches) - 1, "Failed": 1})
    # The analyst sees the failure at once in news.duckdb, not only after the next successful run.
    attempts = "SELECT attempt, status, finished_at IS NOT NULL FROM runs ORDER BY attempt"
    assert catalog_rows(out, attempts) == [(1, "failed", True)]

    blocker.unlink()  # the engineer fixes the cause ...
    retried_at = time.time()
    prefect(prefect_server, "flow-run", "retry", str(flow_run_id))  # ... and presses Retry
    done = api.wait(flow_run_id, since=retried_at)
    second = api.task_runs(flow_run_id)
    seen = extract_states(second, retried_at)
    print(f"retried {time.time() - t0:.1f}")
    print("retried attempt:", done.state_name, "extract-batch:", dict(seen))
    print("all task runs after the retry:", sorted((tr.name, tr.state_name) for tr in second))
    assert done.state_name == "Completed", worker.read_text()[-3000:]
    # The batches that had finished come back from their persisted results; only the failed one runs again.
    assert seen == Counter({"Cached": len(batches) - 1, "Completed": 1})
    # Both attempts of the one flow run are on record.
    assert catalog_rows(out, attempts) == [(1, "failed", True), (2, "completed", True)]
    assert {r[0] for r in catalog_rows(out, "SELECT run_id FROM runs")} == {str(flow_run_id)}

    artifacts = api.artifacts(flow_run_id)
    assert {"newsetl-run-summary", "newsetl-progress", "newsetl-data-quality"} <= set(artifacts)
    assert artifacts["newsetl-progress"] == 100
    report = artifacts["newsetl-data-quality"]
    assert f"# Data quality of run {flow_run_id}" in report and "no date" in report and "no_title" in report, report

    # Every article exactly once: the same tables as one clean run over the same dumps.
    run_newsetl({**prefect_server, **RUN_ENV}, "run", "--raw", str(raw), "--out", str(reference))
    print(f"reference {time.time() - t0:.1f}")
    assert table_snapshot(out) == table_snapshot(reference)


def test_serve_refuses_to_run_without_a_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path)  # no profile that could name a server
    done = subprocess.run([*NEWSETL, "serve"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2  # like `newsetl watch`: what to set up, before anything starts
    assert "prefect server start" in done.stderr and "PREFECT_API_URL" in done.stderr
