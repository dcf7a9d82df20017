"""Arrivals the Prefect way, on a real server: `newsetl watch` sends an event once new dumps have settled, the
trigger deployed from prefect.yaml starts a run of the ingestion deployment, a worker runs it. One run per burst,
exactly one follow-up for dumps landing mid-run, never two runs at once, a failed one retried like a nightly one."""

import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort

from newsetl.discovery import DumpFile, batches_for, scan_raw_dir, sha256_of, source_of
from newsetl.generate import generate_corpus
from newsetl.settings import Settings
from newsetl.stage import batch_key
from newsetl.watch import EVENT
from tests.conftest import NEWSETL, ROOT, catalog_rows, run_newsetl, table_snapshot
from tests.test_deploy_retry import RUN_ENV, Api, deploy, extract_states, prefect, worker  # noqa: F401 (a fixture)

DEPLOYMENT = "newsetl-ingest/nightly"
TRIGGER = "newsetl-ingest/nightly on arrival"
ARTICLES = 600  # over 100 files a wave


class Watching:
    """`newsetl watch` in a subprocess, its output lines collected as they come."""

    def __init__(self, env: dict[str, str], raw: Path, settle: float) -> None:
        command = [*NEWSETL, "watch", "--raw", str(raw), "--settle", str(settle), "--poll", "0.2"]
        self.proc = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return code

    def output(self) -> str:
        return "\n".join(self.lines)


