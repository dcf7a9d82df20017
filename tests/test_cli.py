"""The `newsetl` command as a user types it: run, sql in each format, and the messages when things are wrong."""

import asyncio
import json
import os
import struct
import subprocess
import time
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.conftest import NEWSETL, catalog_rows, run_newsetl, sample_tree_in

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


MISTAKES = {
    "run --raw MISSING": "the raw-dump directory {tmp}/missing does not exist: create it, or pass --raw DIR",
    "run --raw FILE": "the raw-dump directory {tmp}/file.txt is a file, not a folder",
    "run --raw {tmp} --out FILE": "the output directory {tmp}/file.txt is a file, not a folder",
    "watch --raw MISSING": "the raw-dump directory {tmp}/missing does not exist",
    "compact --out FILE": "the output directory {tmp}/file.txt is a file",
    "generate FILE": "{tmp}/file.txt is a file: pass the folder to write the dumps into",
    "generate {tmp}/g --articles -5": "--articles -5: give a count of 0 or more",
    "generate {tmp}/g --wave 0": "--wave 0: waves are numbered from 1",
}


@pytest.mark.parametrize("command", list(MISTAKES))
def test_a_mistake_is_one_line_and_exit_2_before_anything_starts(command: str, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("not a folder")
    words = command.replace("MISSING", "{tmp}/missing").replace("FILE", "{tmp}/file.txt").format(tmp=tmp_path)
    started = time.monotonic()
    done = subprocess.run([*NEWSETL, *words.split()], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()] and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: " + MISTAKES[command].format(tmp=tmp_path))
    assert took < 2.0  # no Prefect server, no worker: the check comes first
    assert not (tmp_path / "g").exists()


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = os.environ | {"NEWSETL_NEAR_THRESHOLD": "5"}
    done = subprocess.run([*NEWSETL, "run"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("error: bad setting near_threshold: ")
    assert len(done.stderr.splitlines()) == 1


def test_a_failed_run_is_in_the_catalog_at_once_and_an_unfixable_error_is_not_retried(
    prefect_server: dict[str, str], tmp_path: Path
) -> None:
    """The raw directory vanishes after the command's checks (here: the flow is called with a missing one)."""
    from flows.ingest import ingest

    out = tmp_path / "o"
    with temporary_settings({PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}):
        state = ingest(raw_dir=str(tmp_path / "gone"), out_dir=str(out), return_state=True)
        assert state.is_failed()
        assert "does not exist: create it, or pass --raw DIR" in str(state.result(raise_on_failure=False))
        flow_run_id = state.state_details.flow_run_id

        async def discoveries() -> list[int]:
            async with get_client() as client:
                runs = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
                )
            return [r.run_count for r in runs if r.name.startswith("discover-files")]

        assert asyncio.run(discoveries()) == [1]  # a retry cannot create the directory
    assert catalog_rows(out, "SELECT run_id, attempt, status FROM runs") == [(str(flow_run_id), 1, "failed")]


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
