"""Learned page furniture: closing lines that end many articles of one source, and only those."""

from pathlib import Path

from newsetl.settings import Settings
from tasks.furniture import learned_lines, strip_closing
from tasks.tables import query
from tests.conftest import ingest_without_prefect


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
    dumps = {
        f"{i}.txt": f"0\nSaturday 10 September 2016 - 05:28\n\nStory {i}\n\nStory Code : {i}\n"
        f"Paragraph one of story {i}.\n\nParagraph two of story {i}.\nFollow us on Telegram"
        for i in range(6)
    }
    ingest_without_prefect(settings, dumps, 1)
    bodies = query(settings, "SELECT body FROM {articles}").column("body").to_pylist()
    assert len(bodies) == 6
    assert all(b.split("\n\n")[-1].startswith("Paragraph two of story") for b in bodies), bodies
    learned = query(settings, "SELECT source, line, articles FROM {furniture}").to_pylist()
    assert learned == [{"source": "site", "line": "follow us on telegram", "articles": 6}]
