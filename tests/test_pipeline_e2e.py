"""The real flow on the demo corpus, under a real Prefect server, read back through news.duckdb."""

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from newsetl.dateline import opening
from newsetl.discovery import sha256_of
from newsetl.entities import ALIASES, fold
from newsetl.generate import DEMO_ARTICLES, DEMO_SEED, SOURCE_TIMEZONES, Manifest, generate_corpus
from tests.conftest import ROOT, catalog_rows, run_newsetl, table_snapshot

pytestmark = pytest.mark.slow


def zoned(env: dict[str, str]) -> dict[str, str]:
    """The environment with the generated sites' time zones, so dates of different sites compare."""
    return env | {"NEWSETL_SOURCE_TIMEZONES": json.dumps(SOURCE_TIMEZONES)}


def accounted(out: Path) -> dict[str, set[tuple[str, int]]]:
    """Where each (source_file, record_no) ended up."""
    places = {}
    for table in ("articles", "duplicates"):
        places[table] = set(catalog_rows(out, f"SELECT source_file, record_no FROM {table}"))
    places["quarantine"] = set(
        catalog_rows(out, "SELECT source_file, record_no FROM quarantine WHERE record_no IS NOT NULL")
    )
    return places


def assert_every_record_once(out: Path) -> None:
    places = accounted(out)
    rows = {t: catalog_rows(out, f"SELECT count(*) FROM {t}")[0][0] for t in ("articles", "duplicates")}
    rows["quarantine"] = catalog_rows(out, "SELECT count(*) FROM quarantine WHERE record_no IS NOT NULL")[0][0]
    # No record is in a table twice, nor in two tables.
    assert {t: len(p) for t, p in places.items()} == rows
    assert not (places["articles"] & places["duplicates"])
    assert not (places["articles"] & places["quarantine"])
    assert not (places["duplicates"] & places["quarantine"])
    # And together they are every record of every ingested file.
    total = catalog_rows(out, "SELECT coalesce(sum(records), 0) FROM files")[0][0]
    assert sum(rows.values()) == total


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    raw = tmp_path_factory.mktemp("corpus") / "raw"
    return raw, generate_corpus(raw, DEMO_ARTICLES, seed=DEMO_SEED)


@pytest.fixture(scope="module")
def first_run(prefect_server: dict[str, str], corpus: tuple[Path, Manifest], tmp_path_factory) -> Path:
    raw, _ = corpus
    out = tmp_path_factory.mktemp("out")
    done = run_newsetl(zoned(prefect_server), "run", "--raw", str(raw), "--out", str(out))
    assert "articles new" in done.stdout
    return out


def test_every_record_is_accounted_for_once(first_run: Path, corpus: tuple[Path, Manifest]) -> None:
    _, manifest = corpus
    assert_every_record_once(first_run)
    files = dict(catalog_rows(first_run, "SELECT source_file, records FROM files"))
    ingestible = {f.path: f for f in manifest.files if f.kind != "ignored"}
    assert set(files) == set(ingestible)
    for path, f in ingestible.items():
        if f.kind == "dump":
            assert files[path] == f.records, path


def test_every_broken_file_is_quarantined_with_its_reason(first_run: Path, corpus: tuple[Path, Manifest]) -> None:
    _, manifest = corpus
    reasons = {(p, r) for p, r in catalog_rows(first_run, "SELECT source_file, reason FROM quarantine")}
    broken = [f for f in manifest.files if f.kind == "broken"]
    assert broken
    for f in broken:
        assert (f.path, f.reason) in reasons, f
    ignored = {f.path for f in manifest.files if f.kind == "ignored"}
    assert not ignored & {p for p, _ in reasons}


