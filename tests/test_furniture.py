"""Learned page furniture: paragraphs that recur at the head or the tail of many stories of one source, compared as
templates, and only those. Every furniture string here is invented by the test, not taken from the generator."""

import json
from pathlib import Path

import duckdb
import pytest

from newsetl.furniture import HEAD, TAIL, learned_templates, strip_edges, template
from newsetl.settings import Settings
from newsetl.tables import query
from newsetl.why import explain
from tests.conftest import ingest_without_prefect


def test_templates_fold_case_typography_and_digits() -> None:
    assert template("Lu 7 min de lecture") == template("lu 4 min de lecture") == "lu 0 min de lecture"
    assert template("© 2025 Quillfeather Media’s") == template("© 2026 Quillfeather Media's")
    assert template("Call 555-0199") != template("Call us")


def test_a_template_is_learned_per_source_and_side() -> None:
    line = "ping us on zorbl"
    counts = {("a", TAIL, line): 6, ("b", TAIL, line): 1, ("a", HEAD, line): 2}
    learned = learned_templates(counts, {"a": 10, "b": 10}, min_articles=5, min_share=0.02)
    assert learned == {("a", TAIL): frozenset({line})}


def test_a_template_below_the_share_is_not_learned() -> None:
    assert learned_templates({("a", TAIL, "more soon"): 5}, {"a": 1000}, min_articles=5, min_share=0.02) == {}


def test_strip_edges_cuts_from_both_ends_never_the_middle() -> None:
    head, tail = frozenset({"widget 0"}), frozenset({"ping us", "© 0 quill"})
    paragraphs = ["Widget 12", "Story.", "Ping us", "More story.", "Ping us", "© 2024 Quill"]
    assert strip_edges(paragraphs, head, tail) == (1, 4)
    assert strip_edges(["Ping us"], head, tail) == (0, 0)  # nothing but furniture: no story left


NOTICE = "Quillfeather Media Holdings. Every word here belongs to Quillfeather and may not be reprinted."
STORY = "{word} council voted on {n} new measures for the harbour district, the clerk's minutes show ({n})."


TREES = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Juniper", "Larch"]


def site(tmp_path: Path) -> Settings:
    return Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out", entities=False)


def dumps(head: list[str], tail: list[str], stories: int = 8) -> dict[str, str]:
    """Dumps of one invented site: each story its own words, wrapped in the furniture lines given (`{n}` in a
    furniture line becomes a number that changes from story to story)."""
    out = {}
    for n in range(stories):
        body = [STORY.format(word=TREES[n], n=n + 3), f"The vote in {TREES[n]} passed {n + 4} to {n + 1}."]
        lines = [line.format(n=n * 7 + 2) for line in head] + body + [line.format(n=2020 + n) for line in tail]
        out[f"{n}.txt"] = f"0\nSaturday 10 September 2016 - 05:28\n\n{TREES[n]} votes\n\nStory Code : {n}\n" + (
            "\n\xa0\n".join(lines)
        )
    return out


def bodies_and_furniture(settings: Settings) -> tuple[list[str], list[dict[str, object]]]:
    bodies = query(settings, "SELECT body FROM {articles} ORDER BY story_code").column("body").to_pylist()
    learned = query(settings, "SELECT side, line, articles FROM {furniture} WHERE articles >= 5 ORDER BY ALL")
    return bodies, learned.to_pylist()


@pytest.mark.parametrize(
    ("kind", "head", "tail", "learned"),
    [
        ("a widget line before the story, with a number", ["Lu {n} min de lecture"], [],
         [(HEAD, "lu 0 min de lecture")]),
        ("one closing line", [], ["Ping us on Zorbl for more"], [(TAIL, "ping us on zorbl for more")]),
        (
            "a closing block: a follow line, then a long copyright notice with a year",
            [],
            ["Ping us on Zorbl", f"© {{n}} {NOTICE}"],
            [(TAIL, "ping us on zorbl"), (TAIL, f"© 0 {NOTICE.lower()}")],
        ),
        ("furniture at both ends", ["Gazette Nord Live"], ["Ping us on Zorbl"], [(HEAD, "gazette nord live"),
                                                                                  (TAIL, "ping us on zorbl")]),
    ],
)  # fmt: skip
def test_each_kind_of_furniture_is_learned_and_cut(
    tmp_path: Path, kind: str, head: list[str], tail: list[str], learned: list[tuple[str, str]]
) -> None:
    settings = site(tmp_path)
    ingest_without_prefect(settings, dumps(head, tail), 1)
    bodies, furniture = bodies_and_furniture(settings)
    assert len(bodies) == 8
    for body in bodies:
        paragraphs = body.split("\n\n")
        assert len(paragraphs) == 2 and "council voted" in paragraphs[0] and paragraphs[1].startswith("The vote in")
    assert [(row["side"], row["line"]) for row in furniture] == sorted(learned)
    assert all(row["articles"] == 8 for row in furniture)


def test_what_recurs_in_few_stories_stays(tmp_path: Path) -> None:
    """Four stories of eight end with the line: below NEWSETL_FURNITURE_MIN_ARTICLES (5), it is prose."""
    settings = site(tmp_path)
    texts = dumps([], [])
    for n in range(4):
        texts[f"{n}.txt"] += "\n\xa0\nPing us on Zorbl"
    ingest_without_prefect(settings, texts, 1)
    bodies, furniture = bodies_and_furniture(settings)
    assert sum(body.endswith("Ping us on Zorbl") for body in bodies) == 4
    assert furniture == []


