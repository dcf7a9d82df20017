"""Errors a retry cannot fix, and the rule every task's retries follow.

A task retries what can pass (a file system hiccup, a commit conflict); it fails at once on what would fail the
same way again (a missing raw directory, a bad setting, a plan over its memory cap), so the user reads the cause
seconds after the run starts instead of after the retries' delays.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:  # the command line checks its arguments with this module before Prefect is imported
    from prefect.states import State


class Permanent(Exception):
    """An error that stays until the user changes something; its message says what."""


class RawDirMissing(Permanent, FileNotFoundError):
    """The raw-dump directory is missing or is not a directory."""


def raw_dir_problem(raw_dir: Path) -> str | None:
    """What is wrong with a raw-dump directory, and what to do; None when it is a folder."""
    if raw_dir.is_dir():
        return None
    if raw_dir.exists():
        return f"the raw-dump directory {raw_dir} is a file, not a folder: pass the folder that holds the dumps"
    return f"the raw-dump directory {raw_dir} does not exist: create it, or pass --raw DIR (NEWSETL_RAW_DIR)"


def out_dir_problem(out_dir: Path | str) -> str | None:
    """What is wrong with a local output directory (an object-store URL is checked by its first write)."""
    if isinstance(out_dir, Path) and out_dir.exists() and not out_dir.is_dir():
        return f"the output directory {out_dir} is a file, not a folder: pass another --out DIR (NEWSETL_OUT_DIR)"
    return None


def worth_retrying(task: object, task_run: object, state: "State[Any]") -> bool:
    """Prefect's `retry_condition_fn`: a failed state's data is the exception the task raised."""
    return not isinstance(state.data, Permanent | ValidationError)


def retries(*delays: float, jitter: float | None = None) -> dict[str, Any]:
    """A task's retry options: one retry after each delay (seconds), never of an error a retry cannot fix; a
    jitter spreads out the retries of runs that failed on the same write at once."""
    options: dict[str, Any] = {"retries": len(delays), "retry_delay_seconds": list(delays)}
    if jitter is not None:
        options["retry_jitter_factor"] = jitter
    return options | {"retry_condition_fn": worth_retrying}
