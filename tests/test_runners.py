"""The default extract pool: workers forked from a server that has imported what they need, whose logs still
reach the Prefect API as those of Prefect's own pool do."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

from prefect.client.schemas.objects import Log

from flows.runners import ExtractPool
from newsetl.settings import Settings
from newsetl.tables import query
from tests.conftest import run_newsetl


def collections_loaded() -> bool:
    from prefect._internal.plugins import collections

    return collections._collections is not None


def test_the_extract_workers_are_forked_from_the_worker_server() -> None:
    with ExtractPool(max_workers=1) as pool:
        assert pool._executor is not None
        parent = pool._executor.submit(os.getppid).result(timeout=120)
        # The server has done what each worker would do first (flows/worker_preload.py).
        assert pool._executor.submit(collections_loaded).result(timeout=120)
    # A spawned worker is a child of the flow's process; a forked one, of the server.
    assert parent != os.getpid()


# Run in a process of its own: this one's server is shared by the other tests.
STOP_SCRIPT = """
import time
from multiprocessing import forkserver
from pathlib import Path
import flows  # noqa: F401 (names what the server preloads)
from newsetl.runtime import start_worker_server, stop_worker_server
start_worker_server()
pid = forkserver._forkserver._forkserver_pid
stop_worker_server()
for _ in range(1000):
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    if state == "Z":
        break
    time.sleep(0.01)
print(state)
"""


def test_a_stopped_worker_server_is_gone() -> None:
    # Killed: a zombie until its parent exits. Left alone, it would live as long as its parent.
    done = subprocess.run([sys.executable, "-c", STOP_SCRIPT], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "Z", done.stderr


async def flow_run_logs(env: dict[str, str], run_id: str) -> list[Log]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}):
        async with get_client() as client:
            return await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(run_id)])))


def test_the_extract_workers_logs_reach_the_prefect_api(
    prefect_server: dict[str, str], sample_tree: Path, tmp_path: Path
) -> None:
    run_newsetl(
        {**prefect_server, "PREFECT_LOGGING_LEVEL": "INFO"}, "run", "--raw", str(sample_tree), "--out", str(tmp_path)
    )
    run_id = query(Settings(out_dir=tmp_path), "SELECT run_id FROM {runs}").to_pylist()[0]["run_id"]
    logs = asyncio.run(flow_run_logs(prefect_server, run_id))
    extracted = [log.message for log in logs if log.task_run_id and log.message.startswith("extracted ")]
    assert extracted and all(" records, " in m for m in extracted), [log.message for log in logs]
