"""An analyst's one-month query through the catalog: seconds, and how many Parquet files it read.

    .venv/bin/python benchmarks/bench_query.py --out data/processed            # an existing output directory
    .venv/bin/python benchmarks/bench_query.py [--articles 20000] [--waves 3]   # builds one with `newsetl run`
    ... [--compact]                                                             # then `newsetl compact`, again

Building ingests `--waves` waves of a generated corpus (one `newsetl run` each, in batches of 50 files,
entities off) against a local Prefect server. The month is the one with the most articles.
Figures are printed and saved (benchmarks/results/bench_query.json), never asserted.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from results import save  # (benchmarks/results.py, beside this script)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsetl.catalog import files_read  # noqa: E402
from newsetl.devserver import prefect_server  # noqa: E402
from newsetl.generate import generate_corpus  # noqa: E402

NEWSETL = [sys.executable, "-m", "newsetl"]
QUERIES = {
    "month (year/month filter)": "SELECT count(*), avg(length(body)) FROM articles WHERE year = {y} AND month = {m}",
    "month (published_at filter)": "SELECT count(*), avg(length(body)) FROM articles "
    "WHERE published_at >= make_timestamptz({y}, {m}, 1, 0, 0, 0, 'UTC') "
    "AND published_at < make_timestamptz({y}, {m}, 1, 0, 0, 0, 'UTC') + INTERVAL 1 MONTH",
}


def build(out: Path, articles: int, waves: int, env: dict[str, str]) -> list[float]:
    """Seconds of each wave's `newsetl run`."""
    raw = out.parent / "raw"
    seconds = []
    for wave in range(1, waves + 1):
        generate_corpus(raw, articles, seed=0, wave=wave)
        started = time.monotonic()
        subprocess.run([*NEWSETL, "run", "--raw", str(raw), "--out", str(out)], env=env, check=True, cwd=ROOT)
        seconds.append(round(time.monotonic() - started, 1))
        print(f"wave {wave}: newsetl run {seconds[-1]:.1f} s")
    return seconds


def measure(out: Path) -> list[dict[str, Any]]:
    """One row per query: the files it read and its seconds."""
    con = duckdb.connect(str(out / "news.duckdb"), read_only=True)
    try:
        total = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
        y, m, n = con.execute(
            "SELECT year, month, count(*) FROM articles WHERE year IS NOT NULL GROUP BY ALL ORDER BY 3 DESC LIMIT 1"
        ).fetchall()[0]
        print(f"{total:,} articles; busiest month {y}-{m:02d} with {n:,}")
        rows = []
        for label, sql in QUERIES.items():
            text = sql.format(y=y, m=m)
            read, listed = files_read(con, text)
            times = []
            for _ in range(3):
                started = time.perf_counter()
                con.execute(text).fetchall()
                times.append(time.perf_counter() - started)
            print(f"{label}: {read} of {listed} files read, first {times[0]:.3f} s, best {min(times):.3f} s")
            rows.append({"articles": total, "month": f"{y}-{m:02d}", "month_articles": n, "query": label,
                         "files_read": read, "files_listed": listed, "first_s": round(times[0], 3),
                         "best_s": round(min(times), 3)})  # fmt: skip
        return rows
    finally:
        con.close()


def compact_and_measure(out: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """`newsetl compact`, timed, then the queries again; each row carries the command's seconds."""
    started = time.monotonic()
    subprocess.run([*NEWSETL, "compact", "--out", str(out)], env=env, check=True, cwd=ROOT)
    seconds = round(time.monotonic() - started, 1)
    print(f"newsetl compact: {seconds:.1f} s")
    return [row | {"compact_s": seconds} for row in measure(out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="an existing output directory (else one is built)")
    parser.add_argument("--articles", type=int, default=20_000, help="articles per wave when building")
    parser.add_argument("--waves", type=int, default=3)
    parser.add_argument("--compact", action="store_true", help="run `newsetl compact`, then measure again")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, prefect_server(Path(tmp) / "prefect") as env:
        env = env | {"NEWSETL_ENTITIES": "false", "NEWSETL_BATCH_FILES": "50"}
        out = args.out or Path(tmp) / "out"
        built: dict[str, Any] = {"built": "given --out"}
        if args.out is None:
            wave_s = build(out, args.articles, args.waves, env)
            built = {"built": f"{args.waves} waves of {args.articles:,}", "wave_run_s": wave_s}
        rows = [built | {"compacted": False} | row for row in measure(out)]
        if args.compact:
            rows += [built | {"compacted": True} | row for row in compact_and_measure(out, env)]
    save("bench_query", rows)


if __name__ == "__main__":
    main()
