"""One outcome: what is published is a function of the set of records ingested, not of their order or of how
they were split into runs. Random corpora of invented sites (copies, near copies, revisions, revisions of
copies, each site with page furniture of its own or none), ingested as one run and as random splits into 2 to 5
runs in random orders, give the same tables."""

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsetl.settings import Settings
from newsetl.tables import query
from tests.conftest import ingest_without_prefect

WORDS = (  # noqa: SIM905 (a sentence of words reads better than a list of forty strings)
    "harbour council ferry bridge tariff grain orchard mayor strike rail canal market budget senate clinic river "
    "quarry festival museum drought vineyard airport tunnel school police court ballot reactor pipeline glacier "
    "satellite library stadium refinery harvest census subway lighthouse forest copper"
).split()
SITES = ("quillpost", "nordgazette", "riverwire")
# Furniture a site may wrap its stories in: a widget line with a number before the story; a follow line, then a
# copyright notice with the year, after it. `{n}` changes from page to page.
HEADS = ("{site} live: {n} readers on this page now", "Lesezeit {n} Minuten")
TAILS = (
    ("Follow {site} on Mastodrop and Quackr",),
    ("Follow {site} on Mastodrop and Quackr", "© {n} {site} Media Group. Reproduction of any part of this page is "
     "forbidden without the written permission of the publisher."),
)  # fmt: skip


@st.composite
def corpora(draw: st.DrawFn) -> dict[str, str]:
    """Dumps of one record each, by path under the raw root: stories and their copies, edits and revisions."""
    files: dict[str, str] = {}
    frames = {
        site: (draw(st.sampled_from([(), *[(h,) for h in HEADS]])), draw(st.sampled_from([(), *TAILS])))
        for site in SITES
    }
    for story in range(draw(st.integers(2, 6))):
        site = draw(st.sampled_from(SITES))
        drawn = draw(st.permutations(WORDS))
        words = drawn[5 * story :] + drawn[: 5 * story]  # stories differ even when their permutations do not
        sentences = [" ".join(words[i : i + 8]).capitalize() + "." for i in range(0, 32, 8)]
        code: str | None = draw(st.sampled_from([f"{story}0", None]))
        day = draw(st.integers(1, 20))
        versions = [(site, code, day, sentences)]
        for kind in draw(st.lists(st.sampled_from(["exact", "near", "revision", "elsewhere"]), max_size=3)):
            base_site, base_code, base_day, base = draw(st.sampled_from(versions))
            if kind == "exact":
                versions.append((base_site, base_code, base_day, base))
            elif kind == "near":  # one word changed in one sentence
                i = draw(st.integers(0, len(base) - 1))
                versions.append((base_site, None, base_day + 1, [*base[:i], base[i].replace(" ", " very ", 1),
                                                                  *base[i + 1 :]]))  # fmt: skip
            elif kind == "revision" and base_code is not None:  # a sentence added under the same code, later
                versions.append((base_site, base_code, base_day + 2, [*base, f"Officials confirmed it on day {day}."]))
            else:  # the same text on another site, without a code
                versions.append((draw(st.sampled_from(SITES)), None, base_day, base))
        for n, (where, story_code, when, text) in enumerate(versions):
            header = f"0\nSaturday {when} September 2016 - 05:28\n\nStory {story} of the {WORDS[story]}\n\n"
            code_line = f"Story Code : {story_code}\n" if story_code else ""
            head, tail = ([line.format(site=where.capitalize(), n=10 * story + n + k) for k, line in enumerate(lines)]
                          for lines in frames[where])  # fmt: skip
            files[f"{where}/{story:02d}-{n}.txt"] = header + code_line + "\n\xa0\n".join([*head, *text, *tail])
    return files


def published(settings: Settings) -> dict[str, list[dict[str, object]]]:
    return {
        "articles": query(settings, "SELECT article_id, body FROM {articles} ORDER BY ALL").to_pylist(),
        "duplicates": query(
            settings, "SELECT source_file, record_no, kind, duplicate_of FROM {duplicates} ORDER BY ALL"
        ).to_pylist(),
        "furniture": query(settings, "SELECT source, side, line, articles FROM {furniture} ORDER BY ALL").to_pylist(),
    }


