"""The duplicate rules (DECIDE_SQL), on literal records: exact copies, revisions, older versions arriving late."""

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest

from newsetl.article import content_hash
from newsetl.decide import ARTICLE_ID_SQL, DECIDE_SQL, OUTCOME_SQL, find_pairs

RUN = pa.schema(
    [
        ("pos", pa.int64()),
        ("source", pa.string()),
        ("story_code", pa.string()),
        ("content_hash", pa.string()),
        ("published_at", pa.timestamp("us", tz="UTC")),
        ("source_file", pa.string()),
        ("record_no", pa.int32()),
        ("title", pa.string()),
    ]
)
HIST = pa.schema([("article_id", pa.string()), *list(RUN)[1:], ("year", pa.int32()), ("month", pa.int32())])
COPIES = pa.schema([*list(RUN)[1:], ("duplicate_of", pa.string())])


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


def article_id(source: str, code: str | None, text: str) -> str:
    con = duckdb.connect()
    row = con.execute(
        f"SELECT {ARTICLE_ID_SQL} FROM (SELECT ? AS source, ? AS story_code, ? AS content_hash)",
        [source, code, content_hash("T", text)],
    ).fetchall()
    return row[0][0]


def published(source: str, code: str | None, text: str, day: int, file: str) -> dict:
    return {
        "article_id": article_id(source, code, text),
        **rec(source, code, text, day, file),
        "year": 2016,
        "month": 9,
    }


def decide(run: list[dict], hist: list[dict] | None = None, copies: list[dict] | None = None) -> dict:
    """Run the rules; returns what was published, the duplicates, the displaced articles and the texts whose
    earlier duplicates are written again. `copies` are earlier runs' duplicates: records with `duplicate_of`."""
    con = duckdb.connect()
    run_t = pa.Table.from_pylist([{"pos": i, **r} for i, r in enumerate(run)], schema=RUN)
    hist_t = pa.Table.from_pylist(hist or [], schema=HIST)
    copies_t = pa.Table.from_pylist(copies or [], schema=COPIES)
    for name, t in (("run", run_t), ("hist", hist_t), ("copies", copies_t)):
        con.register(f"{name}_arrow", t)
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    con.execute("CREATE TEMP TABLE run_bands (node VARCHAR, band_key BIGINT)")
    con.execute("CREATE TEMP TABLE cand_hist (node VARCHAR, article_id VARCHAR)")
    con.execute(DECIDE_SQL)
    find_pairs(con)
    con.execute("CREATE TEMP TABLE near (node VARCHAR, target VARCHAR, similarity DOUBLE)")
    con.execute(OUTCOME_SQL)
    return {
        "publish": dict(con.execute("SELECT pos, article_id FROM publish ORDER BY pos").fetchall()),
        "new": {r[0] for r in con.execute("SELECT pos FROM publish WHERE is_new").fetchall()},
        "dups": con.execute("SELECT source_file, kind, duplicate_of FROM dups ORDER BY ALL").fetchall(),
        "displaced": [r[0] for r in con.execute("SELECT article_id FROM displaced").fetchall()],
        "rehashed": [r[0] for r in con.execute("SELECT content_hash FROM rehashed").fetchall()],
    }


def test_content_hash_depends_on_title_and_body_only() -> None:
    assert content_hash("a", "b") == content_hash("a", "b")
    assert content_hash("a", "b") != content_hash("a", "c")
    assert content_hash("a", "b") != content_hash("b", "a")


def test_article_id_follows_the_story_code_not_the_text() -> None:
    assert article_id("s", "1", "x") == article_id("s", "1", "y")
    assert article_id("s", "1", "x") != article_id("t", "1", "x")
    assert article_id("s", None, "x") != article_id("s", None, "y")


def test_exact_copy_on_another_site_is_a_duplicate_of_the_first() -> None:
    out = decide([rec("s1", "1", "body", 10, "a.txt"), rec("s2", None, "body", 11, "b.txt")])
    assert out["publish"] == {0: article_id("s1", "1", "body")}
    assert out["dups"] == [("b.txt", "exact", article_id("s1", "1", "body"))]


def test_exact_copies_within_a_run_point_at_the_first() -> None:
    run = [rec("s", None, "x", 1, "a.txt"), rec("s", None, "x", 1, "b.txt"), rec("t", "9", "x", 2, "c.txt")]
    out = decide(run)
    assert list(out["publish"]) == [0]
    assert [d[:2] for d in out["dups"]] == [("b.txt", "exact"), ("c.txt", "exact")]


def test_an_earlier_copy_arriving_in_a_later_run_takes_the_articles_place() -> None:
    """The earliest published copy is the article, whichever run brought it: the same as one run of both."""
    later = published("s2", None, "body", 11, "b.txt")
    out = decide([rec("s1", "1", "body", 10, "a.txt")], [later])
    assert out["publish"] == {0: article_id("s1", "1", "body")}
    assert out["displaced"] == [later["article_id"]]
    assert out["dups"] == [("b.txt", "exact", article_id("s1", "1", "body"))]
    assert decide([rec("s2", None, "body", 11, "b.txt"), rec("s1", "1", "body", 10, "a.txt")])["dups"] == out["dups"]