def test_records_meet_the_fate_the_generator_planned(first_run: Path, corpus: tuple[Path, Manifest]) -> None:
    _, manifest = corpus
    quarantined = dict(
        ((p, n), r)
        for p, n, r in catalog_rows(
            first_run, "SELECT source_file, record_no, reason FROM quarantine WHERE record_no IS NOT NULL"
        )
    )
    fates = Counter(r.fate for r in manifest.records)
    assert fates["exact"] and fates["revision"] and fates["near"]
    for r in manifest.records:
        if r.fate in ("no_title", "no_body", "record_too_large", "truncated_archive"):
            assert quarantined.get((r.path, r.record_no)) == r.fate, r
    # Every planted update with a date line is published (an undated one counts as the oldest version), and
    # one version of each planted pair is a revision duplicate: one article per (source, story code) remains.
    published = set(catalog_rows(first_run, "SELECT source_file, record_no FROM articles"))
    undated = set(catalog_rows(first_run, "SELECT source_file, record_no FROM duplicates WHERE published_at IS NULL"))
    for r in manifest.records:
        if r.fate == "revision" and (r.path, r.record_no) not in undated:
            assert (r.path, r.record_no) in published, r
    revised = catalog_rows(first_run, "SELECT count(*) FROM duplicates WHERE kind = 'revision'")[0][0]
    assert revised == fates["revision"]
    assert catalog_rows(
        first_run,
        "SELECT count(*) FROM (SELECT source, story_code FROM articles WHERE story_code IS NOT NULL "
        "GROUP BY ALL HAVING count(*) > 1)",
    ) == [(0,)]


def test_copies_of_a_story_and_only_they_share_one_article(first_run: Path, corpus: tuple[Path, Manifest]) -> None:
    """The generator's stories (an original with its exact copies, near copies and older versions) are exactly
    the groups of records that end as one article plus duplicates pointing to it. Which copy is the article
    follows the date lines, which the generator does not always order as planned (undated originals, sites in
    other zones), so groups are compared, not which member leads them."""
    _, manifest = corpus
    story_of = {
        (r.path, r.record_no): r.story.split("/")[0]
        for r in manifest.records
        if r.fate in ("article", "exact", "near", "revision")
    }
    article_of = dict(
        ((f, n), a)
        for f, n, a in catalog_rows(
            first_run,
            "SELECT source_file, record_no, article_id FROM articles UNION ALL "
            "SELECT source_file, record_no, duplicate_of FROM duplicates",
        )
    )
    groups: dict[str, set[str]] = {}
    for key, story in story_of.items():
        groups.setdefault(story, set()).add(article_of[key])
    assert all(len(ids) == 1 for ids in groups.values()), [s for s, ids in groups.items() if len(ids) > 1][:5]
    assert len({next(iter(ids)) for ids in groups.values()}) == len(groups)
    published = {a for (a,) in catalog_rows(first_run, "SELECT article_id FROM articles")}
    assert {next(iter(ids)) for ids in groups.values()} <= published
    near = [s for (s,) in catalog_rows(first_run, "SELECT similarity FROM duplicates WHERE kind = 'near'")]
    assert len(near) >= fates_of(manifest)["near"] and all(0.8 <= s < 1 for s in near)


def test_why_explains_a_near_copy(prefect_server: dict[str, str], first_run: Path) -> None:
    (path, no, of, sim) = catalog_rows(
        first_run,
        "SELECT source_file, record_no, duplicate_of, similarity FROM duplicates WHERE kind = 'near' "
        "ORDER BY ALL LIMIT 1",
    )[0]
    why = run_newsetl(prefect_server, "why", path, str(no), "--out", str(first_run)).stdout
    assert f"near copy of article {of}" in why and f"{sim:.2f}" in why and "that article:" in why


def fates_of(manifest: Manifest) -> Counter[str]:
    return Counter(r.fate for r in manifest.records)


def test_every_article_carries_its_metadata(first_run: Path) -> None:
    assert catalog_rows(
        first_run,
        # The generator writes English; the few records that are mostly a base64 image may have no language.
        """SELECT count(*) FILTER (language <> 'en' OR (language IS NULL AND body NOT LIKE '%base64%')),
                  count(*) FILTER (reading_minutes <= 0),
                  count(*) FILTER (word_count <= 0 OR char_count <= 0 OR paragraph_count <= 0),
                  count(*) FILTER (dateline IS NOT NULL) > 0
           FROM articles""",
    ) == [(0, 0, 0, True)]
    labels = dict(catalog_rows(first_run, "SELECT label, count(*) FROM entities GROUP BY ALL"))
    assert set(labels) <= {"PERSON", "ORG", "GPE", "LOC"} and labels.get("PERSON") and labels.get("GPE")
    # Every entity and keyword row belongs to a published article, and a name counts once per article.
    assert catalog_rows(
        first_run,
        """SELECT (SELECT count(*) FROM entities WHERE article_id NOT IN (SELECT article_id FROM articles)),
                  (SELECT count(*) FROM keywords WHERE article_id NOT IN (SELECT article_id FROM articles)),
                  (SELECT count(*) FROM (SELECT article_id, entity, label FROM entities GROUP BY ALL
                                         HAVING count(*) > 1)),
                  (SELECT count(DISTINCT article_id) FROM keywords) = (SELECT count(*) FROM articles)""",
    ) == [(0, 0, 0, True)]


