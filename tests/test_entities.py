"""Entities an analyst can group by, through the pipeline on real files and tables: one canonical name per
alias, the text as found beside it; no name from a byline, a dateline or a credit; no common word the texts write
mostly in lower case. Every text here is written by the test."""

from pathlib import Path

import pytest

from newsetl.dateline import opening
from newsetl.entities import _nlp, entities, ner_text
from newsetl.rounds import plan_rounds
from newsetl.settings import Settings
from newsetl.tables import query
from tests.conftest import ingest_without_prefect
from tests.test_pieces import commit_round, stage


def story(code: int, title: str, paragraphs: list[str], captions: tuple[str, ...] = ()) -> str:
    """One record of a dump; a caption is a line the scraper wrote twice in a row."""
    lines = [line for caption in captions for line in (caption, caption)] + paragraphs
    return f"0\nSaturday 10 September 2016 - 05:28\n\n{title}\n\nStory Code : {code}\n" + "\n\xa0\n".join(lines)


def ingest(tmp_path: Path, stories: list[str]) -> Settings:
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    ingest_without_prefect(settings, {f"{n}.txt": text for n, text in enumerate(stories)}, seq=1)
    return settings


def names(settings: Settings) -> dict[tuple[str, str], set[str]]:
    """{(entity, label): the mentions it was found as} over the published `entities`."""
    rows = query(settings, "SELECT entity, label, mention FROM {entities}").to_pylist()
    found: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        found.setdefault((row["entity"], row["label"]), set()).add(row["mention"])
    return found


def test_aliases_are_one_canonical_name_beside_the_text_as_found(tmp_path: Path) -> None:
    settings = ingest(
        tmp_path,
        [
            story(1, "Washington and London agree trade terms", [
                "The U.S. and Britain agreed on Tuesday to cut tariffs on steel.",
                "Officials in the United States said the U.K. would buy more grain.",
            ]),
            story(2, "Farmers welcome the deal", ["US farmers welcomed it. The USA last signed such a pact in 1990."]),
            story(3, "Envoys meet in Geneva", [
                "The U.N. envoy met officials from the European Union in Geneva.",
                "The UN said the E.U. had pledged more aid, and the United Nations would send a team.",
            ]),
            story(4, "Aid pledged", ["The EU pledged more aid. Great Britain did not."]),
        ],
    )  # fmt: skip
    found = names(settings)
    assert found[("United States", "GPE")] == {"U.S.", "US"}  # each article's commonest form, the first on a tie
    assert found[("United Kingdom", "GPE")] == {"Britain", "Great Britain"}
    assert found[("United Nations", "ORG")] == {"U.N."}
    assert found[("European Union", "ORG")] == {"the European Union", "EU"}
    spelled = {entity.casefold() for entity, _ in found}
    for alias in ("us", "u.s.", "usa", "britain", "uk", "u.k.", "un", "u.n.", "eu", "e.u.", "the united states"):
        assert alias not in spelled
    counts = query(settings, "SELECT mentions FROM {entities} WHERE entity = 'United States' ORDER BY 1")
    assert counts.column("mentions").to_pylist() == [2, 2]  # one row per article, whatever the forms


def model_names(title: str, paragraphs: list[str], captions: tuple[str, ...] = ()) -> set[str]:
    """What the model alone finds in a story's text: the names a rule below must take away."""
    return {e.text for e in _nlp()(ner_text(title, "\n\n".join(paragraphs), captions=captions)).ents}