def test_furniture_learned_in_earlier_runs_is_cut_from_later_ones(tmp_path: Path) -> None:
    settings = site(tmp_path)
    texts = dumps([], ["Ping us on Zorbl"], stories=10)
    ingest_without_prefect(settings, {k: v for k, v in texts.items() if k < "6"}, 1)
    ingest_without_prefect(settings, {k: v for k, v in texts.items() if k >= "6"}, 2)
    later = query(settings, "SELECT body, furniture_removed FROM {articles} WHERE story_code >= '6'").to_pylist()
    assert len(later) == 4
    assert all(not r["body"].endswith("Zorbl") and r["furniture_removed"] == ["Ping us on Zorbl"] for r in later)


def test_furniture_learned_later_is_cut_from_the_articles_published_before(tmp_path: Path) -> None:
    """Four stories end with the line in a first run (prose, below the five stories it takes); four more in a
    second run make it furniture, and the first four are cleaned again and published anew."""
    settings = site(tmp_path)
    texts = dumps(["Lu {n} min de lecture"], ["Ping us on Zorbl"])
    ingest_without_prefect(settings, {k: v for k, v in texts.items() if k < "4"}, 1)
    first = query(settings, "SELECT body FROM {articles}").column("body").to_pylist()
    assert len(first) == 4 and all(body.endswith("Ping us on Zorbl") for body in first)
    plan = tmp_path / "plan"
    ingest_without_prefect(settings, {k: v for k, v in texts.items() if k >= "4"}, 2, keep_plan=plan, catalog=True)
    rows = query(settings, "SELECT story_code, body, furniture_removed, run_id FROM {articles} ORDER BY 1").to_pylist()
    assert [r["story_code"] for r in rows] == [str(n) for n in range(8)]
    for r in rows:
        assert r["body"].startswith(TREES[int(r["story_code"])])
        assert r["body"].endswith(".") and len(r["furniture_removed"]) == 2 and r["run_id"] == "run-2"
    summary = json.loads((plan / "plan.json").read_text())
    assert (summary["articles_new"], summary["articles_recleaned"]) == (4, 4)
    assert query(settings, "SELECT count(*) AS n FROM {edges}").column("n").to_pylist() == [8 * 4]
    assert why(settings, "site/0.txt")[-1].startswith("published anew by run run-2, read again from the dump")
    assert not why(settings, "site/5.txt")[-1].startswith("published anew")


def test_furniture_no_more_is_put_back(tmp_path: Path) -> None:
    """A line that ends five of eight stories is furniture (a share of 0.6 is asked); two more stories without it
    make it end too small a share of the site's stories, and the five get it back."""
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out", entities=False, furniture_min_share=0.6)
    texts = dumps([], [], stories=10)
    for n in range(5):
        texts[f"{n}.txt"] += "\n\xa0\nPing us on Zorbl"
    ingest_without_prefect(settings, {k: v for k, v in texts.items() if k < "8"}, 1)
    assert query(settings, "SELECT line FROM {furniture}").column("line").to_pylist() == ["ping us on zorbl"]
    ingest_without_prefect(settings, {k: v for k, v in texts.items() if k >= "8"}, 2)
    ends = query(settings, "SELECT body LIKE '%Zorbl' AS kept FROM {articles}").column("kept").to_pylist()
    assert sorted(ends) == [False] * 5 + [True] * 5
    assert query(settings, "SELECT line FROM {furniture}").num_rows == 0


def test_a_stricter_setting_puts_back_what_it_no_longer_calls_furniture(tmp_path: Path) -> None:
    """Eight stories end with the line: furniture at the default five stories. The next run of the site, asked
    for ten, cuts it from nothing, the eight earlier articles included."""
    texts = dumps([], ["Ping us on Zorbl"], stories=9)
    ingest_without_prefect(site(tmp_path), {k: v for k, v in texts.items() if k < "8"}, 1)
    strict = site(tmp_path).model_copy(update={"furniture_min_articles": 10})
    ingest_without_prefect(strict, {"8.txt": texts["8.txt"]}, 2)
    ends = query(strict, "SELECT body LIKE '%Zorbl' AS kept FROM {articles}").column("kept").to_pylist()
    assert ends == [True] * 9
    assert query(strict, "SELECT * FROM {furniture}").num_rows == 0


def test_a_record_of_furniture_only_is_quarantined_with_a_reason(tmp_path: Path) -> None:
    settings = site(tmp_path)
    texts = dumps([], ["Ping us on Zorbl"])
    texts["only.txt"] = "0\nSaturday 10 September 2016 - 05:28\n\nEmpty page\n\nStory Code : 99\nPing us on Zorbl"
    ingest_without_prefect(settings, texts, 1)
    rows = query(settings, "SELECT reason, detail FROM {quarantine} WHERE source_file = 'site/only.txt'").to_pylist()
    assert rows == [{"reason": "no_body", "detail": "the record holds only page furniture (lines its source repeats), "
                                                     "no story text"}]  # fmt: skip


def why(settings: Settings, source_file: str) -> list[str]:
    """What `newsetl why` says of the one record of a dump."""
    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    try:
        _, (fate,) = explain(con, source_file, 0)
    finally:
        con.close()
    return fate.lines


def test_why_says_what_furniture_was_cut_from_a_record(tmp_path: Path) -> None:
    settings = site(tmp_path)
    ingest_without_prefect(settings, dumps(["Gazette Nord Live"], ["Ping us on Zorbl"]), 1, catalog=True)
    assert why(settings, "site/3.txt")[-1] == "page furniture of site removed: “Gazette Nord Live” | “Ping us on Zorbl”"
