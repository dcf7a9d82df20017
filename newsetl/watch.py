"""`newsetl watch`: tell Prefect when new dumps have landed in the raw tree; a deployment trigger runs them.

The watcher only decides *when*: once no dump has appeared or grown for `settle` seconds it sends one
`newsetl.dump.landed` event, and the trigger of the deployment newsetl-ingest/nightly (prefect.yaml) turns it into
a flow run that a worker executes like the nightly one: one at a time (the deployment's concurrency limit), its
parameters and history in one place, a failure retried from the UI. A run finds what is new by itself.
"""

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx

from newsetl.discovery import is_dump_name, source_of
from newsetl.settings import Settings

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

# path under the raw root -> (size, mtime_ns): about 300 bytes a file, so 200k dumps stay near 60 MB.
Snapshot = dict[str, tuple[int, int]]
Say = Callable[[str], None]

EVENT = "newsetl.dump.landed"
DEPLOYMENT = "newsetl-ingest/nightly"
# An event whose send failed is sent again after `watch_retry` seconds, doubling per failure up to this: a server
# that is down is not hammered, and one that is back is used within minutes.
MAX_RETRY_SECONDS = 600.0
# The trigger makes its run within seconds, more while a run keeps the server busy; past this the watcher says the
# trigger seems missing.
TRIGGER_TIMEOUT = 120.0
# A run of the deployment that has not started and is due within this many seconds will discover what has just
# landed, so no event is sent for it: this is what keeps the follow-up of a busy run to exactly one. A run held
# by the concurrency limit is put back for 30 s at a time (PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS).
WAITING_HORIZON = timedelta(seconds=60)
# Paths named in an event (the rest are counted): the server refuses events over 1.5 MB.
EVENT_PATHS = 100
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


def landed_event(raw_dir: Path, paths: list[str]) -> dict[str, Any]:
    """The event for dumps that landed under `raw_dir` (paths under it), as the events API takes it."""
    from prefect.events import Event

    sources = sorted({source_of(p) for p in paths})
    event = {
        "event": EVENT,
        "resource": {"prefect.resource.id": f"newsetl.raw.{raw_dir}", "prefect.resource.name": str(raw_dir)},
        "related": [{"prefect.resource.id": f"newsetl.source.{s}", "prefect.resource.role": "source"} for s in sources],
        "payload": {"raw_dir": str(raw_dir), "dumps": len(paths), "sources": sources, "paths": paths[:EVENT_PATHS]},
    }
    # The model gives the event its id and time, and checks it as the server will.
    return Event.model_validate(event).model_dump(mode="json")


@dataclass
class Schedule:
    """When to send an event, fed with what the scans saw and how sends went; no clock of its own."""

    settle: float
    retry: float
    pending: bool = False  # dumps changed since the last event (or since a run was found that will see them)
    last_change: float = float("-inf")
    retry_at: float | None = None
    failures: int = 0

    def saw_change(self, now: float) -> None:
        """A dump appeared or grew: wait for quiet again."""
        self.pending = True
        self.last_change = now

    def due(self, now: float) -> bool:
        """Changes are pending, no dump changed for `settle` seconds, and no back-off is running."""
        quiet = now - self.last_change >= self.settle
        return self.pending and quiet and (self.retry_at is None or now >= self.retry_at)

    def handled(self) -> None:
        # Changes from now on are the next event's: however many files land while a run goes on, one run follows.
        self.pending = False
        self.failures = 0
        self.retry_at = None

    def failed(self, now: float) -> float:
        """The server could not be told: try again after a back-off (returned, in seconds)."""
        self.failures += 1
        delay = min(self.retry * 2 ** (self.failures - 1), MAX_RETRY_SECONDS)
        self.retry_at = now + delay
        return delay


class StopSignals:
    """Notes SIGINT/SIGTERM while installed; the watcher stops at its next turn."""

    def __init__(self) -> None:
        self.count = 0
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


def print_event(message: str) -> None:
    """One line per event, flushed at once so a log reader or a test sees it as it happens."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


def watch_raw_dir(settings: Settings, say: Say = print_event, deployment: str = DEPLOYMENT) -> int:
    """Watch the raw tree and send an event for each settled change until stopped; returns the exit code.

    Needs PREFECT_API_URL (checked by the command) and the deployment on that server; exits 2 without them.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    settings = settings.model_copy(update={"raw_dir": settings.raw_dir.resolve()})
    with get_client(sync_client=True) as client:
        url = client.api_url
        try:
            deployment_id = client.read_deployment_by_name(deployment).id
        except ObjectNotFound:
            say(f"no deployment {deployment} on {url}: deploy prefect.yaml first (`prefect deploy --all`)")
            return 2
        except httpx.HTTPError as exc:
            say(f"cannot reach the Prefect server at {url} ({exc}): start it, or fix PREFECT_API_URL")
            return 2
        with StopSignals() as signals:
            return Watcher(settings, say, signals, Deployment(client, deployment, deployment_id)).loop()