BYLINED = [
    ("Talks resume", ["By Jane Doe, Reuters", "LONDON (Reuters) - Britain's leader met Angela Merkel on Tuesday."], ()),
    ("Vote counted", ["PARIS, May 3 (AFP) - Emmanuel Macron thanked voters in Lyon."], ()),
    ("Summit ends", ["BY JOHN ROE | AFP", "Angela Merkel left Brussels after the summit."], ()),
    (
        "Leaders meet",
        ["Theresa May and Angela Merkel met in Berlin.", "(Reporting by Jane Doe; Editing by John Roe)"],
        ("Theresa May arrives in Berlin on May 3, 2017. REUTERS/Kevin Lamarque", "Angela Merkel waves. (Photo by AFP)"),
    ),
]
WRITERS = {"Reuters", "AFP", "Jane Doe", "John Roe", "JOHN ROE", "Kevin Lamarque", "REUTERS"}


def test_bylines_datelines_and_credits_name_no_one(tmp_path: Path) -> None:
    found_alone = set().union(*(model_names(*story_parts) for story_parts in BYLINED))
    assert {"Reuters", "Jane Doe", "Kevin Lamarque"} <= found_alone  # what the rule has to take away
    quoted = ("Deal agreed", ["Reuters could not verify the report, officials told AFP in Geneva on Monday."], ())
    settings = ingest(tmp_path, [story(n, *parts) for n, parts in enumerate([*BYLINED, quoted])])
    by_title = query(
        settings, "SELECT a.title, list(e.entity ORDER BY e.entity) AS names, any_value(a.dateline) AS dateline "
        "FROM {articles} a LEFT JOIN {entities} e USING (article_id) GROUP BY a.title"
    ).to_pylist()  # fmt: skip
    names = {row["title"]: set(row["names"]) for row in by_title}
    for title, _, _ in BYLINED:
        assert not names[title] & WRITERS, title
    assert "Angela Merkel" in names["Talks resume"] and "Angela Merkel" in names["Summit ends"]
    assert {"Angela Merkel", "Berlin"} <= names["Leaders meet"]
    assert {"Reuters", "AFP"} <= names["Deal agreed"]  # an agency the story itself names still counts
    datelines = {row["title"]: row["dateline"] for row in by_title}
    assert datelines["Talks resume"] == "London"  # the dateline after a byline is the article's dateline
    assert datelines["Vote counted"] == "Paris"
    assert "Paris" not in names["Vote counted"] and "London" not in names["Talks resume"]


@pytest.mark.parametrize(
    ("body", "place", "story_starts"),
    [
        ("By Jane Doe\n\nThe talks went on.", None, "The talks"),
        ("By Jane Doe and John Roe, Reuters\n\nLONDON (Reuters) - The talks went on.", "London", "The talks"),
        ("By the time polls closed, turnout was low.", None, "By the time"),
        ("By Monday, turnout had risen.", None, "By Monday"),
        ("BERLIN (dpa) - By Monday, turnout had risen.", "Berlin", "By Monday"),
    ],
)
def test_a_byline_is_a_short_paragraph_of_names(body: str, place: str | None, story_starts: str) -> None:
    end, found = opening(body)
    assert found == place and body[end:].startswith(story_starts)


def test_prose_that_looks_like_a_credit_keeps_its_names() -> None:
    texts = [
        ner_text("Border", "Officials in Ottawa closed the US/Canada border to trucks on Monday."),
        ner_text("Exhibit", "A photo by Annie Leibovitz was shown in New York on Monday."),
    ]
    border, exhibit = ({e.entity for e in found} for found in entities(texts))
    assert "Ottawa" in border and "Canada" in border
    assert {"Annie Leibovitz", "New York"} <= exhibit


CITIES = ("Leeds", "Ghent", "Porto", "Turin", "Graz", "Lille")


def rally(n: int, city: str) -> str:
    """A report that opens a sentence with "Turnout" (which the model takes for a person), beside names that open
    sentences too but are never written in lower case."""
    return story(n, f"Rally in {city}", [
        f"Turnout at the march in {city} was put at {n + 2},500 by police.",
        f"Merkel said the talks in {city} would go on. The WHO said the outbreak there was over.",
    ])  # fmt: skip


