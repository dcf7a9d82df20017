"""`newsetl sql` reads the published tables and nothing else: one test per way out of the sandbox."""

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from newsetl.catalog import write_catalog
from newsetl.sandbox import RefusedQuery, check_query, open_catalog
from newsetl.settings import Settings
from tests.conftest import ingest_without_prefect

STORY = "0\nSaturday 3 September 2016 - 05:28\n\nHarbour reopens\n\nStory Code : 1\nThe harbour reopened today.\n"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("sandbox")
    settings = Settings(raw_dir=root / "raw", out_dir=root / "out", entities=False)
    ingest_without_prefect(settings, {"a.txt": STORY}, 1)
    write_catalog(settings)
    return settings


def refused(settings: Settings, query: str) -> str:
    """The message a sandboxed query is refused with (by the statement check or by DuckDB itself)."""
    try:
        check_query(query)
    except RefusedQuery as exc:
        return str(exc)
    con = open_catalog(settings)
    try:
        with pytest.raises(duckdb.Error) as caught:
            con.execute(query).fetchall()
    finally:
        con.close()
    return str(caught.value)


def test_the_analyst_queries_still_work(published: Settings) -> None:
    con = open_catalog(published)
    try:
        assert con.execute("SELECT title FROM articles WHERE year = 2016 AND month = 9").fetchall() == [
            ("Harbour reopens",)
        ]
        assert con.execute("SELECT count(*) FROM duplicates").fetchall() == [(0,)]
        assert con.execute("SELECT sum(records) FROM files").fetchall() == [(1,)]
    finally:
        con.close()
    for query in ("SUMMARIZE articles", "DESCRIBE articles", "SHOW TABLES", "EXPLAIN SELECT * FROM articles"):
        check_query(query)  # nothing raised


def test_copy_to_a_file_is_refused_and_writes_nothing(published: Settings, tmp_path: Path) -> None:
    for target in (tmp_path / "x.csv", published.table_path("articles") / "x.csv"):
        assert "not COPY" in refused(published, f"COPY (SELECT * FROM articles) TO '{target}'")
        assert not target.exists()


def test_attaching_another_database_is_refused(published: Settings, tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t (x INT)").close()
    assert "not ATTACH" in refused(published, f"ATTACH '{other}' AS o (READ_WRITE)")
    # Inside one statement no ATTACH can happen; nor can the table be written to.
    assert "not INSERT" in refused(published, "INSERT INTO o.t VALUES (1)")
    assert duckdb.connect(str(other)).execute("SELECT count(*) FROM t").fetchall() == [(0,)]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_json_auto('/etc/hosts')",
        "SELECT * FROM read_parquet('{out}/_state/**/*.parquet')",
        "SELECT * FROM read_text('{out}/articles/../../../../etc/passwd')",
        "SELECT * FROM glob('/root/*')",
        "SELECT * FROM glob('{out}/../*')",
    ],
)
def test_reading_a_path_outside_the_tables_is_refused(published: Settings, query: str) -> None:
    message = refused(published, query.format(out=published.out_dir))
    assert "file system operations are disabled" in message


def test_extensions_are_neither_installed_nor_loaded(published: Settings) -> None:
    assert "not LOAD" in refused(published, "INSTALL httpfs")
    assert "not LOAD" in refused(published, "LOAD json")


def test_settings_cannot_lift_the_limits(published: Settings) -> None:
    for query in ("SET enable_external_access = true", "RESET allowed_directories", "SET lock_configuration = false"):
        assert "not SET" in refused(published, query)
    con = open_catalog(published)  # and were the check bypassed, the connection is locked
    try:
        with pytest.raises(duckdb.InvalidInputException, match="locked"):
            con.execute("SET enable_external_access = true")
    finally:
        con.close()


def test_several_statements_are_refused(published: Settings) -> None:
    assert "one statement per call (2 given)" in refused(published, "SELECT 1; COPY (SELECT 1) TO '/tmp/x.csv'")


def test_the_command_refuses_in_one_line_and_unsafe_lifts_it(published: Settings, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    command = [sys.executable, "-m", "newsetl", "sql", f"COPY (SELECT 1) TO '{target}'"]
    done = subprocess.run([*command, "--out", str(published.out_dir)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("refused:") and "Traceback" not in done.stderr
    assert not target.exists()
    done = subprocess.run([*command, "--out", str(published.out_dir), "--unsafe"], capture_output=True, text=True)
    assert done.returncode == 0 and target.read_text().split() == ["1", "1"]  # header and row
