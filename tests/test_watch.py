"""`newsetl watch`: when it runs (the schedule, on literal timelines) and what it does to real dumps under a
real Prefect server: bursts batched, half-written files waited for, one run at a time, failures survived."""

import io
import itertools
import os
import signal
import subprocess
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from newsetl.settings import Settings
from newsetl.watch import MAX_RETRY_SECONDS, Schedule, changed_paths, failure_reason, scan_dumps, watch_raw_dir
from tests.conftest import NEWSETL, ROOT, catalog_rows

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


def test_a_burst_becomes_one_run_after_the_tree_is_quiet() -> None:
    schedule = Schedule(settle=2, retry=30)
    for t in (0.0, 0.5, 1.0, 2.5):  # files keep landing (or growing)
        schedule.saw_change(t)
        assert not schedule.due(t + 1.9)
    assert schedule.due(4.5)
    schedule.run_started()
    assert not schedule.due(100)  # nothing new since: no second run


def test_files_landing_during_a_run_make_exactly_one_follow_up() -> None:
    schedule = Schedule(settle=2, retry=30)
    schedule.saw_change(0)
    schedule.run_started()
    for t in (3.0, 4.0, 5.0):  # during the run; the loop does not start a run while one is going
        schedule.saw_change(t)
    schedule.run_finished(True, 20)
    assert schedule.due(20)
    schedule.run_started()
    schedule.run_finished(True, 30)
    assert not schedule.due(1000)


def test_a_failed_run_is_retried_after_a_doubling_back_off_or_at_the_next_change() -> None:
    schedule = Schedule(settle=2, retry=30)
    schedule.saw_change(0)
    schedule.run_started()
    assert schedule.run_finished(False, 10) == 30
    assert not schedule.due(39) and schedule.due(40)
    schedule.run_started()
    assert schedule.run_finished(False, 50) == 60
    schedule.saw_change(55)  # a new dump: retry once it has settled, without waiting for the back-off
    assert schedule.due(57)
    for n in range(10):
        schedule.run_started()
        delay = schedule.run_finished(False, 100 + n)
    assert delay == MAX_RETRY_SECONDS
    schedule.run_started()
    assert schedule.run_finished(True, 200) is None and schedule.failures == 0


def test_the_failure_reported_is_the_runs_own_message() -> None:
    output = io.BytesIO(
        b"Traceback ...\nNotADirectoryError: x\nnewsetl run failed: NotADirectoryError: [Errno 20] Not a directory: "
        b"'/o/_state'\nNothing half-done is published: fix the cause above and run again.\n"
    )
    assert failure_reason(output) == "NotADirectoryError: [Errno 20] Not a directory: '/o/_state'"  # type: ignore[arg-type]
    assert failure_reason(io.BytesIO(b"Killed\n")) == "Killed"  # type: ignore[arg-type]


def test_once_on_an_empty_tree_exits_without_a_run(tmp_path: Path) -> None:
    said: list[str] = []
    settings = Settings.for_dirs(tmp_path, tmp_path / "out")
    assert watch_raw_dir(settings, once=True, say=said.append) == 0
    assert said[-1] == "no dumps: nothing to run" and not (tmp_path / "out").exists()
    assert watch_raw_dir(Settings.for_dirs(tmp_path / "missing"), say=said.append) == 2


# ---- the real command, under a real Prefect server


def dump_text(name: str, first: int, count: int) -> str:
    """`count` records (numbered from `first`) whose titles, codes and bodies no other record shares."""
    return "".join(
        f"{n}\nSaturday 10 September 2016 - 05:{n % 60:02d}\n\n{name} story {n}\n\n"
        f"Story Code : {zlib.crc32(f'{name}/{n}'.encode())}\n"
        f"What happened in {name}, part {n}: the council met and voted on the {n}th proposal.\n \n"
        f"Residents of {name} said record {n} was not the last word.\n"
        for n in range(first, first + count)
    )


def drop(raw: Path, name: str, records: int = 2) -> None:
    """Put a complete dump in place as a careful scraper does: write a temporary name, then rename."""
    path = raw / "site" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(dump_text(name, 0, records))
    os.replace(temp, path)


class Watching:
    """`newsetl watch` in a subprocess, its output lines collected as they come."""

    def __init__(self, env: dict[str, str], raw: Path, out: Path, settle: float = 1.5) -> None:
        command = [*NEWSETL, "watch", "--raw", str(raw), "--out", str(out), "--settle", str(settle), "--poll", "0.2"]
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

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc.poll() is None, f"the watcher exited while waiting for {what}:\n" + self.output()
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n" + self.output()
            time.sleep(0.1)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=120)
        self.reader.join(timeout=10)
        return code

    def output(self) -> str:
        return "\n".join(self.lines)


