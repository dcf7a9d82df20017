"""A site nobody wrote rules for: its language, its page furniture, its copies, learned from its own articles."""

from pathlib import Path

from newsetl.enrich import LANGUAGE_SURE
from newsetl.settings import Settings
from newsetl.tables import query
from tests.conftest import ingest_without_prefect

PROSE = (
    "The central bank said on Tuesday that it would keep its main interest rate unchanged for the rest of the "
    "year, as inflation eased and the economy showed signs of a slow recovery after a difficult winter for "
    "households and firms across the country, officials told reporters in the capital. {n}"
)


def dump(n: int, title: str, paragraphs: list[str], day: int = 10) -> str:
    return f"0\nSaturday {day} September 2016 - 05:28\n\n{title}\n\nStory Code : {n}\n" + "\n\n".join(paragraphs)


def test_an_earnings_table_of_an_english_source_is_english(tmp_path: Path) -> None:
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out", entities=False)
    dumps = {f"{n}.txt": dump(n, f"Rates steady {n}", [PROSE.format(n=n)]) for n in range(3)}
    dumps["earn.txt"] = dump(99, "Acme Corp 4th qtr net", ["Shr 39 cts vs 32 cts", "Net 2.5 mln vs 2.0 mln"])
    ingest_without_prefect(settings, dumps, 1)
    rows = query(settings, "SELECT story_code, language, language_confidence FROM {articles} ORDER BY 1").to_pylist()
    assert {r["language"] for r in rows} == {"en"}
    (earnings,) = [r for r in rows if r["story_code"] == "99"]
    assert earnings["language_confidence"] < LANGUAGE_SURE  # the classifier's own doubt is kept
