"""Discover: the stage that finds the dumps under the raw root whose content no run has ingested yet
(newsetl/discovery.py)."""

from collections.abc import Callable

from prefect import get_run_logger, task

from newsetl.discovery import EXAMPLES, Discovery, _scan, hash_files, source_of
from newsetl.errors import RawDirMissing, raw_dir_problem, worth_retrying
from newsetl.records import DumpFile
from newsetl.runtime import release_memory
from newsetl.settings import Settings
from newsetl.tables import query


@task(name="discover-files", retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=worth_retrying)
def discover_files(settings: Settings, on_new: Callable[[], None] | None = None) -> Discovery:
    """Find dump files whose content (by SHA-256) no earlier run ingested; `on_new` is called before files that
    look new (their path, size or modification time is not known) are hashed."""
    logger = get_run_logger()
    if problem := raw_dir_problem(settings.raw_dir):
        raise RawDirMissing(problem)
    outside: list[str] = []
    found, ignored = _scan(settings.raw_dir, outside)
    if outside:
        logger.warning(
            "ignored %d symbolic link(s) leaving the raw directory %s (nothing outside it is read): %s%s",
            len(outside), settings.raw_dir, "; ".join(outside[:EXAMPLES]), " …" if len(outside) > EXAMPLES else "",
        )  # fmt: skip
    hashes = hash_files(found, settings.state_dir / "raw-hashes.parquet", on_new)
    root = str(settings.raw_dir.resolve())
    known = set(query(settings, "SELECT DISTINCT sha256 FROM {files}").column("sha256").to_pylist())
    new: list[DumpFile] = []
    seen_now: set[str] = set()
    unchanged = 0
    for f, digest in zip(found, hashes, strict=True):
        # The same bytes under a second name (or twice in one drop) are ingested once.
        if digest in known or digest in seen_now:
            unchanged += 1
            continue
        seen_now.add(digest)
        new.append(DumpFile(f"{root}/{f.rel}", f.rel, source_of(f.rel), digest, f.size))
    logger.info("discovered %d new dump files, %d unchanged, %d ignored", len(new), unchanged, ignored)
    release_memory()
    return Discovery(new, unchanged, ignored)
