"""Benchmark a large archive: build it, then time a nightly run into it, a run with nothing new, an analyst's
one-month query and a compaction; the steps' figures are saved to benchmarks/results/bench_archive.json.

    .venv/bin/python benchmarks/bench_archive.py [--articles 1000000] [--waves 10] [--nightly 5000] [--workdir DIR]

1. builds the archive in `--waves` waves of the generated corpus of seed 1 (`--articles` in all), each ingested
   by its own `newsetl run` into the growing archive (peak memory of the run's process tree sampled as in
   bench_run.py). A wave's stories are dated over 6 of 10 days, and each wave 10 days after the previous one, so
   10 waves are about 3 months, a month about a third of the archive;
2. generates `--nightly` more (seed `--night`, 2) under each source's `night-2/` folder and ingests them: the
   nightly run (`--resume --waves 0 --night 3` runs another night into the archive built before, and
   `--resume --first-wave 11 --waves 4 --articles 400000` grows it by 4 more waves of 100,000 first);
3. runs again with nothing new;
4. times the month query of benchmarks/bench_query.py through the catalog, runs `newsetl compact`, and times it
   again.
All against a local Prefect server, entities off; the CLI's wall time includes Prefect's start-up (about 2.5 s
with a running server), the flow's own time is read from the `runs` table. Figures are printed, never asserted.
"""

import argparse
import asyncio
import json
import shutil
import sys
import time
from pathlib import Path

from bench_query import compact_and_measure, measure  # (benchmarks/ is first on sys.path when run as a script)
from bench_run import Timed, flow_peak_by_stage, stage_seconds, timed_run
from results import save

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from newsetl.devserver import prefect_server  # noqa: E402
from newsetl.generate import SOURCE_TIMEZONES, generate_corpus  # noqa: E402


def generate(target: Path, articles: int, seed: int, wave: int = 1) -> float:
    start = time.perf_counter()
    generate_corpus(target, articles, seed=seed, wave=wave)
    return time.perf_counter() - start


def figures(timed: Timed, env: dict[str, str], run: dict[str, object]) -> dict[str, object]:
    by_stage = asyncio.run(flow_peak_by_stage(env, str(run["run_id"]), timed.flow_rss))
    stages, _, _ = asyncio.run(stage_seconds(env, str(run["run_id"])))
    return {
        "cli_s": round(timed.seconds, 1),
        "peak_rss_mb": round(timed.peak_rss_kib / 1024),
        "peak_pss_mb": round(timed.peak_pss_kib / 1024),
        "largest_processes_mb": [round(k / 1024) for k in timed.each_rss_kib[:3]],
        "flow_peak_mb_by_stage": dict(list(by_stage.items())[:4]),
        "stages_s": {k: round(v, 1) for k, v in sorted(stages.items(), key=lambda kv: -kv[1])[:5]},
    }


def last_run(out: Path) -> dict[str, object]:
    con = duckdb.connect(str(out / "news.duckdb"), read_only=True)
    try:
        cols = ["run_id", "records", "articles_new", "duplicates", "quarantined", "seconds"]
        row = con.sql(f"SELECT {', '.join(cols)} FROM runs ORDER BY started_at DESC LIMIT 1").fetchall()[0]
        articles = con.sql("SELECT count(*) FROM articles").fetchall()[0][0]
    finally:
        con.close()
    return dict(zip(cols, row, strict=True)) | {"articles_in_archive": articles}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--waves", type=int, default=10, help="runs the archive is built in")
    parser.add_argument("--first-wave", type=int, default=1, help="with --resume: the wave to go on from")
    parser.add_argument("--nightly", type=int, default=5_000)
    parser.add_argument("--night", type=int, default=2, help="seed and folder (night-N) of the nightly run")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out-archive")
    parser.add_argument("--resume", action="store_true", help="keep the output of an earlier, interrupted build")
    parser.add_argument("--duckdb-memory", help="NEWSETL_DUCKDB_MEMORY_LIMIT for the runs (default: the setting's)")
    args = parser.parse_args()
    raw, out = args.workdir / "raw", args.workdir / "out"
    if not args.resume:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(raw, ignore_errors=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    night = args.workdir / "night"
    shutil.rmtree(night, ignore_errors=True)
    generate(night, args.nightly, args.night)
    with prefect_server(args.workdir / "prefect-home") as server:
        env = server | {"NEWSETL_SOURCE_TIMEZONES": json.dumps(SOURCE_TIMEZONES), "NEWSETL_ENTITIES": "false"}
        if args.duckdb_memory:
            env["NEWSETL_DUCKDB_MEMORY_LIMIT"] = args.duckdb_memory
        steps = []
        for wave in range(args.first_wave, args.first_wave + args.waves):
            made = generate(raw, args.articles // args.waves, 1, wave)
            timed = timed_run(env, raw, out)
            run = last_run(out)
            steps.append((f"wave {wave}", timed, run))
            wave_figures = {"wave": wave, "generated_s": round(made, 1)} | figures(timed, env, run) | run
            print(json.dumps(wave_figures), flush=True)
        for source in night.iterdir():  # the night's files arrive under each source's folder (or the root's)
            if source.is_dir():
                shutil.copytree(source, raw / source.name / f"night-{args.night}", dirs_exist_ok=True)
            else:
                shutil.copy(source, raw / f"night-{args.night}-{source.name}")
        steps.append(("nightly", timed_run(env, raw, out), last_run(out)))
        steps.append(("nothing new", timed_run(env, raw, out), last_run(out)))
        rows = [{"step": name} | figures(timed, env, row) | row for name, timed, row in steps]
        for row in rows:
            print(json.dumps(row, default=str))
        save("bench_archive", rows)
        print("\nmonth query, before compaction:")
        measure(out)
        compact_and_measure(out, env)


if __name__ == "__main__":
    main()
