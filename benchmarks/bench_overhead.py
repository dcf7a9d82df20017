"""What Prefect costs: the same ingestion with and without Prefect around it.

    .venv/bin/python benchmarks/bench_overhead.py [--articles 100000] [--rounds 2] [--workdir DIR]

Runs the flow's steps as plain functions (discover, extract in a process pool of one process per core, plan,
commit, quality report, catalog) and then the real flow (`newsetl run` against a local Prefect server) on the
same generated corpus, entities off, in turns for `--rounds` rounds. Prefect's overhead is the flow's time (the
`runs` table) minus the plain run's, as a share of the flow's; it also holds the flow's small steps that need
Prefect's API (the run's bookkeeping, the progress and data-quality artifacts) and its compaction check, so it is
an upper bound.
Figures are printed and saved (benchmarks/results/bench_overhead.json), never asserted.
"""

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import forkserver
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
from results import save  # noqa: E402 (benchmarks/results.py, beside this script)

from newsetl.catalog import write_catalog  # noqa: E402
from newsetl.commit import apply_plan  # noqa: E402
from newsetl.devserver import prefect_server  # noqa: E402
from newsetl.discovery import DumpFile, _scan, batches_for, hash_files, source_of  # noqa: E402
from newsetl.generate import SOURCE_TIMEZONES  # noqa: E402
from newsetl.plan import build_plan  # noqa: E402
from newsetl.settings import Settings  # noqa: E402
from newsetl.stage import batch_key, stage_batch  # noqa: E402
from newsetl.tables import ensure_tables  # noqa: E402

ENV = {"NEWSETL_SOURCE_TIMEZONES": json.dumps(SOURCE_TIMEZONES), "NEWSETL_ENTITIES": "false"}


def stage(batch: list[DumpFile], settings: Settings) -> str:
    target = settings.staging_dir / batch_key(batch, settings)
    stage_batch(batch, settings, target)
    return str(target)


def plain_run(raw: Path, out: Path) -> dict[str, float]:
    """The flow's work without Prefect; seconds per step."""
    os.environ.update(ENV)
    settings = Settings.for_dirs(raw, out)
    times: dict[str, float] = {}
    start = last = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        times[name] = round(now - last, 2)
        last = now

    ensure_tables(settings)
    # Workers forked from a server that imports the extract code while discovery runs, as the flow's are.
    multiprocessing.set_forkserver_preload(["newsetl.stage"])
    found, _ = _scan(raw)
    hashes = hash_files(found, settings.state_dir / "raw-hashes.parquet", forkserver.ensure_running)
    files = [DumpFile(f.path, f.rel, source_of(f.rel), digest, f.size) for f, digest in zip(found, hashes, strict=True)]
    workers = os.cpu_count() or 1
    batches = batches_for(files, settings)
    lap("discover")
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        staged = list(pool.map(stage, batches, [settings] * len(batches)))
    lap("extract")
    plan = settings.plans_dir / "00000001"
    build_plan(staged, settings, "plain", plan)
    lap("plan")
    apply_plan(plan, settings)
    lap("commit")
    write_catalog(settings)
    lap("catalog")
    times["total"] = round(time.perf_counter() - start, 2)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out-overhead")
    parser.add_argument("--rounds", type=int, default=2, help="plain and flow runs, taken in turns")
    args = parser.parse_args()
    raw = args.workdir / f"raw-{args.articles}"
    if not raw.is_dir():
        subprocess.run(
            [sys.executable, "-m", "newsetl", "generate", str(raw), "--articles", str(args.articles), "--seed", "1"],
            check=True,
            cwd=ROOT,
        )
    plain_out, flow_out = args.workdir / "out-plain", args.workdir / "out-flow"
    # In turns, because this machine's speed drifts by a third over a day. The CLI is timed without sampling its
    # memory, as the plain run is.
    rounds = []
    with prefect_server(args.workdir / "prefect-home") as server:
        for _ in range(args.rounds):
            for out in (plain_out, flow_out):
                shutil.rmtree(out, ignore_errors=True)
            plain = plain_run(raw, plain_out)
            started = time.perf_counter()
            command = [sys.executable, "-m", "newsetl", "run", "--raw", str(raw), "--out", str(flow_out)]
            subprocess.run(command, env=server | ENV, cwd=ROOT, check=True, capture_output=True)
            cli_seconds = time.perf_counter() - started
            con = duckdb.connect(str(flow_out / "news.duckdb"), read_only=True)
            flow_seconds = con.sql("SELECT seconds FROM runs").fetchall()[0][0]
            con.close()
            rounds.append({"plain_s": plain, "flow_s": round(flow_seconds, 1), "cli_s": round(cli_seconds, 1),
                           "prefect_overhead": f"{(flow_seconds - plain['total']) / flow_seconds:.1%}"})  # fmt: skip
    plain_total = sum(r["plain_s"]["total"] for r in rounds)
    flow_total = sum(r["flow_s"] for r in rounds)
    overall = f"{(flow_total - plain_total) / flow_total:.1%}"
    print(json.dumps({"articles": args.articles, "rounds": rounds, "prefect_overhead": overall}, indent=1))
    rows = [
        {"round": str(i), "articles": args.articles, "plain_s": r["plain_s"]["total"], "plain_steps_s": r["plain_s"],
         "flow_s": r["flow_s"], "cli_s": r["cli_s"], "prefect_overhead": r["prefect_overhead"]}
        for i, r in enumerate(rounds, 1)
    ]  # fmt: skip
    rows.append({"round": "all", "articles": args.articles, "plain_s": round(plain_total, 2),
                 "flow_s": round(flow_total, 1), "cli_s": round(sum(r["cli_s"] for r in rounds), 1),
                 "prefect_overhead": overall})  # fmt: skip
    save("bench_overhead", rows)


if __name__ == "__main__":
    main()
