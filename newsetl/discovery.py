"""Discovery: which files under the raw root are dumps (links leaving it are not followed), what each holds (its
SHA-256, cached by path, size and time), and how new files are cut into extract batches."""

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from newsetl.records import DumpFile
from newsetl.settings import Settings

DUMP_SUFFIXES = (".txt", ".txt.gz")
# Names scrapers give to files they are still writing; they become dumps once renamed into place.
PARTIAL_SUFFIXES = (".part", ".tmp", ".inprogress")
# Links leaving the raw root named in the run's log; the others are counted.
EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Discovery:
    new: list[DumpFile] = field(default_factory=list)
    unchanged: int = 0
    ignored: int = 0
    outside: list[str] = field(default_factory=list)  # symbolic links that leave the raw root, not followed


def is_dump_name(name: str) -> bool:
    """A dump is `*.txt` or `*.txt.gz`, not hidden, not a file still being written."""
    lowered = name.lower()
    if name.startswith(".") or lowered.endswith(PARTIAL_SUFFIXES):
        return False
    return lowered.endswith(DUMP_SUFFIXES)


def source_of(source_file: str) -> str:
    """The first folder under the raw root names the source; a file in the root itself is `unknown`."""
    folder, slash, _ = source_file.partition("/")
    return folder if slash else "unknown"


class Scanned(NamedTuple):
    """A dump file as the scan saw it: what a run needs of its stat, and no more (a tree can hold 200,000)."""

    rel: str  # path under the raw root, "/"-separated
    path: str
    size: int
    mtime_ns: int
    inode: int


def scan_raw_dir(raw_dir: Path) -> tuple[list[tuple[str, Path, int]], int]:
    """List dump files as (source_file, path, size) in path order, and count the other files."""
    dumps, ignored = _scan(raw_dir)
    return [(d.rel, Path(d.path), d.size) for d in dumps], ignored


def _scan(raw_dir: Path, outside: list[str] | None = None) -> tuple[list[Scanned], int]:
    """scan_raw_dir with each dump's stat. os.scandir's entries know their type without a stat call, so a tree of
    200,000 files costs one stat per dump.

    A symbolic link is never followed: one leaving the raw root would publish what the root's owner does not
    own (its description goes to `outside`, if given, and it counts as ignored); one inside it points at a
    file or folder the scan reaches by its own path, so it is ingested once."""
    dumps: list[Scanned] = []
    ignored = 0
    root = raw_dir.resolve()
    todo = [(str(raw_dir), "")]
    while todo:
        folder, prefix = todo.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_symlink():
                    ignored += 1
                    if outside is not None and not _inside(Path(entry.path), root):
                        outside.append(f"{prefix}{entry.name} -> {os.readlink(entry.path)}")
                elif entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):  # .git, .cache, ...
                        todo.append((entry.path, f"{prefix}{entry.name}/"))
                elif is_dump_name(entry.name) and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    dumps.append(Scanned(prefix + entry.name, entry.path, st.st_size, st.st_mtime_ns, st.st_ino))
                else:
                    ignored += 1
    dumps.sort(key=lambda d: d.rel)
    return dumps, ignored


def _inside(link: Path, root: Path) -> bool:
    """Whether a link's final target (a dangling one included) is the raw root or under it."""
    return link.resolve().is_relative_to(root)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# A file whose path, size, modification time (ns) and inode are those of the last scan has the same bytes: its
# SHA-256 is taken from this cache instead of reading the file again, so a run with nothing new reads no dump.
# (Only a write that keeps the size and lands in the same nanosecond as the previous one would go unseen.)
HASH_CACHE_NAME = "raw-hashes.parquet"
HASH_CACHE = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("inode", pa.int64()),
        ("sha256", pa.string()),
    ]
)


def read_hash_cache(cache: Path) -> dict[tuple[str, int, int, int], str]:
    """The cache as {(path, size, mtime_ns, inode): sha256}; empty when there is none or it is damaged (which
    only costs a rehash)."""
    if not cache.is_file():
        return {}
    try:
        t = pq.read_table(cache, schema=HASH_CACHE)
    except (pa.ArrowException, OSError):
        return {}
    return dict(zip(zip(*(t.column(c).to_pylist() for c in HASH_CACHE.names[:4]), strict=True),
                    t.column("sha256").to_pylist(), strict=True))  # fmt: skip


def current_sha256(paths: list[Path], settings: Settings) -> list[str]:
    """SHA-256 of these dumps as they are now: from the run's discovery cache when a file's stat is the one it
    cached (the cache is not rewritten), else read."""
    cached = read_hash_cache(settings.state_dir / HASH_CACHE_NAME)
    digests = []
    for path in paths:
        st = path.stat(follow_symlinks=False)
        digest = cached.get((str(path), st.st_size, st.st_mtime_ns, st.st_ino))
        digests.append(digest or sha256_of(path))
    return digests


