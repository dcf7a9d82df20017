"""Page furniture learned from the history: short closing lines that end many articles of one source."""

from collections import Counter

import pyarrow as pa

# A closing line longer than this is prose, not a widget or a sign-off.
MAX_FURNITURE_WORDS = 6
MAX_FURNITURE_CHARS = 60


def is_short_line(line: str) -> bool:
    return len(line) <= MAX_FURNITURE_CHARS and len(line.split()) <= MAX_FURNITURE_WORDS


def closing_lines(sources: list[str], last_paragraphs: list[str | None]) -> Counter[tuple[str, str]]:
    """Count (source, casefolded closing line) over articles whose last paragraph is short."""
    counts: Counter[tuple[str, str]] = Counter()
    for source, last in zip(sources, last_paragraphs, strict=True):
        if last and is_short_line(last):
            counts[(source, last.casefold())] += 1
    return counts


def learned_lines(
    counts: Counter[tuple[str, str]],
    articles_per_source: Counter[str],
    min_articles: int,
    min_share: float,
) -> dict[str, frozenset[str]]:
    """Lines that closed at least `min_articles` articles and `min_share` of all articles of their source."""
    learned: dict[str, set[str]] = {}
    for (source, line), n in counts.items():
        if n >= min_articles and n >= min_share * max(articles_per_source[source], 1):
            learned.setdefault(source, set()).add(line)
    return {source: frozenset(lines) for source, lines in learned.items()}


def strip_closing(paragraphs: list[str], lines: frozenset[str]) -> list[str]:
    """Drop trailing paragraphs that are learned furniture (a widget can follow a sign-off)."""
    end = len(paragraphs)
    while end and paragraphs[end - 1].casefold() in lines:
        end -= 1
    return paragraphs[:end]


def counts_table(counts: Counter[tuple[str, str]]) -> pa.Table:
    from newsetl.schemas import FURNITURE

    rows = [{"source": s, "line": line, "articles": n} for (s, line), n in sorted(counts.items())]
    return pa.Table.from_pylist(rows, schema=FURNITURE)
