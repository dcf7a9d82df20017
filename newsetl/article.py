"""Article rows: a clean record finished into the columns the tables publish (body, hash, UTC time, counts)."""

import hashlib
from datetime import UTC, datetime, tzinfo
from typing import Any

from newsetl.clean import fold_typography
from newsetl.enrich import keywords_batch
from newsetl.furniture import HEAD, TAIL, Learned, edge_templates, strip_edges
from newsetl.near import band_keys, shingles, signature, tokens_and_joins
from newsetl.records import CleanRecord

PARAGRAPH_BREAK = "\n\n"
# Words an adult reads in a minute, for `reading_minutes` (a common figure for news prose).
READING_WPM = 230


def reading_minutes(words: int) -> float:
    return round(words / READING_WPM, 1)


def article_text(title: str, body: str) -> str:
    """An article's whole text: what is hashed for exact copies and shingled for near ones."""
    return title + PARAGRAPH_BREAK + body


def content_hash(title: str, body: str) -> str:
    """Identity of a text: equal cleaned title and body give equal hashes, whatever the source; a title is compared
    with its typographic quotes and dashes folded (sites and re-scrapes spell them differently)."""
    return hashlib.blake2b(article_text(fold_typography(title), body).encode(), digest_size=16).hexdigest()


def to_utc(local: datetime | None, zone: tzinfo) -> datetime | None:
    """The site's local time read in its zone, as UTC."""
    if local is None:
        return None
    return local.replace(tzinfo=zone).astimezone(UTC)


def body_columns(title: str, paragraphs: list[str]) -> dict[str, Any]:
    """The columns of a body made of cleaned paragraphs: non-empty, white space folded to single spaces (see
    clean_text), so the words are the spaces plus one a paragraph, as body.split() would count them in 5 times
    the time."""
    body = PARAGRAPH_BREAK.join(paragraphs)
    words = body.count(" ") + len(paragraphs)
    return {
        "body": body,
        "word_count": words,
        "reading_minutes": reading_minutes(words),
        "char_count": len(body),
        "paragraph_count": len(paragraphs),
        "content_hash": content_hash(title, body),
    }


def article_row(record: CleanRecord, source: str, source_file: str, file_sha256: str, zone: tzinfo) -> dict[str, Any]:
    """Every published column of a record except its article_id and run_id."""
    published = to_utc(record.published_local, zone)
    return {
        "source": source,
        "story_code": record.story_code,
        "title": record.title,
        "published_at": published,
        **body_columns(record.title, record.paragraphs),
        "caption_count": len(record.captions),
        "source_file": source_file,
        "record_no": record.record_no,
        "file_sha256": file_sha256,
        "year": published.year if published else None,
        "month": published.month if published else None,
        "captions": record.captions,
        "furniture_removed": [],
        "record_offset": record.offset,
        **dict(zip(("head", "tail"), edge_templates(record.paragraphs), strict=True)),
    }


def strip_learned(rows: list[dict[str, Any]], learned: Learned) -> list[dict[str, Any] | None]:
    """Each row with the furniture its source learned cut from both ends of its body, and what is computed from
    the text made again (counts, hash, signature, keywords: those of all the rows at once); None for a row left
    with nothing but furniture."""
    nothing: frozenset[str] = frozenset()
    stripped: list[dict[str, Any] | None] = []
    for row in rows:
        paragraphs = row["body"].split(PARAGRAPH_BREAK)
        source = row["source"]
        start, end = strip_edges(paragraphs, learned.get((source, HEAD), nothing), learned.get((source, TAIL), nothing))
        if start == end:
            stripped.append(None)
            continue
        kept = paragraphs[start:end]
        minhash = signature(shingles(article_text(row["title"], PARAGRAPH_BREAK.join(kept))))
        stripped.append(
            {
                **row,
                **body_columns(row["title"], kept),
                "furniture_removed": [*row["furniture_removed"], *paragraphs[:start], *paragraphs[end:]],
                "bands": band_keys(minhash),
                "minhash": minhash.astype("<u4").tobytes(),
            }
        )
    done = [row for row in stripped if row is not None]
    found = keywords_batch([tokens_and_joins(r["title"]) for r in done], [tokens_and_joins(r["body"]) for r in done])
    for row, terms in zip(done, found, strict=True):
        row["keywords"] = terms
    return stripped
