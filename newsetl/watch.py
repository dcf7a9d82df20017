"""`newsetl watch`: start an ingestion soon after new dumps land in the raw tree, never two at a time.

The watcher only decides *when* to run: a run finds what is new by itself (it hashes every dump and skips
ingested ones). Runs are subprocesses (`newsetl run`), so a crash or the memory of a run never reaches the
watcher, and they reach the same Prefect server through the same environment.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from newsetl.settings import Settings
from tasks.discover import is_dump_name

# path under the raw root -> (size, mtime_ns): about 300 bytes a file, so 200k dumps stay near 60 MB.
Snapshot = dict[str, tuple[int, int]]
Say = Callable[[str], None]

# A failing run is retried after `watch_retry` seconds, doubling per failure up to this: a broken output
# directory is not hammered all night, and a fix is still picked up within minutes.
MAX_RETRY_SECONDS = 600.0
# After the second stop signal the run gets this long to die of SIGTERM before it is killed.
KILL_AFTER_SECONDS = 20.0
EXAMPLES = 3
# Seconds between scans are at least this many times the last scan's duration (see Watcher.loop).
SCAN_BACKOFF = 4


def scan_dumps(raw_dir: Path) -> Snapshot:
    """Size and mtime of every dump under the raw root, by path under it (`/`-separated).

    Only names `discover-files` would take count, so a scraper's `*.part` file changing is no event; hidden
    folders are skipped as discovery skips them. A file vanishing mid-scan is simply not in this snapshot.
    """
    found: Snapshot = {}
    root = str(raw_dir)
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    add_entry(entry, root, found, folders)
        except OSError:  # the folder vanished or is unreadable: the run will report what it cannot read
            continue
    return found


def add_entry(entry: os.DirEntry[str], root: str, found: Snapshot, folders: list[str]) -> None:
    """Queue a folder for scanning, or record a dump's size and mtime (only dumps are stat'ed: cheaper)."""
    try:
        if entry.is_dir(follow_symlinks=False):
            if not entry.name.startswith("."):
                folders.append(entry.path)
        elif is_dump_name(entry.name) and entry.is_file():
            st = entry.stat()
            found[entry.path[len(root) + 1 :].replace(os.sep, "/")] = (st.st_size, st.st_mtime_ns)
    except OSError:
        pass  # removed between listing and stat


def changed_paths(before: Snapshot, after: Snapshot) -> tuple[list[str], list[str]]:
    """Dumps that appeared, and dumps whose size or mtime changed (a removed dump needs no run)."""
    added: list[str] = []
    modified: list[str] = []
    for path, signature in after.items():
        old = before.get(path)
        if old is None:
            added.append(path)
        elif old != signature:
            modified.append(path)
    return sorted(added), sorted(modified)


def examples(paths: list[str]) -> str:
    shown = ", ".join(paths[:EXAMPLES])
    return shown + (f" and {len(paths) - EXAMPLES} more" if len(paths) > EXAMPLES else "")


@dataclass
class Schedule:
    """When to start a run, fed with what the scans saw and how runs ended; no clock or process of its own."""

    settle: float
    retry: float
    pending: bool = False  # dumps changed since the last run started (or a failed run left work undone)
    last_change: float = float("-inf")
    retry_at: float | None = None
    failures: int = 0

    def saw_change(self, now: float) -> None:
        """A dump appeared or grew: wait for quiet again, and retry a failed run without its back-off."""
        self.pending = True
        self.last_change = now
        self.retry_at = None

    def due(self, now: float) -> bool:
        """Work is pending, no dump changed for `settle` seconds, and no back-off is running."""
        quiet = now - self.last_change >= self.settle
        return self.pending and quiet and (self.retry_at is None or now >= self.retry_at)

    def run_started(self) -> None:
        # Changes from now on are the follow-up's: however many files land during a run, one run follows.
        self.pending = False

    def run_finished(self, ok: bool, now: float) -> float | None:
        """Record how the run ended; after a failure returns the back-off in seconds."""
        if ok:
            self.failures = 0
            self.retry_at = None
            return None
        self.failures += 1
        self.pending = True
        delay = min(self.retry * 2 ** (self.failures - 1), MAX_RETRY_SECONDS)
        self.retry_at = now + delay
        return delay


@dataclass
class Run:
    """One `newsetl run` subprocess; its output goes to a temporary file, read back only to report it."""

    proc: subprocess.Popen[bytes]
    output: IO[bytes]
    started: float
    growing: list[str] = field(default_factory=list)  # dumps seen changing while this run went on
    interrupted: float | None = None  # when it was sent SIGTERM


def start_run(settings: Settings) -> Run:
    """Start `newsetl run` on the same directories, with the same environment (and Prefect server)."""
    output = tempfile.TemporaryFile()  # noqa: SIM115  # outlives this function: closed when the run is reported
    command = [sys.executable, "-m", "newsetl", "run", "--raw", str(settings.raw_dir), "--out", settings.resolved()]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        # Wide lines, so the run's one-line error is one line here too (rich wraps at 80 columns in a file).
        env={**os.environ, "COLUMNS": "400"},
        # Own process group: Ctrl-C reaches the watcher only, which then decides whether the run finishes.
        start_new_session=True,
    )
    return Run(proc, output, time.monotonic())


def failure_reason(output: IO[bytes]) -> str:
    """The run's own one-line error (`newsetl run failed: ...`), else the last line it wrote."""
    output.seek(0, os.SEEK_END)
    output.seek(max(0, output.tell() - 16384))
    lines = [line.strip() for line in output.read().decode(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("newsetl run failed:"):
            return line.removeprefix("newsetl run failed:").strip()
    return lines[-1] if lines else "no output"


def run_summary(settings: Settings) -> str:
    """What the last run did, from the `runs` table of the catalog it just rebuilt."""
    import duckdb  # imported late: only needed once a run has finished

    try:
        con = duckdb.connect(str(settings.catalog_path), read_only=True)
        try:
            row = con.execute(
                "SELECT run_id, files_new, coalesce(records, 0), coalesce(articles_new, 0), "
                "coalesce(articles_revised, 0), coalesce(duplicates, 0), coalesce(quarantined, 0) "
                "FROM runs WHERE status = 'completed' ORDER BY finished_at DESC LIMIT 1"
            ).fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        return f"(no summary: {exc})"
    if not row:
        return "(no completed run in the catalog)"
    run_id, files, records, new, revised, dups, quarantined = row[0]
    return (
        f"run {run_id}: {files} files new, {records} records, {new} articles new, {revised} revised, "
        f"{dups} duplicates, {quarantined} quarantined"
    )


class StopSignals:
    """Counts SIGINT/SIGTERM while installed: the first lets the current run finish, the second interrupts it."""

    def __init__(self) -> None:
        self.count = 0
        self.reported = 0
        self.wake = threading.Event()
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        # Only set flags here: printing from a handler can collide with a print of the main loop.
        self.count += 1
        self.wake.set()

    def sleep(self, seconds: float) -> None:
        """Wait between scans; a stop signal ends the wait early."""
        self.wake.wait(seconds)
        self.wake.clear()


def stamp(message: str) -> None:
    """One line per event, flushed at once so a log reader or a test sees it as it happens."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


def watch_raw_dir(settings: Settings, once: bool = False, say: Say = stamp) -> int:
    """Watch the raw tree and run ingestions until stopped; returns the exit code.

    With `once`, wait until the tree is quiet, run once if it holds any dump, and return that run's exit code.
    """
    # model_copy does not validate: a local output must stay a Path (a str is an object-store URL).
    out = settings.out_dir if isinstance(settings.out_dir, str) else settings.out_dir.resolve()
    settings = settings.model_copy(update={"raw_dir": settings.raw_dir.resolve(), "out_dir": out})
    if not settings.raw_dir.is_dir():
        say(f"raw-dump directory {settings.raw_dir} does not exist: create it or pass --raw DIR")
        return 2
    with StopSignals() as signals:
        return Watcher(settings, once, say, signals).loop()


class Watcher:
    """The watch loop's state: the last snapshot, the schedule, the run going on, the stop signals."""

    def __init__(self, settings: Settings, once: bool, say: Say, signals: StopSignals) -> None:
        self.settings = settings
        self.once = once
        self.say = say
        self.schedule = Schedule(settings.watch_settle, settings.watch_retry)
        self.run: Run | None = None
        self.last_code = 0
        self.signals = signals
        self.snapshot = scan_dumps(settings.raw_dir)

    def loop(self) -> int:
        s = self.settings
        say = self.say
        say(f"watching {s.raw_dir} (settle {s.watch_settle:g}s, poll {s.watch_poll:g}s), runs write to {s.out_dir}")
        if self.snapshot:
            # Simplest way to catch dumps that landed while nobody watched: one run, cheap when nothing is new.
            say(f"{len(self.snapshot)} dumps already there: one run ingests those no run has ingested")
            self.schedule.saw_change(time.monotonic())
        elif self.once:
            say("no dumps: nothing to run")
            return 0
        while True:
            self.handle_signals()
            if self.run is not None and self.collect_run():
                return self.last_code  # --once: its run is over
            if self.signals.count and self.run is None:
                say("stopped")
                return self.last_code if self.once else 0
            scan_seconds = self.rescan()
            if self.run is None and not self.signals.count and self.schedule.due(time.monotonic()):
                self.begin_run()
            # A large tree's scan costs real CPU (about 1 s for 200k dumps here): wait four times as long as it
            # took, so the watcher takes at most a fifth of a core from the runs it starts.
            self.signals.sleep(max(s.watch_poll, SCAN_BACKOFF * scan_seconds))

    def rescan(self) -> float:
        """Scan the tree and feed what changed to the schedule; returns how long the scan took."""
        began = time.monotonic()
        current = scan_dumps(self.settings.raw_dir)
        scan_seconds = time.monotonic() - began
        added, modified = changed_paths(self.snapshot, current)
        self.snapshot = current
        if not (added or modified):
            return scan_seconds
        if not (self.once and self.run is not None):
            self.schedule.saw_change(time.monotonic())
        parts = [f"{len(added)} new" if added else "", f"{len(modified)} changed" if modified else ""]
        what = " and ".join(p for p in parts if p)
        if self.run is not None:
            self.run.growing.extend(modified)
            after = "exit after this run" if self.once else "one more run follows this one"
            self.say(f"seen {what} dumps during the run ({examples(added + modified)}): {after}")
        else:
            settle = self.settings.watch_settle
            self.say(f"seen {what} dumps ({examples(added + modified)}): run after {settle:g}s without changes")
        return scan_seconds

    def begin_run(self) -> None:
        self.run = start_run(self.settings)
        self.schedule.run_started()
        self.say(f"run started (pid {self.run.proc.pid}): newsetl run --raw {self.settings.raw_dir}")

    def collect_run(self) -> bool:
        """Report the run if it ended; True when the watcher should exit now (--once)."""
        assert self.run is not None
        run = self.run
        code = run.proc.poll()
        if code is None:
            self.kill_if_stuck(run)
            return False
        self.run = None
        seconds = time.monotonic() - run.started
        self.last_code = code
        if code == 0:
            self.schedule.run_finished(True, time.monotonic())
            self.say(f"run finished (exit 0, {seconds:.1f}s): {run_summary(self.settings)}")
        elif run.interrupted is not None:
            self.say(f"run interrupted (exit {code}): the next run finishes its work without redoing it")
        else:
            self.report_failure(run, code, seconds)
        run.output.close()
        if run.growing:
            # The run may have hashed such a file half-written; its complete bytes are a new version that
            # the next run ingests. Writing `x.txt.part` and renaming it avoids both.
            self.say(
                f"warning: {len(run.growing)} dumps were still being written during the run "
                f"({examples(sorted(set(run.growing)))}): it may have ingested part of them; the next run ingests "
                "their complete version. Scrapers should write *.part and rename when done."
            )
        return self.once

    def report_failure(self, run: Run, code: int, seconds: float) -> None:
        delay = self.schedule.run_finished(False, time.monotonic())
        reason = failure_reason(run.output)
        then = "" if self.once else f"; retrying in {delay:g}s, or as soon as a new dump arrives"
        self.say(
            f"run failed (exit {code}, {seconds:.1f}s): {reason} -- nothing half-done is published; fix the cause{then}"
        )

    def handle_signals(self) -> None:
        """Say what a new stop signal does; on the second one, interrupt the run."""
        signals = self.signals
        if signals.count == signals.reported:
            return
        signals.reported = signals.count
        if self.run is None:
            return
        if signals.count == 1:
            self.say("stopping once the current run finishes (signal again to interrupt it; the next run recovers)")
        elif self.run.interrupted is None:
            self.say("interrupting the current run")
            self.run.interrupted = time.monotonic()
            signal_group(self.run.proc, signal.SIGTERM)

    def kill_if_stuck(self, run: Run) -> None:
        if run.interrupted is not None and time.monotonic() - run.interrupted > KILL_AFTER_SECONDS:
            signal_group(run.proc, signal.SIGKILL)


def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the run and its extract workers (its own process group)."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, sig)
