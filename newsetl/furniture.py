"""Page furniture learned from a source's own articles: paragraphs that recur at the head or the tail of many of
its distinct stories (a widget line before the story, a "follow us" line and a copyright notice after it).

Paragraphs are compared as templates: case, typography and white space folded, and every run of digits made one
`0`, so "7 min read" and "4 min read", "© 2025" and "© 2026" are one template. No list of a site's furniture is
needed, and none is complete: what recurs is furniture, whatever its words or length.
"""

import re
from collections.abc import Mapping

import pyarrow as pa

from newsetl.clean import fold_typography
from newsetl.schemas import FURNITURE

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


def edge_templates(paragraphs: list[str]) -> tuple[list[str], list[str]]:
    """The templates of the first and of the last EDGE_PARAGRAPHS paragraphs, each list from its end inwards. In a
    short body the two never overlap (the head takes the first half, rounded up): a paragraph counts at one side."""
    heads = min(EDGE_PARAGRAPHS, -(-len(paragraphs) // 2))
    tails = min(EDGE_PARAGRAPHS, len(paragraphs) - heads)
    head = [template(p) for p in paragraphs[:heads]]
    tail = [template(p) for p in paragraphs[::-1][:tails]]
    return head, tail


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
    """(start, end) of the story between learned furniture at its head and its tail: whole paragraphs from the
    ends inwards, never from the middle. A body that is furniture only gives start == end."""
    start, end = 0, len(paragraphs)
    while end > start and template(paragraphs[end - 1]) in tail:
        end -= 1
    while start < end and template(paragraphs[start]) in head:
        start += 1
    return start, end


def counts_table(counts: Mapping[tuple[str, str, str], int]) -> pa.Table:
    rows = [{"source": s, "side": side, "line": line, "articles": n} for (s, side, line), n in sorted(counts.items())]
    return pa.Table.from_pylist(rows, schema=FURNITURE)