AGENCIES = ("Reuters", "AFP", "Associated Press", "dpa", "Anadolu", "Xinhua")
CREDIT = re.compile(r"\((?:Photo|Reporting|Writing|Editing)[^)]*\)|\b[A-Z]+/[A-Z][\w ]*$")


def test_the_demo_corpus_has_one_name_per_alias(first_run: Path) -> None:
    entities = [row[0] for row in catalog_rows(first_run, "SELECT DISTINCT entity FROM entities")]
    assert {"United States", "United Kingdom", "United Nations", "European Union"} & set(entities)
    for entity in entities:  # no alias but its canonical form, and no two names that differ by case or dots
        assert ALIASES.get(fold(entity), (entity,))[0] == entity, entity
    assert len({fold(entity) for entity in entities}) == len(entities)


def test_the_demo_corpus_names_an_agency_only_where_its_story_does(first_run: Path) -> None:
    top = catalog_rows(
        first_run, "SELECT entity FROM entities WHERE label = 'ORG' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 10"
    )
    named = [entity for (entity,) in top if entity in AGENCIES]
    assert named  # the demo's stories quote agencies ("told Reuters"): the rule below has something to check
    rows = catalog_rows(
        first_run,
        f"""SELECT e.entity, a.title, a.body, list(c.caption) FILTER (c.caption IS NOT NULL)
            FROM entities e JOIN articles a USING (article_id) LEFT JOIN captions c USING (article_id)
            WHERE e.entity IN ({", ".join(f"'{n}'" for n in named)}) GROUP BY ALL""",
    )
    for entity, title, body, captions in rows:  # named in the title, the story past its byline, or a caption
        text = "\n".join([title, body[opening(body)[0] :], *(CREDIT.sub("", c) for c in captions or [])])
        assert entity in text, (entity, body[:200])


def test_the_demo_corpus_writes_no_common_word_as_a_name(first_run: Path) -> None:
    assert catalog_rows(first_run, "SELECT count(*) FROM word_case WHERE word = 'turnout'") == [(1,)]
    assert (
        catalog_rows(
            first_run,
            """SELECT e.entity FROM entities e JOIN (SELECT word, sum(lower_case) AS lower, sum(capitalised) AS capital
               FROM word_case GROUP BY word) w ON w.word = lower(e.entity)
           WHERE position(' ' IN e.entity) = 0 AND w.lower >= 3 AND w.lower >= w.capital LIMIT 5""",
        )
        == []
    )


def test_published_articles_are_clean(first_run: Path) -> None:
    bad = catalog_rows(
        first_run,
        r"""SELECT count(*) FROM articles WHERE body LIKE '%' || chr(160) || '%' OR body LIKE '%&amp;%'
            OR body LIKE '%â€%' OR regexp_matches(body, '\n\n\n|  ') OR title = '' OR body = ''""",
    )
    assert bad == [(0,)]
    assert catalog_rows(first_run, "SELECT count(*) FROM articles WHERE published_at IS NULL")[0][0] > 0
    assert catalog_rows(first_run, "SELECT count(*) FROM captions")[0][0] > 0
    # Partitions follow the publish date.
    assert catalog_rows(
        first_run,
        "SELECT count(*) FROM articles WHERE year != year(published_at AT TIME ZONE 'UTC') "
        "OR month != month(published_at AT TIME ZONE 'UTC')",
    ) == [(0,)]


