"""Learned page furniture: closing lines that end many articles of one source, and only those."""

from pathlib import Path

from newsetl.settings import Settings
from tasks.dedupe import build_plan
from tasks.discover import DumpFile, sha256_of
from tasks.extract import batch_key, stage_batch
from tasks.furniture import learned_lines, strip_closing
from tasks.load import apply_plan
from tasks.tables import ensure_tables, query


def test_recurring_short_closing_line_is_learned_per_source() -> None:
    counts = {("a", "follow us on telegram"): 6, ("b", "follow us on telegram"): 1}
    learned = learned_lines(counts, {"a": 10, "b": 10}, min_articles=5, min_share=0.02)
    assert learned == {"a": frozenset({"follow us on telegram"})}


def test_a_line_below_the_share_is_not_learned() -> None:
    assert learned_lines({("a", "more to come"): 5}, {"a": 1000}, min_articles=5, min_share=0.02) == {}


def test_strip_closing_removes_only_trailing_furniture() -> None:
    lines = frozenset({"comment", "reuters"})
    assert strip_closing(["Comment", "body", "Reuters", "Comment"], lines) == ["Comment", "body"]
    assert strip_closing(["Comment"], lines) == []


def test_a_sites_own_closing_line_is_learned_and_cut_from_every_body(tmp_path: Path) -> None:
    """Plan-level: a trailer that no built-in list knows leaves the bodies once enough articles end with it."""
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    ensure_tables(settings)
    files = []
    for i in range(6):
        path = settings.raw_dir / "site" / f"{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"0\nSaturday 10 September 2016 - 05:28\n\nStory {i}\n\nStory Code : {i}\n"
            f"Paragraph one of story {i}.\n\nParagraph two of story {i}.\nFollow us on Telegram"
        )
        files.append(DumpFile(str(path), f"site/{i}.txt", "site", sha256_of(path), path.stat().st_size))
    staged = settings.staging_dir / batch_key(files, settings)
    stage_batch(files, settings, staged)
    plan = settings.plans_dir / "00000001"
    build_plan([str(staged)], settings, "run-1", plan)
    apply_plan(plan, settings)
    bodies = query(settings, "SELECT body FROM {articles}").column("body").to_pylist()
    assert len(bodies) == 6
    assert all(b.split("\n\n")[-1].startswith("Paragraph two of story") for b in bodies), bodies
    learned = query(settings, "SELECT source, line, articles FROM {furniture}").to_pylist()
    assert learned == [{"source": "site", "line": "follow us on telegram", "articles": 6}]
