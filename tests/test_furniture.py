"""Learned page furniture: closing lines that end many articles of one source, and only those."""

from collections import Counter

from tasks.furniture import closing_lines, learned_lines, strip_closing


def test_recurring_short_closing_line_is_learned_per_source() -> None:
    sources = ["a"] * 10 + ["b"] * 10
    last = ["Follow us on Telegram"] * 6 + ["A long closing paragraph that is real prose of the story."] * 4
    last += ["Follow us on Telegram"] * 1 + ["x"] * 9
    counts = closing_lines(sources, last)
    learned = learned_lines(counts, Counter(sources), min_articles=5, min_share=0.02)
    assert learned["a"] == frozenset({"follow us on telegram"})
    assert "follow us on telegram" not in learned.get("b", frozenset())


def test_a_line_below_the_share_is_not_learned() -> None:
    counts = Counter({("a", "more to come"): 5})
    assert learned_lines(counts, Counter({"a": 1000}), min_articles=5, min_share=0.02) == {}


def test_strip_closing_removes_only_trailing_furniture() -> None:
    lines = frozenset({"comment", "reuters"})
    assert strip_closing(["Comment", "body", "Reuters", "Comment"], lines) == ["Comment", "body"]
    assert strip_closing(["Comment"], lines) == []
