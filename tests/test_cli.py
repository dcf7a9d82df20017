"""The `newsetl` command as a user types it: run, sql in each format, and the messages when things are wrong."""

import asyncio
import json
import struct
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL, temporary_settings

from newsetl.settings import Settings
from tasks.tables import query
from tests.conftest import catalog_rows, run_newsetl, sample_tree_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_run(prefect_server: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One run on the real sample, read by the tests below (none of them writes): its raw root, its output, and
    what it printed."""
    root = tmp_path_factory.mktemp("sample")
    raw, out = sample_tree_in(root), root / "out"
    done = run_newsetl(prefect_server, "run", "--raw", str(raw), "--out", str(out))
    return raw, out, done.stdout


def test_run_on_the_sample_publishes_the_golden_article(
    prefect_server: dict[str, str], sample_run: tuple[Path, Path, str]
) -> None:
    sample_tree, out, printed = sample_run
    assert "articles new" in printed
    rows = catalog_rows(
        out,
        """SELECT story_code, title, published_at AT TIME ZONE 'UTC', word_count, paragraph_count, source,
                  source_file, record_no, year, month, body LIKE '%Comment%', caption_count FROM articles""",
    )
    assert len(rows) == 1
    code, title, published, words, paragraphs, source, path, no, year, month, has_comment, captions = rows[0]
    assert (code, title) == ("566428", "Putin, Erdogan discuss Aleppo over phone")
    assert published.isoformat() == "2016-09-10T05:28:00"
    assert (words, paragraphs, captions, has_comment) == (369, 14, 1, False)
    assert (source, path, no, year, month) == ("presstv", "presstv/2016-09-10/000_8c12f4ce0dba6983.txt", 0, 2016, 9)
    # Storage format 64 is the one DuckDB 1.0 and 1.1 read (DuckDB 2.0 writes a newer one by default).
    header = (out / "news.duckdb").read_bytes()[:20]
    assert header[8:12] == b"DUCK" and struct.unpack("<Q", header[12:20]) == (64,)
    captions = catalog_rows(out, "SELECT caption_no, caption FROM captions")
    assert len(captions) == 1 and captions[0][1].startswith("Turkey’s President Recep Tayyip Erdogan (L)")
    # What the article is about: its language, the people and places it names, its top terms.
    assert catalog_rows(out, "SELECT language, reading_minutes FROM articles") == [("en", 1.6)]
    names = {(e, label) for e, label in catalog_rows(out, "SELECT entity, label FROM entities")}
    # The body says "Putin" and "Erdogan"; the photo caption names them in full.
    assert {("Vladimir Putin", "PERSON"), ("Recep Tayyip Erdogan", "PERSON"), ("Aleppo", "GPE")} <= names
    keywords = [k for (k,) in catalog_rows(out, "SELECT keyword FROM keywords ORDER BY score DESC")]
    assert "aleppo" in keywords[:3]
    # `newsetl why` tells where the record went, by its name in the tables or by its path.
    why = run_newsetl(prefect_server, "why", "presstv/2016-09-10/000_8c12f4ce0dba6983.txt", "0", "--out", str(out))
    assert "record 0" in why.stdout and "published as article" in why.stdout and "Putin, Erdogan" in why.stdout
    by_path = sample_tree / "presstv" / "2016-09-10" / "000_8c12f4ce0dba6983.txt"
    why = run_newsetl(prefect_server, "why", str(by_path), "--raw", str(sample_tree), "--out", str(out))
    assert "published as article" in why.stdout
    missing = run_newsetl(prefect_server, "why", "presstv/nope.txt", "--out", str(out), check=False)
    assert missing.returncode == 1 and "no run has ingested" in missing.stderr


def test_sql_formats(prefect_server: dict[str, str], sample_run: tuple[Path, Path, str]) -> None:
    _, out, _ = sample_run
    query = "SELECT story_code, word_count FROM articles"
    as_json = run_newsetl(prefect_server, "sql", query, "--out", str(out), "--format", "json").stdout
    assert json.loads(as_json) == [{"story_code": "566428", "word_count": 369}]
    as_csv = run_newsetl(prefect_server, "sql", query, "--out", str(out), "--format", "csv").stdout
    assert as_csv.splitlines() == ["story_code,word_count", "566428,369"]
    as_table = run_newsetl(prefect_server, "sql", query, "--out", str(out)).stdout
    assert "566428" in as_table and "369" in as_table


def test_sql_is_read_only(prefect_server: dict[str, str], sample_run: tuple[Path, Path, str]) -> None:
    _, out, _ = sample_run
    done = run_newsetl(prefect_server, "sql", "DROP VIEW articles", "--out", str(out), check=False)
    assert done.returncode == 2 and "refused" in done.stderr and "only SELECT and EXPLAIN" in done.stderr
    assert catalog_rows(out, "SELECT count(*) FROM articles") == [(1,)]


def test_sql_without_a_catalog_says_what_to_do(prefect_server: dict[str, str], tmp_path: Path) -> None:
    done = run_newsetl(prefect_server, "sql", "SELECT 1", "--out", str(tmp_path), check=False)
    assert done.returncode == 2
    assert "newsetl run" in done.stderr


def test_run_with_a_missing_raw_dir_fails_with_a_message(prefect_server: dict[str, str], tmp_path: Path) -> None:
    done = run_newsetl(
        prefect_server, "run", "--raw", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), check=False
    )
    assert done.returncode == 1
    assert "does not exist" in done.stderr and "--raw" in done.stderr
    # The run that failed says so in `runs` (read from the Delta table: the catalog is only built on success).
    statuses = query(Settings(out_dir=tmp_path / "o"), "SELECT status, finished_at IS NOT NULL AS done FROM {runs}")
    assert statuses.to_pylist() == [{"status": "failed", "done": True}]


def test_a_plan_beyond_duckdbs_memory_cap_says_which_setting_to_raise(
    prefect_server: dict[str, str], sample_tree: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    capped = prefect_server | {"NEWSETL_DUCKDB_MEMORY_LIMIT": "1MB"}
    done = run_newsetl(capped, "run", "--raw", str(sample_tree), "--out", str(out), check=False)
    assert done.returncode == 1
    assert "NEWSETL_DUCKDB_MEMORY_LIMIT=1MB): set it higher" in done.stderr
    assert "Retry" not in done.stderr  # the same plan would run out again
    run_newsetl(prefect_server, "run", "--raw", str(sample_tree), "--out", str(out))
    assert catalog_rows(out, "SELECT count(*) FROM articles") == [(1,)]


def test_run_leaves_a_summary_artifact(prefect_server: dict[str, str], sample_run: tuple[Path, Path, str]) -> None:
    _, out, _ = sample_run
    run_id = catalog_rows(out, "SELECT run_id FROM runs")[0][0]

    async def summary() -> list[dict]:
        with temporary_settings({PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}):
            async with get_client() as client:
                artifacts = await client.read_artifacts(
                    artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["newsetl-run-summary"])),
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)])),
                )
        assert len(artifacts) == 1
        return json.loads(artifacts[0].data)

    rows = {r["count"]: r["value"] for r in asyncio.run(summary())}
    assert rows["files_new"] == 1 and rows["articles_new"] == 1 and rows["quarantined"] == 0