def count(n: int, city: str) -> str:
    """A vote count that writes "turnout" in mid-sentence."""
    return story(10 + n, f"Vote counted in {city}", [
        f"The election commission said turnout was {60 + n} percent in {city}, and officials who met Merkel agreed.",
    ])  # fmt: skip


def entity_rows(settings: Settings) -> list[tuple[str, str]]:
    rows = query(settings, "SELECT a.title, e.entity FROM {entities} e JOIN {articles} a USING (article_id)")
    return sorted(zip(rows.column("title").to_pylist(), rows.column("entity").to_pylist(), strict=True))


def test_a_word_the_texts_write_mostly_in_lower_case_is_no_name(tmp_path: Path) -> None:
    rallies = [rally(n, city) for n, city in enumerate(CITIES)]
    counts = [count(n, city) for n, city in enumerate(CITIES)]
    assert "Turnout" in model_names("Rally", [f"Turnout at the march in {CITIES[0]} was put at 2,500 by police."])
    at_once = ingest(tmp_path / "at-once", rallies + counts)
    found = {entity for _, entity in entity_rows(at_once)}
    assert "Turnout" not in found
    assert {"Merkel", "WHO", "Leeds"} <= found  # capitalised mid-sentence; an acronym ("who" aside)

    # The rallies first, alone, then the counts over two more runs: the same names in the end.
    settings = Settings(raw_dir=tmp_path / "split" / "raw", out_dir=tmp_path / "split" / "out")
    for seq, part in enumerate([rallies, counts[:3], counts[3:]], start=1):
        ingest_without_prefect(settings, {f"{seq}-{n}.txt": text for n, text in enumerate(part)}, seq=seq)
        if seq == 1:  # no text has written "turnout" in lower case yet
            assert "Turnout" in {entity for _, entity in entity_rows(settings)}
    assert entity_rows(settings) == entity_rows(at_once)


def test_a_word_seen_in_lower_case_too_rarely_stays_a_name(tmp_path: Path) -> None:
    settings = ingest(
        tmp_path, [rally(n, city) for n, city in enumerate(CITIES)] + [count(0, "Ghent"), count(1, "Graz")]
    )
    assert "Turnout" in {entity for _, entity in entity_rows(settings)}  # "turnout" in lower case twice only
    share = query(settings, "SELECT lower_case, capitalised FROM {word_case} WHERE word = 'turnout'").to_pylist()
    assert share == [{"lower_case": 2, "capitalised": 0}]


def test_the_word_case_counts_of_a_dump_planned_in_pieces_count_once(tmp_path: Path) -> None:
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    text = "\n".join(
        [rally(n, city) for n, city in enumerate(CITIES)] + [count(n, city) for n, city in enumerate(CITIES)]
    )
    rounds = plan_rounds([stage(settings, text)], limit=5)
    assert len(rounds) == 3
    for seq, group in enumerate(rounds, start=1):
        commit_round(settings, group, seq)
    share = query(settings, "SELECT sum(lower_case)::INT AS n FROM {word_case} WHERE word = 'turnout'").to_pylist()
    assert share == [{"n": len(CITIES)}]
    assert "Turnout" not in {entity for _, entity in entity_rows(settings)}


def test_a_name_written_in_several_cases_is_published_in_the_form_most_articles_use(tmp_path: Path) -> None:
    bodies = [
        "The envoy Staffan de Mistura met officials in Geneva on Monday.",
        "The envoy Staffan de Mistura met officials in Vienna on Tuesday.",
        "Officials said Staffan De Mistura met them in Rome on Friday.",
    ]
    settings = ingest(tmp_path, [story(n, f"Talks {n}", [body]) for n, body in enumerate(bodies)])
    rows = query(settings, "SELECT entity, mention FROM {entities} WHERE lower(entity) = 'staffan de mistura'")
    assert sorted(rows.column("entity").to_pylist()) == ["Staffan de Mistura"] * 3
    assert set(rows.column("mention").to_pylist()) == {"Staffan de Mistura", "Staffan De Mistura"}
