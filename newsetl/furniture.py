"""Page furniture learned from a source's own articles: paragraphs that recur at the head or the tail of many of
its distinct stories (a widget line before the story, a "follow us" line and a copyright notice after it).

Paragraphs are compared as templates: case, typography and white space folded, and every run of digits made one
`0`, so "7 min read" and "4 min read", "© 2025" and "© 2026" are one template. No list of a site's furniture is
needed, and none is complete: what recurs is furniture, whatever its words or length.
"""

import re
from collections.abc import Mapping

from newsetl.clean import fold_typography

# Paragraphs looked at from each end of a body: furniture comes as a line or a block of a few lines, and the
# paragraphs further in are the story.
EDGE_PARAGRAPHS = 3
HEAD, TAIL = "head", "tail"
_DIGITS = re.compile(r"\d+")

# (source, side) -> the templates learned there.
Learned = dict[tuple[str, str], frozenset[str]]


def template(paragraph: str) -> str:
    """The form paragraphs are compared in: case, typography and digits folded (cleaned text is single-spaced)."""
    return _DIGITS.sub("0", fold_typography(paragraph).casefold())


def edge_sizes(n: int) -> tuple[int, int]:
    """How many of a body's n paragraphs are its head and its tail: EDGE_PARAGRAPHS at most each, and in a short
    body the two never overlap (the head takes the first half, rounded up), so a paragraph counts at one side."""
    heads = min(EDGE_PARAGRAPHS, -(-n // 2))
    return heads, min(EDGE_PARAGRAPHS, n - heads)


def edge_templates(paragraphs: list[str]) -> tuple[list[str], list[str]]:
    """The templates of the head and of the tail paragraphs, each list from its end inwards."""
    heads, tails = edge_sizes(len(paragraphs))
    return [template(p) for p in paragraphs[:heads]], [template(p) for p in paragraphs[::-1][:tails]]


def learned_templates(
    counts: Mapping[tuple[str, str, str], int],
    stories_per_source: Mapping[str, int],
    min_articles: int,
    min_share: float,
) -> Learned:
    """Templates seen at one side of at least `min_articles` distinct stories of a source, and of `min_share` of
    all its stories: {(source, side): templates}."""
    learned: dict[tuple[str, str], set[str]] = {}
    for (source, side, line), n in counts.items():
        if n >= min_articles and n >= min_share * max(stories_per_source.get(source, 0), 1):
            learned.setdefault((source, side), set()).add(line)
    return {key: frozenset(lines) for key, lines in learned.items()}


def strip_edges(paragraphs: list[str], head: frozenset[str], tail: frozenset[str]) -> tuple[int, int]:
    """(start, end) of the story between learned furniture at its head and its tail: whole edge paragraphs from
    the ends inwards, never from the middle. A body that is furniture only gives start == end; the paragraph of a
    one-paragraph body is its head and its tail.

    Only the edge paragraphs are looked at: they are all the `edges` table knows of a record, so a change of the
    learned furniture names every record it cuts differently."""
    heads, tails = edge_sizes(len(paragraphs))
    start, end = 0, len(paragraphs)
    floor = len(paragraphs) - max(tails, 1 if len(paragraphs) == 1 else 0)
    while end > floor and template(paragraphs[end - 1]) in tail:
        end -= 1
    while start < min(heads, end) and template(paragraphs[start]) in head:
        start += 1
    return start, end
