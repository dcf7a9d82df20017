"""Benchmark awkward shapes of input: one huge dump file, and a tree of many tiny ones. Peak memory must not grow
with either.

    .venv/bin/python benchmarks/bench_shapes.py [--big-gb 2] [--small-files 200000] [--workdir DIR]

Both inputs are cut from a generated corpus: its plain UTF-8 dumps are split into single records (a record starts
at a line holding only an integer that is followed by a date line or a blank line). `--big-gb` writes them, with
fresh record numbers, one after another into a single dump of that size, going round the corpus again (each
round marks the words of its copies, so they are new articles, not near duplicates) until the size is reached;
`--small-files` writes that many one-record dumps. Each is ingested by the real CLI against a local Prefect
server with entities off; seconds, records per second, the peak RSS of the run's process tree (and of its
largest processes) and the flow's peak by task are printed and saved (benchmarks/results/bench_shapes.json),
never asserted.
"""

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
from bench_run import flow_peak_by_stage, timed_run  # noqa: E402  # (benchmarks/ is first on sys.path when run as a script)
from results import save  # noqa: E402

from newsetl.devserver import prefect_server  # noqa: E402
from newsetl.generate import SOURCE_TIMEZONES  # noqa: E402

_STORY_CODE = re.compile(r"^Story Code : \d+\n", re.MULTILINE)
_RECORD_START = re.compile(r"^\d+\n(?=(?:[A-Z][a-z]{2}[a-z]* \d|\n))", re.MULTILINE)


def records_of(corpus: Path) -> Iterator[tuple[str, str]]:
    """(source, record text without its number line) of every record of the corpus's plain UTF-8 dumps."""
    for path in sorted(corpus.rglob("*.txt")):
        data = path.read_bytes()
        if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or b"\r" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        source = path.relative_to(corpus).parts[0]
        starts = [m.start() for m in _RECORD_START.finditer(text)]
        if not starts:
            continue
        for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
            body = text[begin:end].split("\n", 1)[1]
            # Dated records only (a title can then be told from its date line), and not the planted huge lines.
            if body[:1].isalpha() and len(body) < 20_000:
                yield source, body.rstrip("\n") + "\n"


def endless_records(corpus: Path) -> Iterator[tuple[str, str]]:
    """records_of(corpus) round and round; from the second round on, each record is made a new article: a new
    title, no story code, and every fourth word of its body marked with the round's number, so that no five
    words in a row (a near-duplicate shingle, see newsetl/near.py) are those of another round."""
    round_no = 1
    while True:
        for source, record in records_of(corpus):
            if round_no > 1:
                head, sep, rest = _STORY_CODE.sub("", record, count=1).partition("\n\n")
                title, sep2, body = rest.partition("\n")
                body = "\n".join(_marked(line, round_no) for line in body.split("\n"))
                record = f"{head}{sep}Pass {round_no}: {title}{sep2}{body}"
            yield source, record
        round_no += 1


def _marked(line: str, round_no: int) -> str:
    """Every fourth word of a line (the first included) with the round's number appended: the same line is
    marked the same way, so a repeated caption stays repeated."""
    return " ".join(w + str(round_no) if i % 4 == 0 and w.strip() else w for i, w in enumerate(line.split(" ")))


def write_big_dump(corpus: Path, raw: Path, gigabytes: float) -> int:
    """One dump of `gigabytes`, records renumbered; returns the number of records."""
    target = raw / "bigsite" / "big.txt"
    target.parent.mkdir(parents=True)
    limit, written, n = int(gigabytes * 1e9), 0, 0
    with target.open("w", encoding="utf-8") as out:
        for _, record in endless_records(corpus):
            chunk = f"{n}\n{record}"
            out.write(chunk)
            written += len(chunk.encode())
            n += 1
            if written >= limit:
                break
    return n


def write_small_files(corpus: Path, raw: Path, count: int) -> int:
    """`count` one-record dumps, a thousand per folder."""
    for n, (source, record) in zip(range(count), endless_records(corpus), strict=False):
        folder = raw / source / f"part-{n // 1000:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{n:07d}.txt").write_text(f"0\n{record}", encoding="utf-8")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument("--small-files", type=int, default=200_000)
    parser.add_argument("--corpus-articles", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out-shapes")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    corpus = args.workdir / "corpus"
    subprocess.run(
        [sys.executable, "-m", "newsetl", "generate", str(corpus), "--articles", str(args.corpus_articles)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    shapes = []
    if args.big_gb:
        shapes.append((f"one {args.big_gb:g} GB dump", lambda raw: write_big_dump(corpus, raw, args.big_gb)))
    if args.small_files:
        shapes.append(
            (f"{args.small_files:,} one-record dumps", lambda raw: write_small_files(corpus, raw, args.small_files))
        )
    rows = []
    with prefect_server(args.workdir / "prefect-home") as server:
        env = server | {"NEWSETL_SOURCE_TIMEZONES": json.dumps(SOURCE_TIMEZONES), "NEWSETL_ENTITIES": "false"}
        for i, (name, write) in enumerate(shapes):
            raw, out = args.workdir / f"raw-{i}", args.workdir / f"out-{i}"
            start = time.perf_counter()
            records = write(raw)
            made = time.perf_counter() - start
            raw_mb = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / 1e6
            seconds, peak, each, pss, flow_rss = timed_run(env, raw, out)
            shutil.rmtree(raw)
            con = duckdb.connect(str(out / "news.duckdb"), read_only=True)
            run_id = con.sql("SELECT run_id FROM runs").fetchall()[0][0]
            con.close()
            by_stage = asyncio.run(flow_peak_by_stage(env, run_id, flow_rss))
            figures = {"input": name, "records": records, "raw_mb": round(raw_mb), "written_s": round(made, 1),
                       "run_s": round(seconds, 1), "records_per_s": round(records / seconds),
                       "peak_rss_mb": round(peak / 1024), "peak_pss_mb": round(pss / 1024),
                       "largest_processes_mb": [round(k / 1024) for k in each[:3]],
                       "flow_peak_mb_by_stage": by_stage}  # fmt: skip
            rows.append(figures)
            print(json.dumps(figures), flush=True)
    print("\n| input | records | raw MB | run s | records/s | peak RSS MB | largest process MB | peak PSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['input']} | {r['records']:,} | {r['raw_mb']:,} | {r['run_s']:.0f} | {r['records_per_s']:,} | "
            f"{r['peak_rss_mb']:,} | {r['largest_processes_mb'][0]:,} | {r['peak_pss_mb']:,} |"
        )
    save("bench_shapes", rows)


if __name__ == "__main__":
    main()
