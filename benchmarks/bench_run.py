"""Benchmark `newsetl run`: articles per second, peak memory and time per stage at several corpus sizes.

    .venv/bin/python benchmarks/bench_run.py [--sizes 10000 100000] [--entity-sizes 10000] [--workdir DIR]

`--sizes` runs with entity extraction off (NEWSETL_ENTITIES=false), `--entity-sizes` with it on (the default).

Generates each corpus with `newsetl generate`, ingests it with the real CLI against a local Prefect server,
and prints one table. Also measures the floor: reading the same raw bytes and writing the same articles
Parquet with pyarrow alone. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

import duckdb
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun, TaskRun

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from results import save  # noqa: E402 (benchmarks/results.py, beside this script)

from newsetl.devserver import prefect_server  # noqa: E402
from newsetl.generate import SOURCE_TIMEZONES  # noqa: E402

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def tree_pids(pid: int) -> list[int]:
    """A process and its descendants (the extract workers are child processes, started by any of its threads)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task_dir in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task_dir / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        found.append(p)
    return found


def rss_kib(pids: list[int]) -> dict[int, int]:
    """The resident memory of each process still alive, from the one-line /proc/PID/statm."""
    found = {}
    for p in pids:
        try:
            found[p] = int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE_KIB
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return found


def pss_kib(pids: list[int]) -> int:
    """The summed proportional memory of processes. RSS counts the pages of shared libraries (Arrow, DuckDB,
    numpy) in every process that maps them; PSS divides them among those processes, so a tree's summed PSS is
    the memory it takes from the machine. Reading it costs the kernel a walk of every page table (about 20 ms
    for a 100,000-article run's four processes)."""
    total = 0
    for p in pids:
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            total += int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("Pss:")))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


class Timed(NamedTuple):
    seconds: float
    peak_rss_kib: int  # the peak of the tree's summed RSS
    each_rss_kib: list[int]  # the peak RSS of each process, largest first
    peak_pss_kib: int  # the peak of the tree's summed PSS
    flow_rss: list[tuple[float, int]]  # (Unix time, RSS KiB) of the flow's own process, every sample


def timed_run(env: dict[str, str], raw: Path, out: Path) -> Timed:
    """Run `newsetl run`, sampling the RSS of its process tree every 20 ms and its PSS every 2 s, and also
    whenever the summed RSS passes by 2 % the highest at which PSS was read (at most every 0.25 s).

    The sampling is kept cheap because it shares the two cores with the run: reading every process's full
    status and each of its threads' children every 20 ms and PSS every 0.5 s took 9 % of a core."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsetl", "run", "--raw", str(raw), "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    peak = peak_pss = 0
    each: dict[int, int] = defaultdict(int)
    flow_rss = []
    pids: list[int] = []
    samples = 0
    last_pss = pss_peak_rss = -1e9
    while proc.poll() is None:
        if samples % 10 == 0:  # processes come and go rarely: look for them every 0.2 s
            pids = tree_pids(proc.pid)
        samples += 1
        sample = rss_kib(pids)
        now = time.perf_counter()
        flow_rss.append((time.time(), sample.get(proc.pid, 0)))
        total = sum(sample.values())
        peak = max(peak, total)
        if now - last_pss >= 2 or (total > 1.02 * pss_peak_rss and now - last_pss >= 0.25):
            peak_pss = max(peak_pss, pss_kib(list(sample)))
            last_pss, pss_peak_rss = now, max(pss_peak_rss, total)
        for p, kib in sample.items():
            each[p] = max(each[p], kib)
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    output = proc.stdout.read().decode() if proc.stdout else ""
    if proc.returncode:
        raise SystemExit(f"newsetl run failed:\n{output[-5000:]}")
    return Timed(seconds, peak, sorted(each.values(), reverse=True), peak_pss, flow_rss)


async def task_runs(env: dict[str, str], run_id: str) -> tuple[list[TaskRun], FlowRun]:
    """The task runs of a flow run and the flow run, from the Prefect API of `env`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # Prefect reads its settings when first imported (by this module's callers too): set the API's address here.
    with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}):
        async with get_client() as client:
            flow_filter = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)]))
            return await client.read_task_runs(flow_run_filter=flow_filter), await client.read_flow_run(UUID(run_id))


def stage_name(run: TaskRun) -> str:
    return run.task_key.rsplit("-", 1)[0] if run.task_key else run.name


async def stage_seconds(env: dict[str, str], run_id: str) -> tuple[dict[str, float], float, list[str]]:
    """Seconds spent in each task of the flow run, summed over mapped runs; the orchestration overhead: the
    share of the flow run's time when no task was running; and the longest of those gaps, with the tasks
    around them."""
    runs, flow = await task_runs(env, run_id)
    stages: dict[str, float] = defaultdict(float)
    spans = []
    for tr in runs:
        stages[stage_name(tr)] += tr.total_run_time.total_seconds()
        if tr.start_time and tr.end_time:
            spans.append((tr.start_time.timestamp(), tr.end_time.timestamp(), stage_name(tr)))
    flow_start = flow.start_time.timestamp() if flow.start_time else min((s for s, _, _ in spans), default=0.0)
    covered, reach, last = 0.0, flow_start, "flow start"
    gaps = []
    for start, end, name in sorted(spans):  # the union of the task runs' intervals
        if start > reach:
            gaps.append((start - reach, f"{last} -> {name}"))
        if end > reach:
            covered += end - max(start, reach)
            reach, last = end, name
    total = flow.total_run_time.total_seconds()
    gaps.append((flow_start + total - reach, f"{last} -> flow end"))
    largest = [f"{seconds:.2f}s {where}" for seconds, where in sorted(gaps, reverse=True)[:6] if seconds >= 0.05]
    return dict(stages), (total - covered) / total if total else 0.0, largest


