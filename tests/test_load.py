"""Committing plans: revisions replace articles with their captions, and replaying a plan changes nothing."""

from pathlib import Path

from newsetl.settings import Settings
from tasks.load import apply_plan
from tasks.tables import query
from tests.conftest import ingest_without_prefect


def record(day: int, title: str, captions: list[str], body: str) -> str:
    lines = [c for c in captions for _ in range(2)]
    return f"0\nSaturday {day} September 2016 - 05:28\n\n{title}\n\nStory Code : 7\n" + "\n".join([*lines, body])


def rows(settings: Settings, sql: str) -> list[dict]:
    return query(settings, sql).to_pylist()


def test_a_revision_without_captions_takes_the_captions_of_the_old_version_away(tmp_path: Path) -> None:
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    ingest_without_prefect(settings, {"a.txt": record(10, "Old title", ["A photo caption."], "Old body.")}, 1)
    assert len(rows(settings, "SELECT * FROM {captions}")) == 1
    ingest_without_prefect(settings, {"b.txt": record(11, "New title", [], "New body.")}, 2)
    assert rows(settings, "SELECT title, source_file FROM {articles}") == [
        {"title": "New title", "source_file": "site/b.txt"}
    ]
    assert rows(settings, "SELECT * FROM {captions}") == []
    assert rows(settings, "SELECT source_file, kind FROM {duplicates}") == [
        {"source_file": "site/a.txt", "kind": "revision"}
    ]


def test_replaying_a_committed_plan_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    ingest_without_prefect(settings, {"a.txt": record(10, "Old title", ["Caption."], "Old body.")}, 1)
    copy = tmp_path / "plan-copy"
    ingest_without_prefect(settings, {"b.txt": record(11, "New title", ["Caption two."], "New body.")}, 2, copy)
    tables = ["articles", "captions", "duplicates", "quarantine", "files", "furniture"]
    before = {t: rows(settings, f"SELECT * FROM {{{t}}} ORDER BY ALL") for t in tables}
    apply_plan(copy, settings)  # as a rerun would, had the process died before discarding the plan
    assert {t: rows(settings, f"SELECT * FROM {{{t}}} ORDER BY ALL") for t in tables} == before


def test_a_run_of_only_broken_files_quarantines_them_and_publishes_nothing(tmp_path: Path) -> None:
    """No staged record at all: the plan's empty relation must still have every staged column's type."""
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    ingest_without_prefect(settings, {"junk.txt": "\x00\x01\x02 not a dump \x00" * 50}, 1)
    assert rows(settings, "SELECT count(*) AS n FROM {articles}") == [{"n": 0}]
    assert [r["source_file"] for r in rows(settings, "SELECT source_file FROM {quarantine}")] == ["site/junk.txt"]
