"""Which files are dumps, which source they belong to, and how they are batched."""

from pathlib import Path

import pytest

from tasks.discover import DumpFile, is_dump_name, make_batches, scan_raw_dir, source_of


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