def ingest_in_runs(root: Path, runs: list[dict[str, str]]) -> dict[str, list[dict[str, object]]]:
    shutil.rmtree(root, ignore_errors=True)
    s = Settings(raw_dir=root / "raw", out_dir=root / "out", entities=False, furniture_min_articles=2)
    for seq, files in enumerate(runs, start=1):
        if files:
            ingest_without_prefect(s, files, seq)
    return published(s)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpus=corpora(), data=st.data())
def test_the_same_records_in_any_runs_publish_the_same_tables(
    corpus: dict[str, str], data: st.DataObject, tmp_path: Path
) -> None:
    whole = ingest_in_runs(tmp_path / "whole", [corpus])
    names = data.draw(st.permutations(sorted(corpus)))
    runs = data.draw(st.integers(2, 5))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(names)), min_size=runs - 1, max_size=runs - 1)))
    parts = [names[a:b] for a, b in zip([0, *cuts], [*cuts, len(names)], strict=True)]
    split = ingest_in_runs(tmp_path / "split", [{name: corpus[name] for name in part} for part in parts])
    assert split == whole


LINES = [" ".join(WORDS[i : i + 8]).capitalize() + "." for i in range(0, 32, 8)]


def dump(day: int, code: str | None, paragraphs: list[str]) -> str:
    """A one-record dump of the story of the harbour, dated `day`, with a story code or none."""
    coded = f"Story Code : {code}\n" if code else ""
    header = f"0\nSaturday {day} September 2016 - 05:28\n\nStory of the harbour\n\n{coded}"
    return header + "\n\xa0\n".join(paragraphs)


def test_a_near_copy_held_back_is_decided_again_when_its_story_gets_a_version() -> None:
    """A coded update first held as a near copy of an uncoded copy of its story wins once the coded first version
    arrives in a later run, as it does when all come in one run."""
    first, copy, update = "quillpost/a.txt", "quillpost/b.txt", "quillpost/c.txt"
    later = [*LINES, "Officials said more."]
    corpus = {first: dump(1, "7", LINES), copy: dump(1, None, LINES), update: dump(3, "7", later)}
    root = Path(tempfile.mkdtemp())
    try:
        whole = ingest_in_runs(root / "whole", [corpus])
        split = ingest_in_runs(root / "split", [{copy: corpus[copy], update: corpus[update]}, {first: corpus[first]}])
    finally:
        shutil.rmtree(root)
    assert split == whole
    assert [a["body"].endswith("Officials said more.") for a in whole["articles"]] == [True]


def test_a_revision_wins_its_story_when_an_uncoded_copy_on_another_site_stands_for_its_text() -> None:
    """A coded story's update, whose text a site without codes published too (and, first in file order, stands for
    it), still beats the story's first version: the update's text is the article, the first version its revision,
    whether the copy comes in the same run or a later one."""
    later = [*LINES, "Officials confirmed it on day 1."]
    first, update, copy = "riverwire/a.txt", "riverwire/b.txt", "quillpost/c.txt"
    corpus = {first: dump(1, "50", LINES), update: dump(3, "50", later), copy: dump(3, None, later)}
    root = Path(tempfile.mkdtemp())
    try:
        whole = ingest_in_runs(root / "whole", [corpus])
        for runs in ([[first, update], [copy]], [[copy, update], [first]], [[first, copy], [update]]):
            split = ingest_in_runs(root / "split", [{name: corpus[name] for name in run} for run in runs])
            assert split == whole, runs
    finally:
        shutil.rmtree(root)
    assert [a["body"].endswith("day 1.") for a in whole["articles"]] == [True]
    assert {(d["source_file"], d["kind"]) for d in whole["duplicates"]} == {(first, "revision"), (update, "exact")}
