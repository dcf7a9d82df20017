"""Entities an analyst can group by, through the pipeline on real files and tables: one canonical name per
alias, the text as found beside it. Every text here is written by the test."""

from pathlib import Path

from newsetl.settings import Settings
from newsetl.tables import query
from tests.conftest import ingest_without_prefect


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
