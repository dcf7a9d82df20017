"""Discovery: which files under the raw root are dumps, and which of those hold content not yet ingested."""

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from prefect import get_run_logger, task

from newsetl.settings import Settings
from tasks.tables import query

DUMP_SUFFIXES = (".txt", ".txt.gz")
# Names scrapers give to files they are still writing; they become dumps once renamed into place.
PARTIAL_SUFFIXES = (".part", ".tmp", ".inprogress")


@dataclass(frozen=True, slots=True)
class DumpFile:
    """One dump file version: where it is, which source it belongs to, and what its bytes hash to."""

    path: str  # absolute path on disk
    source_file: str  # path under the raw root, "/"-separated
    source: str
    sha256: str
    bytes: int


@dataclass(frozen=True, slots=True)
class Discovery:
    new: list[DumpFile] = field(default_factory=list)
    unchanged: int = 0
    ignored: int = 0


def is_dump_name(name: str) -> bool:
    """A dump is `*.txt` or `*.txt.gz`, not hidden, not a file still being written."""
    lowered = name.lower()
    if name.startswith(".") or lowered.endswith(PARTIAL_SUFFIXES):
        return False
    return lowered.endswith(DUMP_SUFFIXES)


def source_of(source_file: str) -> str:
    """The first folder under the raw root names the source; a file in the root itself is `unknown`."""
    parts = PurePosixPath(source_file).parts
    return parts[0] if len(parts) > 1 else "unknown"


def scan_raw_dir(raw_dir: Path) -> tuple[list[tuple[str, Path, int]], int]:
    """List dump files as (source_file, path, size) in path order, and count the other files."""
    dumps: list[tuple[str, Path, int]] = []
    ignored = 0
    for dirpath, dirnames, filenames in os.walk(raw_dir):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            path = Path(dirpath) / name
            if not is_dump_name(name) or not path.is_file():
                ignored += 1
                continue
            rel = path.relative_to(raw_dir).as_posix()
            dumps.append((rel, path, path.stat().st_size))
    dumps.sort(key=lambda d: d[0])
    return dumps, ignored


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def make_batches(files: list[DumpFile], max_files: int, max_bytes: int) -> list[list[DumpFile]]:
    """Cut the path-ordered file list into consecutive batches of bounded count and size."""
    batches: list[list[DumpFile]] = []
    current: list[DumpFile] = []
    size = 0
    for f in files:
        if current and (len(current) >= max_files or size + f.bytes > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(f)
        size += f.bytes
    if current:
        batches.append(current)
    return batches


@task(name="discover-files", retries=2, retry_delay_seconds=[1, 5])
def discover_files(settings: Settings) -> Discovery:
    """Find dump files whose content (by SHA-256) no earlier run ingested."""
    logger = get_run_logger()
    if not settings.raw_dir.is_dir():
        raise FileNotFoundError(f"raw-dump directory {settings.raw_dir} does not exist: create it or pass --raw DIR")
    found, ignored = scan_raw_dir(settings.raw_dir)
    # hashlib releases the GIL on large buffers, so threads hash two files at once on two cores.
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashes = list(pool.map(lambda d: sha256_of(d[1]), found))
    known = set(query(settings, "SELECT DISTINCT sha256 FROM {files}").column("sha256").to_pylist())
    new: list[DumpFile] = []
    seen_now: set[str] = set()
    unchanged = 0
    for (rel, path, size), digest in zip(found, hashes, strict=True):
        # The same bytes under a second name (or twice in one drop) are ingested once.
        if digest in known or digest in seen_now:
            unchanged += 1
            continue
        seen_now.add(digest)
        new.append(DumpFile(str(path.resolve()), rel, source_of(rel), digest, size))
    logger.info("discovered %d new dump files, %d unchanged, %d ignored", len(new), unchanged, ignored)
    return Discovery(new, unchanged, ignored)
