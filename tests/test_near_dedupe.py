"""Near duplicates through plan and commit: planted edits, templated near-misses, copies arriving in later runs,
and the same `articles` table whatever the order of runs or the batching."""

from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from newsetl import near_pairs
from newsetl.near_pairs import component_blocks
from newsetl.settings import Settings
from tests.conftest import ingest_without_prefect

SENTENCES = [
    "The central bank of Turkey raised its main interest rate on Thursday in a surprise move.",
    "Governor Murat Cetinkaya told reporters in Ankara that inflation had become a serious concern.",
    "The lira strengthened sharply against the dollar after the decision was announced.",
    "Economists had expected the bank to hold rates steady until the end of the year.",
    "Opposition leaders accused the government of pressuring the bank for months.",
    "President Recep Tayyip Erdogan has repeatedly called for lower borrowing costs.",
    "Analysts said the move would restore some confidence among foreign investors.",
    "Markets in Istanbul rose for a third day as banks led the gains.",
    "The bank said it would keep a tight policy stance as long as needed.",
    "Critics warned that growth would slow in the coming quarters as credit tightens.",
    "Exporters welcomed the stability of the currency but worried about demand in Europe.",
    "The next meeting of the monetary policy committee is scheduled for next month.",
]
TITLE = "Turkey's central bank raises rates in surprise move"


def body(sentences: list[str]) -> str:
    return "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))


def record(no: int, day: int, title: str, text: str, code: str | None = None) -> str:
    head = f"{no}\nSaturday {day:02d} September 2016 - 10:{no:02d}\n\n{title}\n\n"
    if code:
        head += f"Story Code : {code}\n\n"
    return head + text + "\n\n"


EDITS = {
    "sentence_added": (TITLE, body([*SENTENCES[:6], "Bankers in London were also surprised.", *SENTENCES[6:]])),
    "sentence_dropped": (TITLE, body(SENTENCES[:4] + SENTENCES[5:])),
    "words_changed": (
        TITLE,
        body([s.replace("reporters", "journalists").replace("sharply", "strongly") for s in SENTENCES]),
    ),
    "title_prefix": ("UPDATE 1-" + TITLE, body(SENTENCES)),
}

# Short templated stories: the same sentences around other names and figures.
RESULTS = [
    ("Galatasaray", "Fenerbahce", 3, 1, 52000),
    ("Besiktas", "Trabzonspor", 2, 0, 41000),
    ("Konyaspor", "Bursaspor", 1, 1, 18000),
]


def result_story(home: str, away: str, h: int, a: int, crowd: int) -> tuple[str, str]:
    text = (
        f"{home} beat {away} {h}-{a} in the Turkish Super Lig on Saturday in front of {crowd} fans. "
        f"The home side led {h}-{a} at half time and held on in the second half despite late pressure. "
        "The result leaves the league table tight with ten rounds of the season still to play."
    )
    return f"{home} {h} {away} {a}", text


# Three unrelated stories of the same size.
STORIES = {
    "a": SENTENCES,
    "b": [" ".join(word[::-1] for word in s.split()) for s in SENTENCES],
    "c": [" ".join(reversed(s.split())) for s in SENTENCES],
}


def ingest(settings: Settings, files: dict[str, str], seq: int, per_file_batches: bool = False) -> None:
    """Stage `files` (name -> text, under source named by the first path part), plan and commit, as a run does."""
    ingest_without_prefect(settings, files, seq, per_file_batches=per_file_batches, catalog=True)