async def flow_peak_by_stage(env: dict[str, str], run_id: str, flow_rss: list[tuple[float, int]]) -> dict[str, int]:
    """The peak RSS (MB) of the flow's own process while each task ran (the extract tasks run in worker
    processes, so theirs is the flow's meanwhile), largest first: where the flow's peak memory is."""
    runs, _ = await task_runs(env, run_id)
    peaks: dict[str, int] = defaultdict(int)
    for tr in runs:
        if tr.start_time and tr.end_time:
            start, end = tr.start_time.timestamp(), tr.end_time.timestamp()
            during = [kib for t, kib in flow_rss if start <= t <= end]
            peaks[stage_name(tr)] = max(peaks[stage_name(tr)], max(during, default=0) // 1024)
    return dict(sorted(peaks.items(), key=lambda kv: -kv[1]))


def floor_seconds(raw: Path, out: Path, scratch: Path) -> float:
    """Read every raw byte and write the published articles as zstd Parquet, with nothing else."""
    con = duckdb.connect(str(out / "news.duckdb"), read_only=True)
    articles = con.sql("SELECT * FROM articles").to_arrow_table()
    con.close()
    start = time.perf_counter()
    for path in raw.rglob("*"):
        if path.is_file():
            path.read_bytes()
    pq.write_table(articles, scratch / "floor.parquet", compression="zstd")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--entity-sizes", type=int, nargs="*", default=[10_000])
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    results = []
    with prefect_server(args.workdir / "prefect-home") as server:
        zones = {"NEWSETL_SOURCE_TIMEZONES": json.dumps(SOURCE_TIMEZONES)}
        for n, entities in [(n, False) for n in args.sizes] + [(n, True) for n in args.entity_sizes]:
            env = server | zones | {"NEWSETL_ENTITIES": str(entities).lower()}
            raw, out = args.workdir / f"raw-{n}", args.workdir / f"out-{n}-{'ner' if entities else 'plain'}"
            start = time.perf_counter()
            if not raw.is_dir():
                subprocess.run(
                    [sys.executable, "-m", "newsetl", "generate", str(raw), "--articles", str(n), "--seed", "1"],
                    check=True,
                    capture_output=True,
                    cwd=ROOT,
                )
            generated = time.perf_counter() - start
            seconds, peak_kib, each_kib, pss_kib, flow_rss = timed_run(env, raw, out)
            con = duckdb.connect(str(out / "news.duckdb"), read_only=True)
            run_id, records, run_seconds = con.sql("SELECT run_id, records, seconds FROM runs").fetchall()[0]
            raw_mb = con.sql("SELECT sum(bytes) / 1e6 FROM files").fetchall()[0][0]
            con.close()
            stages, untasked, gaps = asyncio.run(stage_seconds(env, run_id))
            by_stage = asyncio.run(flow_peak_by_stage(env, run_id, flow_rss))
            floor = floor_seconds(raw, out, args.workdir)
            rerun_seconds = timed_run(env, raw, out).seconds
            results.append(
                {
                    "articles": n,
                    "entities": entities,
                    "records": records,
                    "raw_mb": round(raw_mb, 1),
                    "generate_s": round(generated, 1),
                    "cli_s": round(seconds, 1),
                    "flow_s": round(run_seconds, 1),
                    "records_per_s_flow": round(records / run_seconds),
                    "records_per_s_cli": round(records / seconds),
                    "peak_rss_mb": round(peak_kib / 1024),
                    "peak_rss_mb_per_process": [round(k / 1024) for k in each_kib[:4]],
                    "peak_pss_mb": round(pss_kib / 1024),
                    "flow_time_outside_tasks": f"{untasked:.1%}",
                    "longest_gaps_between_tasks": gaps,
                    "floor_s": round(floor, 2),
                    "ratio_to_floor": round(run_seconds / floor, 1),
                    "rerun_nothing_new_s": round(rerun_seconds, 1),
                    "stages_s": {k: round(v, 2) for k, v in sorted(stages.items(), key=lambda kv: -kv[1])},
                    "flow_peak_rss_mb_by_stage": by_stage,
                }
            )
            print(json.dumps(results[-1], indent=1), flush=True)
    print(f"saved to {save('bench_run', results)}; docs/performance.md rendered again")
    print(
        "\n| articles | entities | records | raw MB | flow s | records/s | peak RSS MB (largest processes) "
        "| peak PSS MB | floor s | x floor | outside tasks | rerun s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['articles']} | {'on' if r['entities'] else 'off'} | {r['records']} | {r['raw_mb']} | "
            f"{r['flow_s']} | {r['records_per_s_flow']} | "
            f"{r['peak_rss_mb']} ({', '.join(map(str, r['peak_rss_mb_per_process']))}) | {r['peak_pss_mb']} | "
            f"{r['floor_s']} | "
            f"{r['ratio_to_floor']} | {r['flow_time_outside_tasks']} | {r['rerun_nothing_new_s']} |"
        )


if __name__ == "__main__":
    main()
