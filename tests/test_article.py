"""Finishing a clean record into an article row: UTC time, counts, hash, learned furniture."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from newsetl.article import article_row, content_hash, strip_learned, to_utc
from newsetl.enrich import keywords
from newsetl.records import CleanRecord
from newsetl.settings import Settings

RECORD = CleanRecord(
    record_no=3,
    title="Title",
    published_local=datetime(2016, 9, 10, 5, 28),
    story_code="566428",
    captions=["A caption"],
    paragraphs=["One two three.", "Four five.", "Comment now"],
)


def test_date_lines_are_read_in_the_sources_zone() -> None:
    assert to_utc(datetime(2016, 9, 10, 5, 28), ZoneInfo("UTC")) == datetime(2016, 9, 10, 5, 28, tzinfo=UTC)
    # Tehran was UTC+4:30 in September 2016 (daylight saving time).
    assert to_utc(datetime(2016, 9, 10, 5, 28), ZoneInfo("Asia/Tehran")) == datetime(2016, 9, 10, 0, 58, tzinfo=UTC)
    assert to_utc(None, ZoneInfo("UTC")) is None


def test_article_row_counts_and_partitions() -> None:
    row = article_row(RECORD, "presstv", "presstv/a.txt", "ab" * 32, ZoneInfo("Asia/Tehran"))
    assert row["body"] == "One two three.\n\nFour five.\n\nComment now"
    assert (row["word_count"], row["paragraph_count"], row["caption_count"]) == (7, 3, 1)
    assert row["char_count"] == len(row["body"])
    assert row["content_hash"] == content_hash("Title", row["body"])
    assert (row["year"], row["month"]) == (2016, 9)
    assert (row["head"], row["tail"]) == (["one two three.", "four five."], ["comment now"])


def test_a_date_near_midnight_moves_to_the_utc_month() -> None:
    record = CleanRecord(0, "T", datetime(2016, 10, 1, 2, 0), None, [], ["Body."])
    row = article_row(record, "s", "s/a.txt", "0" * 64, ZoneInfo("Asia/Tehran"))
    assert (row["year"], row["month"]) == (2016, 9)


def test_strip_learned_recomputes_the_row() -> None:
    row = article_row(RECORD, "presstv", "presstv/a.txt", "ab" * 32, ZoneInfo("UTC"))
    row |= {"bands": [], "minhash": b""}  # as the extract step adds them, from the text before stripping
    learned = {("presstv", "tail"): frozenset({"comment now"})}
    (stripped,) = strip_learned([row], learned)
    assert stripped is not None
    assert stripped["body"] == "One two three.\n\nFour five."
    assert stripped["word_count"] == 5 and stripped["paragraph_count"] == 2
    assert stripped["content_hash"] == content_hash("Title", stripped["body"])
    assert stripped["furniture_removed"] == ["Comment now"]
    assert stripped["bands"] != row["bands"] and stripped["minhash"] != row["minhash"]
    assert stripped["keywords"] == keywords("Title", stripped["body"])
    assert strip_learned([{**row, "body": "Comment now"}], learned) == [None]


def test_an_unknown_time_zone_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSETL_SOURCE_TIMEZONES", '{"presstv": "Mars/Olympus"}')
    with pytest.raises(ValidationError, match="IANA name"):
        Settings()
    monkeypatch.setenv("NEWSETL_SOURCE_TIMEZONES", '{"presstv": "Asia/Tehran"}')
    assert Settings().source_timezones == {"presstv": "Asia/Tehran"}
