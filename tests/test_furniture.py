"""Learned page furniture: closing lines that end many articles of one source, and only those."""

from tasks.furniture import learned_lines, strip_closing


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