def test_a_run_planned_in_rounds_publishes_the_tables_of_one_round(
    prefect_server: dict[str, str], corpus: tuple[Path, Manifest], first_run: Path, tmp_path: Path
) -> None:
    """NEWSETL_PLAN_RECORDS cuts a large run into rounds planned and committed one after another."""
    raw, _ = corpus
    env = zoned(prefect_server) | {
        "NEWSETL_PLAN_RECORDS": "400",
        "NEWSETL_BATCH_FILES": "20",
        "PREFECT_LOGGING_LEVEL": "INFO",
        # Entities come from each article's own text, not from its round: without the model the run takes a fifth
        # of the time, and every other table must still equal the first run's. (That a replaced article's entities
        # go with it is checked in tests/test_load.py.)
        "NEWSETL_ENTITIES": "false",
    }
    done = run_newsetl(env, "run", "--raw", str(raw), "--out", str(tmp_path))
    assert done.stderr.count("committed plan") >= 3, done.stderr[-3000:]  # 2,000 records in rounds of ~400
    in_rounds, whole = table_snapshot(tmp_path), table_snapshot(first_run)
    assert in_rounds.pop("entities") == [] and whole.pop("entities")
    assert in_rounds == whole
    assert_every_record_once(tmp_path)
    # Records and quarantine add up exactly; articles and duplicates are each round's (see NEWSETL_PLAN_RECORDS).
    counts = "SELECT records, quarantined FROM runs"
    assert catalog_rows(tmp_path, counts) == catalog_rows(first_run, counts)


def test_rerun_changes_nothing(prefect_server: dict[str, str], corpus: tuple[Path, Manifest], first_run: Path) -> None:
    raw, _ = corpus
    before = table_snapshot(first_run)
    done = run_newsetl(zoned(prefect_server), "run", "--raw", str(raw), "--out", str(first_run))
    assert table_snapshot(first_run) == before
    runs = catalog_rows(first_run, "SELECT status, files_new, files_unchanged FROM runs ORDER BY started_at")
    assert [r[0] for r in runs] == ["completed", "completed"]
    assert runs[1][1] == 0 and runs[1][2] == runs[0][1]
    assert "files new" in done.stdout


def test_second_wave_adds_only_what_is_new(
    prefect_server: dict[str, str], corpus: tuple[Path, Manifest], tmp_path: Path
) -> None:
    raw, _ = corpus
    # A copy of the tree, so the module's first run stays as it was for the other tests.
    tree = tmp_path / "raw"
    shutil.copytree(raw, tree)
    out = tmp_path / "out"
    env = zoned(prefect_server) | {"NEWSETL_ENTITIES": "false"}  # copies across waves, not entities, are tested
    run_newsetl(env, "run", "--raw", str(tree), "--out", str(out))
    first = table_snapshot(out)
    wave2 = generate_corpus(tree, 600, seed=DEMO_SEED, wave=2)
    run_newsetl(env, "run", "--raw", str(tree), "--out", str(out))
    assert_every_record_once(out)
    new_files = catalog_rows(out, "SELECT files_new FROM runs ORDER BY started_at")[-1][0]
    # New means new bytes: an empty file in wave 2 is the same content as one in wave 1.
    wave1_hashes = {sha256 for _, sha256, *_ in first["files"]}
    wave2_hashes = {sha256_of(tree / f.path) for f in wave2.files if f.kind != "ignored"}
    assert new_files == len(wave2_hashes - wave1_hashes) > 0
    # Nothing of the first wave was re-ingested, and copies in wave 2 point at wave-1 articles.
    assert set(first["files"]) <= set(table_snapshot(out)["files"])
    first_run_id, second_run_id = [r[0] for r in catalog_rows(out, "SELECT run_id FROM runs ORDER BY started_at")]
    cross = dict(
        catalog_rows(
            out,
            f"""SELECT d.kind, count(*) FROM duplicates d JOIN articles a ON a.article_id = d.duplicate_of
                WHERE d.run_id = '{second_run_id}' AND a.run_id = '{first_run_id}' GROUP BY ALL""",
        )
    )
    assert cross.get("exact") and cross.get("near"), cross


def readme_queries() -> list[str]:
    """Every SQL statement in the README's ```sql blocks, but those of the section on S3 (they need S3)."""
    sections = (ROOT / "README.md").read_text().split("\n## ")
    text = "\n## ".join(s for s in sections if not s.startswith("Output on object storage"))
    blocks = [b.split("```", 1)[0] for b in text.split("```sql\n")[1:]]
    statements = [q.strip() for b in blocks for q in b.split(";")]
    return [q for q in statements if any(line and not line.startswith("--") for line in q.splitlines())]


def test_the_readme_queries_run_and_the_accounting_adds_up(first_run: Path) -> None:
    queries = readme_queries()
    assert len(queries) >= 5
    for q in queries:
        catalog_rows(first_run, q)  # raises on any error
    accounting = next(q for q in queries if "AS accounted" in q)
    ((records, accounted),) = catalog_rows(first_run, accounting)
    assert records == accounted > 0
