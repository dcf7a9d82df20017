"""Discover: the stage that finds the dumps under the raw root whose content no run has ingested yet
(newsetl/discovery.py)."""

from collections.abc import Callable

from prefect import get_run_logger, task

from newsetl.discovery import EXAMPLES, Discovery, discover
from newsetl.errors import RawDirMissing, raw_dir_problem, retries
from newsetl.runtime import release_memory
from newsetl.settings import Settings
from newsetl.tables import query


@task(name="discover-files", **retries(1, 5))
def discover_files(settings: Settings, on_new: Callable[[], None] | None = None) -> Discovery:
    """Find dump files whose content (by SHA-256) no earlier run ingested; `on_new` is called before files that
    look new (their path, size or modification time is not known) are hashed."""
    logger = get_run_logger()
    if problem := raw_dir_problem(settings.raw_dir):
        raise RawDirMissing(problem)
    found = discover(
        settings,
        lambda: set(query(settings, "SELECT DISTINCT sha256 FROM {files}").column("sha256").to_pylist()),
        on_new,
    )
    if outside := found.outside:
        logger.warning(
            "ignored %d symbolic link(s) leaving the raw directory %s (nothing outside it is read): %s%s",
            len(outside), settings.raw_dir, "; ".join(outside[:EXAMPLES]), " …" if len(outside) > EXAMPLES else "",
        )  # fmt: skip
    logger.info(
        "discovered %d new dump files, %d unchanged, %d ignored", len(found.new), found.unchanged, found.ignored
    )
    release_memory()
    return found