def wait_for(ready: Callable[[], Any], what: str, log: Callable[[], str], timeout: float = 150) -> Any:
    """Poll `ready` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log()}"
        time.sleep(0.2)
    return found


def land(incoming: Path, raw: Path, pause: float = 0.01) -> int:
    """Put every file of `incoming` in the same place under `raw`, one by one as a scraper finishes them (a hidden
    name, then a rename)."""
    landed = 0
    for path in sorted(p for p in incoming.rglob("*") if p.is_file()):
        target = raw / path.relative_to(incoming)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target.with_name("." + target.name))
        os.replace(target.with_name("." + target.name), target)
        landed += 1
        time.sleep(pause)
    return landed


def drop(raw: Path, name: str) -> None:
    """One small dump of its own, written under a temporary name and renamed into place."""
    path = raw / "site" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(
        f"{n}\nSaturday 10 September 2016 - 05:{n:02d}\n\n{name} story {n}\n\nStory Code : {900 + n}{len(name)}\n"
        f"What happened in {name}, part {n}: the council met and voted.\n \n"
        for n in range(2)
    )
    path.with_suffix(".tmp").write_text(text)
    os.replace(path.with_suffix(".tmp"), path)


def new_batches(incoming: Path, known: set[str], settings: Settings) -> list[list[DumpFile]]:
    """The extract batches a run makes of the dumps in `incoming` once they are under the raw root, beside dumps
    whose contents (`known`) an earlier run ingested."""
    files: list[DumpFile] = []
    for rel, path, size in scan_raw_dir(incoming)[0]:
        digest = sha256_of(path)
        if digest not in known:
            known.add(digest)
            files.append(DumpFile(str(path), rel, source_of(rel), digest, size))
    return batches_for(files, settings)


class Runs:
    """The flow runs of one deployment created since a moment, oldest first."""

    def __init__(self, api: Api, deployment_id: UUID, since: datetime) -> None:
        self.api = api
        self.deployments = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        self.since = since

    def all(self) -> list[FlowRun]:
        found = self.api.call(
            lambda client: client.read_flow_runs(
                deployment_filter=self.deployments, sort=FlowRunSort.EXPECTED_START_TIME_ASC
            )
        )
        return [run for run in found if run.created and run.created > self.since]

    def at_least(self, count: int) -> list[FlowRun] | None:
        found = self.all()
        return found if len(found) >= count else None


@pytest.mark.slow
@pytest.mark.usefixtures("worker")
def test_dumps_landing_start_deployment_runs_one_per_burst_one_follow_up_and_a_failure_is_retried_like_the_ui(
    prefect_server: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = time.time()
    raw, out, incoming = tmp_path / "raw", tmp_path / "out", tmp_path / "incoming"
    raw.mkdir()
    for name, value in RUN_ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings.for_dirs(raw, out)
    deploy(prefect_server, tmp_path, raw, out)
    api = Api(prefect_server)
    deployment = api.call(lambda client: client.read_deployment_by_name(DEPLOYMENT))

    # `prefect deploy` made the automation: on each landed event, run this deployment.
    (automation,) = api.call(lambda client: client.read_automations_by_name(TRIGGER))
    assert automation.enabled and automation.trigger.expect == {EVENT}
    assert automation.trigger.posture == "Reactive" and automation.trigger.threshold == 1
    assert automation.trigger.match.model_dump()["prefect.resource.id"] == "newsetl.raw.*"
    (action,) = automation.actions
    assert action.type == "run-deployment" and action.deployment_id == deployment.id
    limit, options = deployment.global_concurrency_limit, deployment.concurrency_options
    assert limit and limit.limit == 1 and options and options.collision_strategy == "ENQUEUE"
    print(f"\ndeployed {time.time() - t0:.1f}")

    runs = Runs(api, deployment.id, datetime.now(UTC))
    watching = Watching(prefect_server, raw, settle=1)

    def log() -> str:
        return f"runs: {[(r.name, r.state_name) for r in runs.all()]}\nwatcher:\n{watching.output()}"

    try:
        wait_for(lambda: watching.count("watching") == 1, "the watcher to start", log)

        # A burst of about 100 dumps: one event, one run.
        generate_corpus(incoming / "1", ARTICLES, seed=5)
        landed = land(incoming / "1", raw)
        assert landed > 100
        (first,) = wait_for(lambda: runs.at_least(1), "the burst's run", log)
        print(f"burst landed, run {first.name} {time.time() - t0:.1f}")

        # A dump landing once that run has discovered its files makes exactly one follow-up run; a second one
        # landing before the follow-up has started asks for no other.
        def discovered() -> bool:
            done = [tr for tr in api.task_runs(first.id) if tr.state_name == "Completed"]
            return any(tr.name.startswith("discover-files") for tr in done)

        wait_for(discovered, "the first run's discovery", log)
        drop(raw, "x.txt")
        wait_for(lambda: watching.count(f"event {EVENT} sent") == 2, "the event for x.txt", log)
        drop(raw, "y.txt")
        wait_for(lambda: watching.count(", no event") == 1, "y.txt left to the follow-up", log)
        _, follow_up = wait_for(lambda: runs.at_least(2), "the follow-up", log)
        first_done = api.wait(first.id, since=0)
        second_done = api.wait(follow_up.id, since=0, timeout=180)
        print(f"burst run and follow-up done {time.time() - t0:.1f}")
        assert (first_done.state_name, second_done.state_name) == ("Completed", "Completed"), log()
        assert [r.id for r in runs.all()] == [first.id, follow_up.id], log()
        assert all(r.created_by and r.created_by.type == "AUTOMATION" for r in (first_done, second_done))
        by_run = dict(catalog_rows(out, "SELECT run_id, list(source_file ORDER BY source_file) FROM files GROUP BY 1"))
        assert by_run[str(follow_up.id)] == ["site/x.txt", "site/y.txt"]
        # Never two at once: a follow-up the trigger made while the first ran (the usual case; the trigger's run can
        # come seconds after its event on a busy server) waited for the concurrency slot.
        assert first_done.end_time and second_done.start_time and first_done.end_time <= second_done.start_time
        states = [state.name for state in api.call(lambda client: client.read_flow_run_states(follow_up.id))]
        held = follow_up.created < first_done.end_time
        print(f"follow-up made {'during' if held else 'after'} the first run; its states: {states}")
        assert ("AwaitingConcurrencySlot" in states) == held, states

        # The next day's dumps land; one of their extract batches cannot be staged.
        known = {row[0] for row in catalog_rows(out, "SELECT sha256 FROM files")}
        generate_corpus(incoming / "2", ARTICLES, seed=5, wave=2)
        batches = new_batches(incoming / "2", known, settings)
        assert len(batches) >= 4
        blocker = settings.staging_dir / (batch_key(batches[1], settings) + ".tmp")
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("in the way")
        land(incoming / "2", raw)
        _, _, failing = wait_for(lambda: runs.at_least(3), "the third run", log)
        failed = api.wait(failing.id, since=0)
        print(f"third run failed {time.time() - t0:.1f}")
        assert failed.state_name == "Failed", log()
        assert extract_states(api.task_runs(failing.id), 0) == Counter({"Completed": len(batches) - 1, "Failed": 1})

        blocker.unlink()  # the engineer fixes the cause and presses Retry, as for a nightly run
        retried_at = time.time()
        prefect(prefect_server, "flow-run", "retry", str(failing.id))
        done = api.wait(failing.id, since=retried_at)
        print(f"retried {time.time() - t0:.1f}")
        assert done.state_name == "Completed", log()
        retried = extract_states(api.task_runs(failing.id), retried_at)
        assert retried == Counter({"Cached": len(batches) - 1, "Completed": 1})
        assert len(runs.all()) == 3  # the retry is the same run, and no event made another
    finally:
        code = watching.stop()
    assert code == 0 and watching.output().endswith("stopped"), watching.output()
    assert watching.count(f"event {EVENT} sent") == 3, watching.output()

    # Every dump ingested once: the same tables as clean runs of the same arrivals, the first day's dumps with
    # x and y, then the next day's (a revision's outcome may depend on which day its first version came).
    reference, clean = tmp_path / "reference", tmp_path / "clean"
    for wave in ("1", "2"):
        land(incoming / wave, reference, pause=0)
        if wave == "1":
            drop(reference, "x.txt")
            drop(reference, "y.txt")
        run_newsetl({**prefect_server, **RUN_ENV}, "run", "--raw", str(reference), "--out", str(clean))
    assert table_snapshot(out) == table_snapshot(clean)
    print(f"compared {time.time() - t0:.1f}")
