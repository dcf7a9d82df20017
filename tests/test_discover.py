"""Which files are dumps, which source they belong to, and how they are batched."""

import os
from pathlib import Path

import pytest

from newsetl.discovery import (
    TAIL_BYTES,
    DumpFile,
    _scan,
    hash_files,
    is_dump_name,
    make_batches,
    scan_raw_dir,
    sha256_of,
    source_of,
)
from tests.conftest import catalog_rows, run_newsetl


@pytest.mark.parametrize(
    ("name", "dump"),
    [
        ("000_8c12.txt", True),
        ("a.TXT", True),
        ("a.txt.gz", True),
        (".DS_Store", False),
        (".hidden.txt", False),
        ("a.txt.part", False),
        ("a.txt.tmp", False),
        ("a.inprogress", False),
        ("notes.md", False),
        ("a.gz", False),
    ],
)
def test_is_dump_name(name: str, dump: bool) -> None:
    assert is_dump_name(name) is dump


@pytest.mark.parametrize(
    ("path", "source"),
    [("a.txt", "unknown"), ("presstv/a.txt", "presstv"), ("presstv/2016-09-10/x/a.txt.gz", "presstv")],
)
def test_source_is_the_first_folder(path: str, source: str) -> None:
    assert source_of(path) == source


def test_scan_lists_dumps_in_path_order_and_counts_the_rest(tmp_path: Path) -> None:
    for rel in ["b/2/x.txt", "b/1/y.txt.gz", "a.txt", "b/.DS_Store", "b/z.part", ".git/c.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    dumps, ignored = scan_raw_dir(tmp_path)
    assert [d[0] for d in dumps] == ["a.txt", "b/1/y.txt.gz", "b/2/x.txt"]
    assert ignored == 2


def test_batches_keep_order_and_bounds() -> None:
    files = [DumpFile(f"/r/{i}", f"{i:03d}", "s", str(i), 10) for i in range(7)]
    batches = make_batches(files, max_files=3, max_bytes=25)
    assert [len(b) for b in batches] == [2, 2, 2, 1]
    assert [f for b in batches for f in b] == files
    assert make_batches([], 3, 25) == []


def test_a_small_drop_is_cut_into_enough_batches_for_every_worker() -> None:
    files = [DumpFile(f"/r/{i}", f"{i:03d}", "s", str(i), 10) for i in range(8)]
    assert [len(b) for b in make_batches(files, max_files=500, max_bytes=1 << 30)] == [8]
    assert [len(b) for b in make_batches(files, max_files=500, max_bytes=1 << 30, workers=2)] == [2, 2, 2, 2]
    assert [len(b) for b in make_batches(files[:3], max_files=500, max_bytes=1 << 30, workers=2)] == [1, 1, 1]
    # Even shares of 2.25 files: the last batch takes the one left over instead of running alone after the others.
    nine = [*files, DumpFile("/r/8", "008", "s", "8", 10)]
    assert [len(b) for b in make_batches(nine, max_files=500, max_bytes=1 << 30, workers=2)] == [2, 2, 2, 3]


def test_batches_are_of_about_equal_size_and_a_multiple_of_the_workers() -> None:
    """60 files of 10 bytes, at most 120 bytes a batch: 5 batches would do, but 6 keep 2 workers busy to the end."""
    files = [DumpFile(f"/r/{i}", f"{i:03d}", "s", str(i), 10) for i in range(60)]
    assert [len(b) for b in make_batches(files, max_files=500, max_bytes=120)] == [12] * 5
    assert [len(b) for b in make_batches(files, max_files=500, max_bytes=120, workers=2)] == [10] * 6
    assert [len(b) for b in make_batches(files, max_files=8, max_bytes=1000, workers=2)] == [8] * 7 + [4]


def test_the_last_round_is_cut_smaller_so_the_workers_end_together() -> None:
    """100 MiB for 2 workers: 4 shares of 25 MiB, the last round's two cut into a half and two quarters each, in
    the order the pool hands them out; a run whose quarter would be under TAIL_BYTES keeps equal shares."""
    files = [DumpFile(f"/r/{i}", f"{i:03d}", "s", str(i), 1 << 20) for i in range(100)]
    batches = make_batches(files, max_files=500, max_bytes=64 << 20, workers=2)
    assert [len(b) for b in batches] == [25, 25, 13, 13, 6, 6, 6, 6]
    assert [f for b in batches for f in b] == files
    # 64 MiB make quarters of 4 MiB, just TAIL_BYTES; 63 MiB keep four equal shares.
    assert TAIL_BYTES == 4 << 20
    assert [len(b) for b in make_batches(files[:64], max_files=500, max_bytes=64 << 20, workers=2)] == [
        16, 16, 8, 8, 4, 4, 4, 4
    ]  # fmt: skip
    assert [len(b) for b in make_batches(files[:63], max_files=500, max_bytes=64 << 20, workers=2)] == [16, 16, 16, 15]


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    raw, cache = tmp_path / "raw", tmp_path / "state" / "raw-hashes.parquet"
    (raw / "s").mkdir(parents=True)
    a, b = raw / "s" / "a.txt", raw / "s" / "b.txt"
    a.write_text("first")
    b.write_text("second")
    calls: list[int] = []  # before_hashing starts the extract workers' server (a run with new files)
    first = hash_files(_scan(raw)[0], cache, lambda: calls.append(1))
    assert first == [sha256_of(a), sha256_of(b)]
    assert calls == [1]
    # Same size, same modification time, same inode: taken from the cache, so the file was not read.
    stat = a.stat()
    with a.open("r+") as fh:
        fh.write("FIRST")
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert hash_files(_scan(raw)[0], cache, lambda: calls.append(2)) == first
    assert calls == [1]
    # Any other change of its stat and it is hashed again.
    a.write_text("first, edited")
    b.unlink()
    assert hash_files(_scan(raw)[0], cache, lambda: calls.append(3)) == [sha256_of(a)]
    assert calls == [1, 3]
    cache.write_bytes(b"not parquet")  # a damaged cache only costs a rehash
    assert hash_files(_scan(raw)[0], cache) == [sha256_of(a)]


def story(title: str) -> str:
    return f"0\nSaturday 3 September 2016 - 05:28\n\n{title}\n\nStory Code : {len(title)}\nText of {title}.\n"


def test_links_leaving_the_raw_root_are_ignored_and_inside_ones_ingested_once(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    """A link to a file and one to a folder outside the raw root publish nothing; a link inside it is the
    file it points to, published once."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwords.txt").write_text(story("Outside file"))
    (secret / "inner").mkdir()
    (secret / "inner" / "a.txt").write_text(story("Outside folder"))
    raw = tmp_path / "raw"
    (raw / "site").mkdir(parents=True)
    (raw / "site" / "real.txt").write_text(story("Inside story"))
    (raw / "site" / "leak.txt").symlink_to(secret / "passwords.txt")
    (raw / "elsewhere").symlink_to(secret / "inner", target_is_directory=True)
    (raw / "site" / "again.txt").symlink_to(raw / "site" / "real.txt")
    (raw / "mirror").symlink_to(raw / "site", target_is_directory=True)
    outside: list[str] = []
    dumps, ignored = _scan(raw, outside)
    assert [d.rel for d in dumps] == ["site/real.txt"] and ignored == 4
    assert sorted(outside) == [f"elsewhere -> {secret / 'inner'}", f"site/leak.txt -> {secret / 'passwords.txt'}"]
    out = tmp_path / "out"
    done = run_newsetl(prefect_server, "run", "--raw", str(raw), "--out", str(out))
    assert "symbolic link(s) leaving the raw directory" in done.stdout + done.stderr
    assert catalog_rows(out, "SELECT title, source_file FROM articles") == [("Inside story", "site/real.txt")]
    assert catalog_rows(out, "SELECT count(*) FROM quarantine") == [(0,)]
