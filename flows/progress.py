"""What a run shows in the Prefect UI while it runs: a progress bar, and failed extract batches named by their files."""

from collections.abc import Sequence
from typing import cast
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture, as_completed

from newsetl.records import DumpFile
from newsetl.settings import Settings

# Share of the progress bar each stage ends at: extraction is most of a run's time.
DISCOVERED, EXTRACTED, PUBLISHED = 10.0, 80.0, 95.0
# Files of a failed batch named in the failure (a batch can hold hundreds).
NAMED_FILES = 5


class Progress:
    """The run's progress artifact (key `newsetl-progress`): one bar in the UI, moved as stages finish."""

    def __init__(self, settings: Settings) -> None:
        created = create_progress_artifact(
            0.0, key="newsetl-progress", description=f"waiting for the lock on {settings.out_dir}"
        )
        self.artifact_id = cast(UUID, created)  # called from sync code: Prefect returns the id, not a coroutine

    def update(self, percent: float, what: str) -> None:
        update_progress_artifact(self.artifact_id, round(percent, 1), description=what)


class ExtractFailed(RuntimeError):
    """An extract batch failed even after its retries."""


def staged_dirs(futures: Sequence[PrefectFuture[str]], batches: list[list[DumpFile]], progress: Progress) -> list[str]:
    """Wait for every extract batch, moving the progress bar as each finishes; the staged folders in batch
    (ingestion) order. Every batch finishes, so a retry redoes only the failed ones; the first failure is then
    raised naming the files of its batch, the input an engineer may have to fix or remove."""
    index = {id(f): i for i, f in enumerate(futures)}
    failed: dict[int, Exception] = {}
    for done, future in enumerate(as_completed(list(futures)), start=1):
        try:
            future.result()  # the final state, unlike `future.state`, which the API may not have caught up with
        except Exception as exc:
            failed[index[id(future)]] = exc
        share = done / len(futures)
        progress.update(DISCOVERED + share * (EXTRACTED - DISCOVERED), f"extracted {done} of {len(futures)} batches")
    if failed:
        first = min(failed)
        message = failure_message(first, len(futures), len(failed), batches[first], failed[first])
        raise ExtractFailed(message) from failed[first]
    return [f.result() for f in futures]


def failure_message(number: int, total: int, failures: int, batch: list[DumpFile], exc: BaseException) -> str:
    """Which batch failed, why, on which files, and what to do."""
    names = ", ".join(f.source_file for f in batch[:NAMED_FILES])
    more = f" and {len(batch) - NAMED_FILES} more" if len(batch) > NAMED_FILES else ""
    others = f" ({failures - 1} other batch(es) failed too)" if failures > 1 else ""
    return (
        f"extract batch {number + 1} of {total} failed{others}: {type(exc).__name__}: {exc}. "
        f"Its files: {names}{more}. Fix the cause (or remove the file) and retry the run: "
        "the batches that finished are not redone."
    )
