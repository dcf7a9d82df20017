"""Output on object storage: a real `newsetl run` into s3:// (a local S3-compatible server) publishes what a
run into a local directory publishes, and a rerun changes nothing."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow as pa
import pytest
import s3fs
from deltalake import DeltaTable
from moto.server import ThreadedMotoServer

from newsetl.devserver import free_port
from newsetl.generate import generate_corpus
from tests.conftest import COMPARED, VOLATILE, run_newsetl

pytestmark = pytest.mark.slow
BUCKET = "newsetl-test"


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free port with an empty bucket; yields the AWS_* variables that reach it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ALLOW_HTTP": "true",  # the Delta writer refuses plain http unless told
    }
    try:
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield env
    finally:
        server.stop()


def rows(uri: str, options: dict[str, str] | None = None) -> list[tuple[Any, ...]]:
    """A Delta table's rows, sorted, without the volatile columns."""
    data = pa.table(DeltaTable(uri, storage_options=options).to_pyarrow_table())
    data = data.select([c for c in data.column_names if c not in VOLATILE])
    return sorted(tuple(r.values()) for r in data.to_pylist())


def snapshot(out: str, options: dict[str, str] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    return {name: sorted(rows(f"{out}/{name}", options), key=repr) for name in COMPARED}


def test_a_run_into_s3_publishes_what_a_local_run_does(
    prefect_server: dict[str, str], s3_env: dict[str, str], tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    generate_corpus(raw, 300, seed=4)
    env = {**prefect_server, "NEWSETL_ENTITIES": "false", "NEWSETL_BATCH_FILES": "20"}
    local = tmp_path / "local"
    run_newsetl(env, "run", "--raw", str(raw), "--out", str(local))

    remote = f"s3://{BUCKET}/news"
    work = tmp_path / "work"
    s3 = {**env, **s3_env, "NEWSETL_WORK_DIR": str(work)}
    started = time.monotonic()
    # In rounds of 150 records, so that later rounds replace articles already on S3: its files are rewritten.
    done = run_newsetl({**s3, "NEWSETL_PLAN_RECORDS": "150"}, "run", "--raw", str(raw), "--out", remote)
    print(f"run into s3: {time.monotonic() - started:.1f} s")
    assert str(work / "news.duckdb") in done.stdout.replace("\n", "")

    options = {k: s3_env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL")}
    options["AWS_ALLOW_HTTP"] = "true"
    published = snapshot(remote, options)
    assert published == snapshot(str(local))
    assert len(published["articles"]) > 200

    # The catalog is a local file whose views read s3:// URIs: an analyst registers an fsspec filesystem.
    con = duckdb.connect(str(work / "news.duckdb"), read_only=True)
    fs = s3fs.S3FileSystem(key="test", secret="test", endpoint_url=s3_env["AWS_ENDPOINT_URL"])
    logs = [fs.cat(p) for p in fs.glob(f"{BUCKET}/news/articles/_delta_log/*.json")]
    assert any(b'"remove"' in log for log in logs)
    con.register_filesystem(fs)
    assert con.execute("SELECT count(*) FROM articles").fetchall() == [(len(published["articles"]),)]
    con.close()

    # `newsetl sql` does that itself; a rerun finds nothing new and changes nothing.
    assert "articles" in run_newsetl(s3, "sql", "SELECT count(*) AS articles FROM articles", "--out", remote).stdout
    run_newsetl(s3, "run", "--raw", str(raw), "--out", remote)
    assert snapshot(remote, options) == published
    runs = rows(f"{remote}/runs", options)
    assert len(runs) == 2