def test_copies_of_an_older_version_point_at_the_story() -> None:
    """An exact copy of a version that loses to a newer one points at the story's article."""
    run = [rec("s", "7", "v1", 10, "a.txt"), rec("t", None, "v1", 10, "b.txt"), rec("s", "7", "v2", 11, "c.txt")]
    out = decide(run)
    story = article_id("s", "7", "")
    assert out["publish"] == {2: story}
    assert out["dups"] == [("a.txt", "revision", story), ("b.txt", "exact", story)]


def test_newer_version_in_the_same_run_replaces_the_first() -> None:
    out = decide([rec("s", "7", "v1", 10, "a.txt"), rec("s", "7", "v2", 11, "b.txt")])
    assert out["publish"] == {1: article_id("s", "7", "")}
    assert out["dups"] == [("a.txt", "revision", article_id("s", "7", ""))]
    assert out["displaced"] == []


@pytest.mark.parametrize(("first_day", "second_day"), [(10, 10), (None, None), (None, 10)])
def test_a_tie_goes_to_the_later_ingested_version(first_day: int | None, second_day: int | None) -> None:
    out = decide([rec("s", "7", "v1", first_day, "a.txt"), rec("s", "7", "v2", second_day, "b.txt")])
    assert list(out["publish"]) == [1]


def test_newer_version_in_a_later_run_displaces_the_published_article() -> None:
    old = published("s", "7", "v1", 10, "a.txt")
    out = decide([rec("s", "7", "v2", 11, "b.txt")], [old])
    assert out["publish"] == {0: old["article_id"]}
    assert out["new"] == set()
    assert out["displaced"] == [old["article_id"]]
    assert out["dups"] == [("a.txt", "revision", old["article_id"])]


def test_older_version_arriving_late_goes_to_duplicates() -> None:
    current = published("s", "7", "v2", 11, "b.txt")
    out = decide([rec("s", "7", "v1", 10, "a.txt")], [current])
    assert out["publish"] == {}
    assert out["displaced"] == []
    assert out["dups"] == [("a.txt", "revision", current["article_id"])]


def test_rescrape_of_a_replaced_version_is_an_exact_copy() -> None:
    """A version already moved to duplicates must not come back and replace its successor."""
    current = published("s", "7", "v2", 10, "b.txt")
    replaced = rec("s", "7", "v1", 10, "a.txt") | {"duplicate_of": current["article_id"]}
    out = decide([rec("s", "7", "v1", 10, "c.txt")], [current], [replaced])
    assert out["publish"] == {}
    assert out["dups"] == [("c.txt", "exact", current["article_id"])]
    assert out["rehashed"] == []  # the earlier duplicate stands for its text: it is not written again


def test_a_copy_of_an_earlier_runs_duplicate_follows_it_even_when_earlier_than_its_article() -> None:
    """v1 was a revision of the story (v2, published later in the day); a second scrape of v1 is an exact copy
    of that first scrape, as it would be had both come in one run, not a revision of its own."""
    current = published("s", "7", "v2", 12, "c.txt")
    first = rec("s", "7", "v1", 10, "a.txt") | {"duplicate_of": current["article_id"]}
    out = decide([rec("s", "7", "v1", 10, "b.txt")], [current], [first])
    assert out["dups"] == [("b.txt", "exact", current["article_id"])]


def test_an_earlier_scrape_makes_the_later_duplicates_of_its_text_exact_copies() -> None:
    """The newcomer stands for the text now: the later scrape an earlier run called a revision is an exact
    copy of it (written again), as in one run."""
    current = published("s", "7", "v2", 12, "c.txt")
    later = rec("s", "7", "v1", 10, "b.txt") | {"duplicate_of": current["article_id"]}
    out = decide([rec("s", "7", "v1", 10, "a.txt")], [current], [later])
    assert out["dups"] == [("a.txt", "revision", current["article_id"]), ("b.txt", "exact", current["article_id"])]
    assert out["rehashed"] == [content_hash("T", "v1")]


def test_every_record_lands_in_exactly_one_place() -> None:
    run = [
        rec("s", "1", "a", 1, "x0"),
        rec("s", "1", "a", 1, "x1"),
        rec("s", "1", "b", 2, "x2"),
        rec("t", None, "b", 3, "x3"),
        rec("t", None, "c", None, "x4"),
        rec("s", "1", "c2", 1, "x5"),
        rec("s", "2", "d", None, "x6"),
    ]
    out = decide(run)
    placed = [f"x{p}" for p in out["publish"]] + [d[0] for d in out["dups"]]
    assert sorted(placed) == sorted(r["source_file"] for r in run)