def hash_files(found: list[Scanned], cache: Path, before_hashing: Callable[[], None] | None = None) -> list[str]:
    """SHA-256 of each scanned file, from the cache when its stat is unchanged; the cache is then rewritten.
    `before_hashing` is called first when a file is not in the cache (it is most likely new)."""
    cached = read_hash_cache(cache)
    hashes = [cached.get((f.path, f.size, f.mtime_ns, f.inode), "") for f in found]
    todo = [i for i, digest in enumerate(hashes) if not digest]
    if todo and before_hashing is not None:
        before_hashing()
    # hashlib releases the GIL on large buffers, so threads hash two files at once on two cores. A thousand files
    # at a time: the pool holds a future for each file it is given.
    with ThreadPoolExecutor(max_workers=4) as pool:
        for start in range(0, len(todo), 1000):
            part = todo[start : start + 1000]
            for i, digest in zip(part, pool.map(lambda i: sha256_of(Path(found[i].path)), part), strict=True):
                hashes[i] = digest
    if todo or len(cached) != len(found):
        cache.parent.mkdir(parents=True, exist_ok=True)
        columns = [[f[k] for f in found] for k in (1, 2, 3, 4)]
        table = pa.table([*columns, hashes], schema=HASH_CACHE)
        tmp = cache.with_name(cache.name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, cache)
    return hashes


# The smallest batch cut for the end of a run: about a second of work, five times Prefect's cost of a task.
TAIL_BYTES = 4 * 1024 * 1024


def discover(settings: Settings, known: Callable[[], set[str]], on_new: Callable[[], None] | None = None) -> Discovery:
    """The dumps under the raw root whose content (SHA-256) is not among the `known()` hashes; `on_new` is called
    before files that look new (their path, size or modification time is not in the cache) are hashed, so what it
    starts gets going before the ingested hashes are read."""
    outside: list[str] = []
    found, ignored = _scan(settings.raw_dir, outside)
    hashes = hash_files(found, settings.state_dir / HASH_CACHE_NAME, on_new)
    root = str(settings.raw_dir.resolve())
    ingested = known()
    new: list[DumpFile] = []
    seen_now: set[str] = set()
    unchanged = 0
    for f, digest in zip(found, hashes, strict=True):
        # The same bytes under a second name (or twice in one drop) are ingested once.
        if digest in ingested or digest in seen_now:
            unchanged += 1
            continue
        seen_now.add(digest)
        new.append(DumpFile(f"{root}/{f.rel}", f.rel, source_of(f.rel), digest, f.size))
    return Discovery(new, unchanged, ignored, outside)


def make_batches(files: list[DumpFile], max_files: int, max_bytes: int, workers: int = 0) -> list[list[DumpFile]]:
    """Cut the path-ordered file list into consecutive batches of bounded count and size. With `workers`, at least
    two batches a worker when there are that many files, and a multiple of `workers` batches, so that every
    worker is busy until the end; the last round is cut smaller (see batch_shares)."""
    total = sum(f.bytes for f in files)
    count = max(1, 2 * workers, -(-total // max_bytes), -(-len(files) // max_files))
    if workers:
        count = -(-count // workers) * workers
    shares = batch_shares(total, count, workers)
    batches: list[list[DumpFile]] = []
    current: list[DumpFile] = []
    size = 0
    for f in files:
        # A file goes to the next batch when it would end past the bounds, or mostly past this batch's share (but
        # the last batch takes what is left: a few files more, not a batch of their own after the others).
        past_share = len(batches) < len(shares) - 1 and size + f.bytes / 2 > shares[len(batches)]
        if current and (len(current) >= max_files or size + f.bytes > max_bytes or past_share):
            batches.append(current)
            current, size = [], 0
        current.append(f)
        size += f.bytes
    if current:
        batches.append(current)
    return batches


def batch_shares(total: int, count: int, workers: int) -> list[float]:
    """The bytes each batch is cut to: `count` equal shares, but the last round's shares (one a worker) are each
    cut into a half and two quarters when a quarter is at least TAIL_BYTES. The pool hands the next batch to
    the first worker free, so the workers then end within about a quarter share of each other, where with equal
    shares the last worker went on alone for a good part of its batch (docs/performance.md)."""
    share = total / count if count else 0.0
    if not workers or share / 4 < TAIL_BYTES:
        return [share] * count
    return [share] * (count - workers) + [share / 2] * workers + [share / 4] * (2 * workers)


def batches_for(files: list[DumpFile], settings: Settings) -> list[list[DumpFile]]:
    """The extract batches of a run (see make_batches) for the workers the run has."""
    return make_batches(
        files, settings.batch_files, settings.batch_bytes, workers=settings.workers or os.cpu_count() or 1
    )