def rows(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.catalog_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out", entities=False)


ORIGINAL = {"wire/a.txt": record(0, 10, TITLE, body(SENTENCES), code="100")}
COPIES = {f"site/{kind}.txt": record(0, 11, title, text) for kind, (title, text) in EDITS.items()}


def test_light_edits_arriving_in_a_later_run_are_near_copies_of_the_article(settings: Settings) -> None:
    ingest(settings, ORIGINAL, 1)
    ingest(settings, COPIES, 2)
    (original,) = rows(settings, "SELECT article_id FROM articles WHERE source_file = 'wire/a.txt'")
    near = rows(settings, "SELECT source_file, duplicate_of, similarity FROM duplicates WHERE kind = 'near'")
    assert sorted(f for f, _, _ in near) == sorted(COPIES)
    assert {of for _, of, _ in near} == set(original)
    assert all(0.8 <= s < 1 for _, _, s in near)
    assert rows(settings, "SELECT count(*) FROM articles") == [(1,)]


def test_an_earlier_copy_in_a_later_run_replaces_the_article_and_takes_its_copies(settings: Settings) -> None:
    """The earliest published wins whatever the order of runs: the copies that pointed to the displaced
    article point to the new one."""
    late = {"site/late.txt": record(0, 12, *EDITS["sentence_added"])}
    ingest(settings, late | {"site/later.txt": record(0, 13, *EDITS["sentence_dropped"])}, 1)
    ingest(settings, ORIGINAL, 2)
    (original,) = rows(settings, "SELECT article_id FROM articles")
    assert rows(settings, "SELECT source_file FROM articles") == [("wire/a.txt",)]
    near = rows(settings, "SELECT source_file, duplicate_of FROM duplicates WHERE kind = 'near' ORDER BY 1")
    assert near == [("site/late.txt", original[0]), ("site/later.txt", original[0])]
    # The displaced article's rows that hang off it are gone.
    assert rows(settings, "SELECT DISTINCT article_id FROM near_index") == [original]
    assert rows(settings, "SELECT article_id, octet_length(minhash) FROM near_signatures") == [(original[0], 400)]


def test_published_articles_without_a_stored_signature_are_signed_from_their_text(settings: Settings) -> None:
    """An archive published before signatures were stored: its candidates are read and signed instead."""
    ingest(settings, ORIGINAL, 1)
    table = DeltaTable(settings.table_uri("near_signatures"))
    table.delete()
    assert table.to_pyarrow_table().num_rows == 0
    ingest(settings, COPIES, 2)
    near = rows(settings, "SELECT source_file FROM duplicates WHERE kind = 'near' ORDER BY 1")
    assert [f for (f,) in near] == sorted(COPIES)


def test_pairs_are_checked_the_same_in_blocks_of_any_size(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [("r1", "r2"), ("r3", "h9"), ("r2", "r4"), ("r5", "r6")]
    blocks = component_blocks(pairs, 2)
    assert blocks["r1"] == blocks["r2"] == blocks["r4"]  # a connected group is never cut
    assert blocks["r3"] == blocks["h9"] != blocks["r5"] == blocks["r6"]
    assert len(set(blocks.values())) == 3
    monkeypatch.setattr(near_pairs, "VERIFY_BLOCK", 1)
    ingest(settings, ORIGINAL | COPIES, 1)
    near = rows(settings, "SELECT source_file FROM duplicates WHERE kind = 'near' ORDER BY 1")
    assert [f for (f,) in near] == sorted(COPIES)


def test_published_signatures_are_compared_in_parts_of_any_size(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a large archive the published signatures are read a part at a time: here one article a part."""
    monkeypatch.setattr(near_pairs, "SIGNATURE_PART_ROWS", 1)
    ingest(settings, {f"wire/{n}.txt": record(0, 10, n, body(s)) for n, s in STORIES.items()}, 1)
    ingest(settings, {f"site/{n}.txt": record(0, 11, n, body(s[:4] + s[5:])) for n, s in STORIES.items()}, 2)
    assert near_copies(settings) == [(f"site/{n}.txt", f"wire/{n}.txt") for n in STORIES]


def test_a_helper_process_checks_blocks_of_pairs_the_same(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three unrelated stories and their copies in one run: three blocks of one pair, two of them for the helper."""
    monkeypatch.setattr(near_pairs, "VERIFY_BLOCK", 1)
    monkeypatch.setattr(near_pairs, "VERIFY_HELPER_BLOCKS", 3)
    files = {f"wire/{n}.txt": record(0, 10, n, body(s)) for n, s in STORIES.items()}
    files |= {f"site/{n}.txt": record(0, 11, n, body(s[:4] + s[5:])) for n, s in STORIES.items()}
    ingest(settings, files, 1)
    assert near_copies(settings) == [(f"site/{n}.txt", f"wire/{n}.txt") for n in STORIES]


def near_copies(settings: Settings) -> list[tuple[str, str]]:
    return rows(
        settings,
        """SELECT d.source_file, a.source_file FROM duplicates d JOIN articles a ON a.article_id = d.duplicate_of
           WHERE d.kind = 'near' ORDER BY 1""",
    )


def test_templated_stories_stay_separate_articles(settings: Settings) -> None:
    files = {f"sport/{i}.txt": record(0, 10 + i, *result_story(*r)) for i, r in enumerate(RESULTS)}
    ingest(settings, files, 1)
    assert rows(settings, "SELECT count(*) FROM articles") == [(len(RESULTS),)]
    assert rows(settings, "SELECT count(*) FROM duplicates") == [(0,)]


def test_same_articles_whatever_the_order_of_runs_or_the_batching(tmp_path: Path) -> None:
    corpus = ORIGINAL | COPIES | {"site/exact.txt": record(0, 12, TITLE, body(SENTENCES))}
    names = sorted(corpus)
    ways = {
        "one run": [names],
        "one file per batch": [names],
        "reversed runs": [[n] for n in reversed(names)],
        "copies first": [[n for n in names if n.startswith("site")], ["wire/a.txt"]],
    }
    tables = {}
    for way, runs in ways.items():
        settings = Settings(raw_dir=tmp_path / way / "raw", out_dir=tmp_path / way / "out", entities=False)
        for seq, run in enumerate(runs, 1):
            ingest(settings, {n: corpus[n] for n in run}, seq, per_file_batches=way == "one file per batch")
        tables[way] = (
            rows(settings, "SELECT article_id, source_file, title, body, published_at FROM articles ORDER BY 1"),
            rows(settings, "SELECT source_file, kind, duplicate_of FROM duplicates ORDER BY 1"),
        )
    first = tables["one run"]
    assert first[0] and len(first[1]) == len(COPIES) + 1
    for way, result in tables.items():
        assert result == first, way
