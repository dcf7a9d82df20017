"""Page furniture learned from the history: short closing lines that end many articles of one source."""

from collections.abc import Mapping

import pyarrow as pa

from newsetl.schemas import FURNITURE

# A closing line longer than this is prose, not a widget or a sign-off.
MAX_FURNITURE_WORDS = 6
MAX_FURNITURE_CHARS = 60


def learned_lines(
    counts: Mapping[tuple[str, str], int],
    articles_per_source: Mapping[str, int],
    min_articles: int,
    min_share: float,
) -> dict[str, frozenset[str]]:
    """Lines that closed at least `min_articles` articles and `min_share` of all articles of their source."""
    learned: dict[str, set[str]] = {}
    for (source, line), n in counts.items():
        if n >= min_articles and n >= min_share * max(articles_per_source.get(source, 0), 1):
            learned.setdefault(source, set()).add(line)
    return {source: frozenset(lines) for source, lines in learned.items()}


def strip_closing(paragraphs: list[str], lines: frozenset[str]) -> list[str]:
    """Drop trailing paragraphs that are learned furniture (a widget can follow a sign-off)."""
    end = len(paragraphs)
    while end and paragraphs[end - 1].lower() in lines:
        end -= 1
    return paragraphs[:end]


def counts_table(counts: Mapping[tuple[str, str], int]) -> pa.Table:
    rows = [{"source": s, "line": line, "articles": n} for (s, line), n in sorted(counts.items())]
    return pa.Table.from_pylist(rows, schema=FURNITURE)
