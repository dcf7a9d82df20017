"""The duplicate rules, on literal records: exact copies, revisions, older versions arriving late."""

from datetime import UTC, datetime

import pytest

from tasks.dedupe import article_id_for, content_hash, is_newer, resolve


def rec(source: str, code: str | None, text: str, day: int | None, file: str = "f.txt", no: int = 0) -> dict:
    return {
        "source": source,
        "story_code": code,
        "content_hash": content_hash("T", text),
        "published_at": datetime(2016, 9, day, tzinfo=UTC) if day else None,
        "source_file": file,
        "record_no": no,
        "title": "T",
    }


def published(r: dict) -> dict:
    return {**r, "article_id": article_id_for(r["source"], r["story_code"], r["content_hash"])}


def test_content_hash_depends_on_title_and_body_only() -> None:
    assert content_hash("a", "b") == content_hash("a", "b")
    assert content_hash("a", "b") != content_hash("a", "c")
    assert content_hash("a", "b") != content_hash("b", "a")


def test_article_id_follows_the_story_code_not_the_text() -> None:
    assert article_id_for("s", "1", "x") == article_id_for("s", "1", "y")
    assert article_id_for("s", "1", "x") != article_id_for("t", "1", "x")
    assert article_id_for("s", None, "x") != article_id_for("s", None, "y")


@pytest.mark.parametrize(
    ("candidate", "current", "newer"),
    [(2, 1, True), (1, 2, False), (1, 1, True), (None, 1, True), (1, None, True)],
)
def test_is_newer(candidate: int | None, current: int | None, newer: bool) -> None:
    as_dt = lambda d: datetime(2016, 9, d, tzinfo=UTC) if d else None  # noqa: E731
    assert is_newer(as_dt(candidate), as_dt(current)) is newer


def test_exact_copy_on_another_site_is_a_duplicate_of_the_first() -> None:
    a = rec("s1", "1", "body", 10, "a.txt")
    b = rec("s2", None, "body", 11, "b.txt")
    out = resolve([a, b], [], {})
    assert list(out.publish) == [0]
    assert [(d["source_file"], d["kind"], d["duplicate_of"]) for d in out.duplicates] == [
        ("b.txt", "exact", out.publish[0])
    ]


def test_newer_version_in_the_same_run_replaces_the_first() -> None:
    old = rec("s", "7", "v1", 10, "a.txt")
    new = rec("s", "7", "v2", 11, "b.txt")
    out = resolve([old, new], [], {})
    assert out.publish == {1: article_id_for("s", "7", "")}
    assert [(d["source_file"], d["kind"]) for d in out.duplicates] == [("a.txt", "revision")]
    assert not out.displaced


def test_newer_version_in_a_later_run_displaces_the_published_article() -> None:
    old = published(rec("s", "7", "v1", 10, "a.txt"))
    new = rec("s", "7", "v2", 11, "b.txt")
    out = resolve([new], [old], {})
    assert out.publish == {0: old["article_id"]}
    assert out.displaced == {old["article_id"]: old}
    assert out.duplicates[0]["source_file"] == "a.txt"
    assert out.new_ids == set()


def test_older_version_arriving_late_goes_to_duplicates() -> None:
    current = published(rec("s", "7", "v2", 11, "b.txt"))
    late = rec("s", "7", "v1", 10, "a.txt")
    out = resolve([late], [current], {})
    assert out.publish == {}
    assert [(d["source_file"], d["kind"], d["duplicate_of"]) for d in out.duplicates] == [
        ("a.txt", "revision", current["article_id"])
    ]


def test_rescrape_of_a_replaced_version_is_an_exact_copy() -> None:
    """A version already moved to duplicates must not come back and replace its successor."""
    old_hash = content_hash("T", "v1")
    current = published(rec("s", "7", "v2", 10, "b.txt"))
    again = rec("s", "7", "v1", 10, "c.txt")
    out = resolve([again], [current], {old_hash: current["article_id"]})
    assert out.publish == {}
    assert out.duplicates[0]["kind"] == "exact"


def test_every_record_lands_in_exactly_one_place() -> None:
    run = [
        rec("s", "1", "a", 1, "x", 0),
        rec("s", "1", "a", 1, "x", 1),
        rec("s", "1", "b", 2, "x", 2),
        rec("t", None, "b", 3, "x", 3),
        rec("t", None, "c", None, "x", 4),
        rec("s", "1", "c2", 1, "x", 5),
    ]
    out = resolve(run, [], {})
    assert len(out.publish) + len(out.duplicates) == len(run)
