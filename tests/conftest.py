"""Shared fixtures: a real Prefect server for the session, and helpers to run newsetl and read its catalog."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
NEWSETL = [sys.executable, "-m", "newsetl"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real `prefect server` on a free port with its own PREFECT_HOME; yields the environment to reach it."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    client_env = {**env, "PREFECT_API_URL": url}
    try:
        deadline = time.monotonic() + 90
        while True:
            status = subprocess.run(
                [sys.executable, "-m", "prefect", "server", "status"], env=client_env, capture_output=True
            )
            if status.returncode == 0:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prefect server did not start:\n" + (home / "server.log").read_text()[-3000:])
            time.sleep(1)
        yield client_env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


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
COMPARED = ["articles", "captions", "duplicates", "quarantine", "files"]


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


@pytest.fixture
def sample_tree(tmp_path: Path) -> Path:
    """A raw root holding the real sample dump under one source."""
    raw = tmp_path / "raw"
    (raw / "presstv" / "2016-09-10").mkdir(parents=True)
    shutil.copy(FIXTURES / "000_8c12f4ce0dba6983.txt", raw / "presstv" / "2016-09-10" / "000_8c12f4ce0dba6983.txt")
    return raw
