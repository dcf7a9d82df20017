"""`newsetl watch`: what it sees in the raw tree and when it sends its event (literal timelines), and what it
says without a server or a deployment. The events starting deployment runs are in test_arrivals.py."""

import os
import subprocess
from pathlib import Path

from prefect.settings import PREFECT_API_URL, temporary_settings

from newsetl.settings import Settings
from newsetl.watch import (
    EVENT,
    EVENT_PATHS,
    MAX_RETRY_SECONDS,
    Schedule,
    changed_paths,
    landed_event,
    scan_dumps,
    watch_raw_dir,
)
from tests.conftest import NEWSETL, ROOT

# ---- the raw tree, as the watcher sees it


def test_scan_takes_the_names_discovery_takes(tmp_path: Path) -> None:
    for name in ["a/1.txt", "a/d/2.txt.gz", "3.txt", "a/4.txt.part", "a/5.tmp", "a/.6.txt", ".hidden/7.txt", "a/8.csv"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x" * len(name))
    snapshot = scan_dumps(tmp_path)
    assert sorted(snapshot) == ["3.txt", "a/1.txt", "a/d/2.txt.gz"]
    assert snapshot["a/d/2.txt.gz"][0] == len("a/d/2.txt.gz")


def test_changes_are_new_or_grown_files_not_removed_ones() -> None:
    before = {"a.txt": (10, 1), "b.txt": (10, 1), "gone.txt": (5, 1)}
    after = {"a.txt": (10, 1), "b.txt": (20, 2), "c.txt": (1, 3)}
    assert changed_paths(before, after) == (["c.txt"], ["b.txt"])
    assert changed_paths(after, after) == ([], [])


# ---- the schedule: literal timelines, in seconds


def test_a_burst_becomes_one_event_after_the_tree_is_quiet() -> None:
    schedule = Schedule(settle=2, retry=30)
    for t in (0.0, 0.5, 1.0, 2.5):  # files keep landing (or growing)
        schedule.saw_change(t)
        assert not schedule.due(t + 1.9)
    assert schedule.due(4.5)
    schedule.handled()
    assert not schedule.due(100)  # nothing new since: no second event


def test_files_landing_after_an_event_make_exactly_one_more() -> None:
    schedule = Schedule(settle=2, retry=30)
    schedule.saw_change(0)
    schedule.handled()
    for t in (3.0, 4.0, 5.0):
        schedule.saw_change(t)
    assert not schedule.due(6.9) and schedule.due(7)
    schedule.handled()
    assert not schedule.due(1000)


def test_an_event_the_server_did_not_take_is_sent_again_after_a_doubling_back_off() -> None:
    schedule = Schedule(settle=2, retry=30)
    schedule.saw_change(0)
    assert schedule.failed(10) == 30
    assert not schedule.due(39) and schedule.due(40)
    assert schedule.failed(40) == 60
    for n in range(10):
        delay = schedule.failed(100 + n)
    assert delay == MAX_RETRY_SECONDS
    schedule.handled()
    assert schedule.failures == 0 and schedule.retry_at is None


def test_the_event_names_the_raw_tree_its_sources_and_at_most_a_hundred_paths() -> None:
    paths = [f"site/{n:03d}.txt" for n in range(150)] + ["other/a.txt", "root.txt"]
    event = landed_event(Path("/data/raw"), paths)
    assert event["event"] == EVENT == "newsetl.dump.landed"
    assert event["resource"]["prefect.resource.id"] == "newsetl.raw./data/raw"
    assert [r["prefect.resource.id"] for r in event["related"]] == [
        "newsetl.source.other",
        "newsetl.source.site",
        "newsetl.source.unknown",
    ]
    payload = event["payload"]
    assert payload["dumps"] == 152 and len(payload["paths"]) == EVENT_PATHS and payload["paths"][0] == paths[0]
    assert event["id"] and event["occurred"]


# ---- what it needs: a Prefect server and the deployment on it


def test_without_a_server_it_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path)  # no profile that could name a server
    command = [*NEWSETL, "watch", "--raw", str(tmp_path)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert "prefect server start" in done.stderr and "PREFECT_API_URL" in done.stderr


def test_without_the_deployment_it_says_what_to_deploy_and_exits_2(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    said: list[str] = []
    with temporary_settings({PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}):
        code = watch_raw_dir(Settings.for_dirs(tmp_path), say=said.append, deployment="newsetl-ingest/absent")
    assert code == 2
    assert said == [
        f"no deployment newsetl-ingest/absent on {prefect_server['PREFECT_API_URL']}/: deploy "
        "prefect.yaml first (`prefect deploy --all`)"
    ]