def runs_of(out: Path) -> list[tuple]:
    return catalog_rows(out, "SELECT started_at, finished_at, status FROM runs ORDER BY started_at")


@pytest.mark.slow
def test_watch_ingests_bursts_slow_writes_and_renames_once_each_one_run_at_a_time(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    watching = Watching(prefect_server, raw, out, settle=2)
    try:
        watching.wait_for(lambda: watching.count("watching") == 1, "the watcher to start")
        # One dump written in appends (the tree is never quiet for 2 s until it is complete), a burst in the
        # middle of it, and a scraper's `.part` file renamed into place at the end: all in one run.
        slow = raw / "site" / "slow.txt"
        part = raw / "site" / "x.txt.part"
        slow.parent.mkdir()
        expected = {"site/slow.txt": 5, "site/x.txt": 5}
        for n in range(5):
            with slow.open("a") as fh:
                fh.write(dump_text("slow", n, 1))
            with part.open("a") as fh:
                fh.write(dump_text("x", n, 1))
            if n == 2:
                for name in ("a1.txt", "a2.txt", "a3.txt"):
                    drop(raw, name, records=3)
                    expected[f"site/{name}"] = 3
            time.sleep(0.4)
        os.replace(part, raw / "site" / "x.txt")
        watching.wait_for(lambda: watching.count("run started") == 1, "the first run")
        for name in ("b1.txt", "b2.txt", "b3.txt"):  # a burst during that run: exactly one follow-up run
            drop(raw, name)
            expected[f"site/{name}"] = 2
        watching.wait_for(lambda: watching.count("run finished (exit 0") == 2, "the follow-up run")
        assert watching.stop() == 0
    finally:
        if watching.proc.poll() is None:
            watching.proc.kill()
    log = watching.output()
    assert "one more run follows this one" in log and log.endswith("stopped"), log
    assert "warning" not in log and "run failed" not in log, log

    # Every dump ingested exactly once, whole, and every record accounted for once.
    files = catalog_rows(out, "SELECT source_file, records FROM files ORDER BY source_file")
    assert dict(files) == expected and len(files) == len(expected)
    total = catalog_rows(
        out,
        "SELECT (SELECT count(*) FROM articles) + (SELECT count(*) FROM duplicates) "
        "+ (SELECT count(*) FROM quarantine WHERE record_no IS NOT NULL)",
    )[0][0]
    places = catalog_rows(
        out,
        "SELECT count(DISTINCT (source_file, record_no)) FROM (SELECT source_file, record_no FROM articles "
        "UNION ALL SELECT source_file, record_no FROM duplicates "
        "UNION ALL SELECT source_file, record_no FROM quarantine WHERE record_no IS NOT NULL)",
    )[0][0]
    assert total == places == sum(expected.values())

    # Two runs for eight files, one after the other.
    runs = runs_of(out)
    assert [status for *_, status in runs] == ["completed"] * 2 == ["completed"] * watching.count("run started")
    for (_, finished, _), (next_started, _, _) in itertools.pairwise(runs):
        assert finished <= next_started


@pytest.mark.slow
def test_watch_survives_a_failing_run_and_retries_once_fixed(prefect_server: dict[str, str], tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    drop(raw, "a.txt")
    out.write_text("a file where the output directory should be")  # every run fails until it is removed
    watching = Watching({**prefect_server, "NEWSETL_WATCH_RETRY": "2"}, raw, out, settle=0.5)
    try:
        watching.wait_for(lambda: watching.count("run failed") >= 1, "the failing run")
        out.unlink()
        fixed_at = len(watching.lines)
        # The back-off retries without any new dump. Stop while that run goes on: it finishes, then the watcher.
        watching.wait_for(lambda: any("run started" in line for line in watching.lines[fixed_at:]), "the retry")
        watching.proc.send_signal(signal.SIGTERM)
        code = watching.proc.wait(timeout=120)
        watching.reader.join(timeout=10)
    finally:
        if watching.proc.poll() is None:
            watching.proc.kill()
    log = watching.output()
    assert code == 0, log
    failure = next(line for line in log.splitlines() if "run failed" in line)
    assert "out" in failure and "retrying in 2s" in failure, failure
    assert "stopping once the current run finishes" in log and "run finished (exit 0" in log, log
    assert log.endswith("stopped"), log
    assert catalog_rows(out, "SELECT source_file, records FROM files") == [("site/a.txt", 2)]
    assert [status for *_, status in runs_of(out)] == ["completed"]
