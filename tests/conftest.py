"""Shared fixtures: a real Prefect server for the session, and helpers to run newsetl and read its catalog."""

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from newsetl.catalog import write_catalog
from newsetl.commit import apply_plan
from newsetl.devserver import prefect_server as prefect_server_at
from newsetl.discovery import DumpFile, sha256_of, source_of
from newsetl.plan import build_plan
from newsetl.settings import Settings
from newsetl.stage import batch_key, stage_batch
from newsetl.tables import ensure_tables

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
NEWSETL = [sys.executable, "-m", "newsetl"]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real `prefect server` for the whole session; yields the environment that reaches it."""
    with prefect_server_at(tmp_path_factory.mktemp("prefect-home")) as env:
        yield env


def run_newsetl(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real `newsetl` command in a subprocess against the session's Prefect server."""
    done = subprocess.run([*NEWSETL, *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"newsetl {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def catalog_rows(out: Path, sql: str) -> list[tuple]:
    """Query news.duckdb read-only, as an analyst would."""
    con = duckdb.connect(str(out / "news.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# Columns that name the run or the moment and so differ between equal ingestions.
VOLATILE = {"run_id", "ingested_at"}
COMPARED = [
    "articles",
    "captions",
    "entities",
    "keywords",
    "duplicates",
    "quarantine",
    "files",
    "near_index",
    "near_signatures",
]


def table_snapshot(out: Path) -> dict[str, list[tuple]]:
    """Every published table's rows, sorted, without the volatile columns."""
    snapshot: dict[str, list[tuple]] = {}
    con = duckdb.connect(str(out / "news.duckdb"), read_only=True)
    try:
        for name in COMPARED:
            cols = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall() if r[0] not in VOLATILE]
            listing = ", ".join(cols)
            snapshot[name] = con.execute(f"SELECT {listing} FROM {name} ORDER BY ALL").fetchall()
    finally:
        con.close()
    return snapshot


def sample_tree_in(root: Path) -> Path:
    """A raw root under `root` holding the real sample dump under one source."""
    raw = root / "raw"
    (raw / "presstv" / "2016-09-10").mkdir(parents=True)
    shutil.copy(FIXTURES / "000_8c12f4ce0dba6983.txt", raw / "presstv" / "2016-09-10" / "000_8c12f4ce0dba6983.txt")
    return raw


@pytest.fixture
def sample_tree(tmp_path: Path) -> Path:
    return sample_tree_in(tmp_path)


def write_dumps(settings: Settings, dumps: dict[str, str]) -> list[DumpFile]:
    """Write `dumps` (name -> text; a bare name goes under source `site`, a path's first folder is its source)
    under the raw root, as the files discovery would find."""
    files = []
    for name, text in dumps.items():
        rel = name if "/" in name else f"site/{name}"
        path = settings.raw_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files.append(DumpFile(str(path), rel, source_of(rel), sha256_of(path), path.stat().st_size))
    return files


def stage_batches(settings: Settings, batches: list[list[DumpFile]]) -> list[str]:
    """The extract step on each batch; returns the staged folders."""
    ensure_tables(settings)
    staged = []
    for batch in batches:
        staged.append(str(settings.staging_dir / batch_key(batch, settings)))
        stage_batch(batch, settings, Path(staged[-1]))
    return staged


def plan_and_commit(
    settings: Settings, staged: list[str], seq: int, keep_plan: Path | None = None, catalog: bool = False
) -> None:
    """The plan and load steps on staged folders (and the catalog's); `keep_plan` receives a copy of the plan
    before it is committed."""
    plan = settings.plans_dir / f"{seq:08d}"
    build_plan(staged, settings, f"run-{seq}", plan)
    if keep_plan is not None:
        shutil.copytree(plan, keep_plan)
    apply_plan(plan, settings)
    if catalog:
        write_catalog(settings)


def ingest_without_prefect(
    settings: Settings,
    dumps: dict[str, str],
    seq: int,
    keep_plan: Path | None = None,
    per_file_batches: bool = False,
    catalog: bool = False,
) -> None:
    """The flow's steps on plain functions: write `dumps` (see write_dumps), stage them as one batch (or a batch
    a file), plan and commit."""
    files = write_dumps(settings, dumps)
    staged = stage_batches(settings, [[f] for f in files] if per_file_batches else [files])
    plan_and_commit(settings, staged, seq, keep_plan, catalog)