class Deployment:
    """The watcher's few calls to the Prefect API: tell it dumps landed, and find the deployment's coming runs."""

    def __init__(self, client: "SyncPrefectClient", name: str, deployment_id: UUID) -> None:
        self.client = client
        self.name = name
        self.id = deployment_id

    def send(self, event: dict[str, Any]) -> None:
        # A POST the server answers, not `emit_event`: that hands the event to a background thread, which drops
        # it with a log line when the server is away; the watcher must know, to send it again.
        self.client.request("POST", "/events", json=[event])

    def first_run(self, waiting: bool, expected_after: datetime | None = None) -> "FlowRun | None":
        """The deployment's first run due to start before the horizon: one that has not started (`waiting`), or
        any expected to start after `expected_after` (the run a trigger made for an event, in whatever state)."""
        from prefect.client.schemas.filters import FlowRunFilter
        from prefect.client.schemas.sorting import FlowRunSort

        before = datetime.now(UTC) + WAITING_HORIZON
        not_started = {"type": {"any_": ["SCHEDULED", "PENDING"]}}
        flow_run_filter = {
            "deployment_id": {"any_": [self.id]},
            "state": not_started if waiting else None,
            "expected_start_time": {"after_": expected_after, "before_": before},
        }
        found = self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter.model_validate(flow_run_filter),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=1,
        )
        return found[0] if found else None


class Watcher:
    """The watch loop's state: the last snapshot, the schedule, the event whose run is awaited, the signals."""

    def __init__(self, settings: Settings, say: Say, signals: StopSignals, deployment: Deployment) -> None:
        self.settings = settings
        self.say = say
        self.signals = signals
        self.deployment = deployment
        self.schedule = Schedule(settings.watch_settle, settings.watch_retry)
        self.snapshot = scan_dumps(settings.raw_dir)
        self.changed: set[str] = set()  # dumps changed since the last event
        self.asked_at: datetime | None = None  # an event was sent then, and its run is not seen yet

    def loop(self) -> int:
        s = self.settings
        say = self.say
        say(
            f"watching {s.raw_dir} (settle {s.watch_settle:g}s, poll {s.watch_poll:g}s): new dumps start runs of "
            f"{self.deployment.name} through its trigger"
        )
        if self.snapshot:
            # Simplest way to catch dumps that landed while nobody watched: one run, cheap when nothing is new.
            say(f"{len(self.snapshot)} dumps already there: one run ingests those no run has ingested")
            self.changed.update(self.snapshot)
            self.schedule.saw_change(time.monotonic())
        while not self.signals.count:
            scan_seconds = self.rescan()
            try:
                if self.asked_at is not None:
                    self.look_for_asked_run()
                if self.schedule.due(time.monotonic()):
                    self.ask_for_run()
            except httpx.HTTPError as exc:  # the server is away or refused: keep watching, try again later
                delay = self.schedule.failed(time.monotonic())
                url = self.deployment.client.api_url
                say(f"could not reach {url} ({type(exc).__name__}: {exc}); trying again in {delay:g}s")
            # A large tree's scan costs real CPU (about 1 s for 200k dumps here): wait four times as long as it
            # took, so the watcher takes at most a fifth of a core from the runs.
            self.signals.sleep(max(s.watch_poll, SCAN_BACKOFF * scan_seconds))
        say("stopped")
        return 0

    def rescan(self) -> float:
        """Scan the tree and feed what changed to the schedule; returns how long the scan took."""
        began = time.monotonic()
        current = scan_dumps(self.settings.raw_dir)
        scan_seconds = time.monotonic() - began
        added, modified = changed_paths(self.snapshot, current)
        self.snapshot = current
        if added or modified:
            self.schedule.saw_change(time.monotonic())
            self.changed.update(added + modified)
            parts = [f"{len(added)} new" if added else "", f"{len(modified)} changed" if modified else ""]
            what = " and ".join(p for p in parts if p)
            settle = self.settings.watch_settle
            self.say(f"seen {what} dumps ({examples(added + modified)}): event after {settle:g}s without changes")
        return scan_seconds

    def ask_for_run(self) -> None:
        """The tree is quiet: send the event, unless a run that has not started yet will see these dumps."""
        paths = sorted(self.changed)
        what = f"{len(paths)} dumps ({examples(paths)})"
        if self.asked_at is not None:
            self.say(f"{what}: the run asked for at {self.asked_at:%H:%M:%S} will ingest them too, no event")
        elif waiting := self.deployment.first_run(waiting=True):
            self.say(
                f"{what}: run {waiting.name} ({waiting.state_name}) has not started and will ingest them, no event"
            )
        else:
            sent_at = datetime.now(UTC)
            self.deployment.send(landed_event(self.settings.raw_dir, paths))
            self.asked_at = sent_at
            self.say(f"event {EVENT} sent for {what}")
        self.changed.clear()
        self.schedule.handled()

    def look_for_asked_run(self) -> None:
        """Report the run the trigger made for the last event, or say when none came."""
        assert self.asked_at is not None
        # A second of slack: the server stamps the run with its own clock.
        run = self.deployment.first_run(waiting=False, expected_after=self.asked_at - timedelta(seconds=1))
        if run is not None:
            self.say(f"run {run.name} of {self.deployment.name} made by the trigger ({run.state_name})")
            self.asked_at = None
        elif datetime.now(UTC) - self.asked_at > timedelta(seconds=TRIGGER_TIMEOUT):
            self.say(
                f"warning: no run of {self.deployment.name} came {TRIGGER_TIMEOUT:g}s after the event: deploy "
                "prefect.yaml again (`prefect deploy --all`) to create its trigger, and check that the automation is "
                "enabled (UI: Automations); the next new dump sends another event"
            )
            self.asked_at = None
