"""Precision and recall of the duplicate pairs `newsetl run` publishes, against the generator's manifest.

    .venv/bin/python benchmarks/bench_dedupe.py [--articles 20000] [--seed 0] [--workdir DIR]

Generates a corpus (`generate_corpus`), ingests it with the real CLI against a local Prefect server, and reads
`duplicates` and `articles` back from news.duckdb. Figures are printed and saved
(benchmarks/results/bench_dedupe.json), never asserted.

What is scored, per kind (exact, near, revision):
- a truth pair is (a record the manifest gives that fate, the published record of the story it copies or
  revises);
- a predicted pair is (a `duplicates` row's record, the record of the article it points to);
- a predicted pair is a true positive when both records belong to the same story in the manifest (the story,
  its copies, its near copies and its revision): which one of them the pipeline kept does not matter, and a
  copy pointed at the newest version of its story is still right;
- a truth pair is found when the pipeline put both records in one cluster (an article and the rows pointing to
  it) and gave that kind to a record of one of the two texts. Which record carries the kind depends on which
  one was kept: when a near copy is the earliest of its cluster it is published, and the original's first
  record becomes its `near` row while an identical copy of the original becomes an `exact` row.
Also counted: pairs of two different templated stories (earnings, sports, markets) merged by mistake.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from results import save  # (benchmarks/results.py, beside this script)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsetl.devserver import prefect_server  # noqa: E402
from newsetl.generate import SOURCE_TIMEZONES, Manifest, RecordEntry, _plan, generate_corpus  # noqa: E402
from newsetl.near import band_keys_of, microseconds  # noqa: E402

KINDS = ("exact", "near", "revision")
Record = tuple[str, int]  # (source_file, record_no)
Pair = tuple[Record, Record]


@dataclass(frozen=True)
class Truth:
    """What the manifest says about each record."""

    root: dict[Record, str]  # record -> the story its cluster is named after
    text: dict[Record, str]  # record -> its text id: equal exactly when the cleaned texts are equal
    pairs: dict[str, list[Pair]]  # kind -> (copy, original's published record)
    templated: set[str]  # stories written from a template (earnings, sports, markets)


@dataclass(frozen=True)
class Published:
    """What the pipeline published: the cluster and kind of each record, and its duplicate pairs."""

    cluster: dict[Record, str]  # record -> article_id it was published as or points to
    members: dict[str, list[Record]]  # article_id -> every record of its cluster
    kind: dict[Record, str]  # duplicate record -> its kind
    pairs: dict[str, list[Pair]]  # kind -> (duplicate, the record of its article)
    texts: list[str]  # title + body of published articles, for timing band keys


def story_kinds(seed: int, articles: int) -> dict[str, str]:
    """Story id -> prose, earnings, sports or markets, from the generator's own plan (the manifest omits it)."""
    _, planned = _plan(seed, articles, 1)
    return {p.story.sid: p.story.kind for p in planned}


def truth_of(manifest: Manifest, kinds: dict[str, str]) -> Truth:
    published = {r.story: (r.path, r.record_no) for r in manifest.records if r.fate == "article"}
    root: dict[Record, str] = {}
    text = {(r.path, r.record_no): r.story for r in manifest.records}
    pairs: dict[str, list[Pair]] = {k: [] for k in KINDS}
    for r in manifest.records:
        root[r.path, r.record_no] = cluster_story(r)
        if r.fate in KINDS and r.of in published:
            pairs[r.fate].append(((r.path, r.record_no), published[r.of]))
    templated = {sid for sid, kind in kinds.items() if kind != "prose"}
    return Truth(root, text, pairs, templated)


def cluster_story(r: RecordEntry) -> str:
    """A copy, near copy or revision belongs to the story it was made from."""
    return r.of if r.fate in KINDS and r.of else r.story


def published_of(out: Path, sample: int = 2000) -> Published:
    con = duckdb.connect(str(out / "news.duckdb"), read_only=True)
    try:
        articles = con.execute("SELECT article_id, source_file, record_no FROM articles").fetchall()
        duplicates = con.execute("SELECT source_file, record_no, duplicate_of, kind FROM duplicates").fetchall()
        sql = f"SELECT title || chr(10) || chr(10) || body FROM articles LIMIT {sample}"
        texts = [t for (t,) in con.execute(sql).fetchall()]
    finally:
        con.close()
    record_of = {aid: (path, no) for aid, path, no in articles}
    cluster: dict[Record, str] = {(path, no): aid for aid, path, no in articles}
    kind: dict[Record, str] = {}
    pairs: dict[str, list[Pair]] = {}
    for path, no, of, k in duplicates:
        cluster[path, no], kind[path, no] = of, k
        pairs.setdefault(k, []).append(((path, no), record_of[of]))
    members: dict[str, list[Record]] = {}
    for record, aid in cluster.items():
        members.setdefault(aid, []).append(record)
    return Published(cluster, members, kind, pairs, texts)


def joined(pair: Pair, published: Published) -> bool:
    """The pipeline put both records in one cluster, under any kind."""
    a, b = pair
    return a in published.cluster and published.cluster.get(a) == published.cluster.get(b)


def found(pair: Pair, kind: str, truth: Truth, published: Published) -> bool:
    """The pipeline joined the two records, and gave this kind to a record of one of their two texts."""
    if not joined(pair, published):
        return False
    texts = {truth.text[r] for r in pair}
    members = published.members[published.cluster[pair[0]]]
    return any(published.kind.get(r) == kind for r in members if truth.text.get(r) in texts)


def correct(pair: Pair, truth: Truth) -> bool:
    a, b = pair
    return a in truth.root and truth.root.get(a) == truth.root.get(b)


def ratio(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def score(truth: Truth, published: Published) -> list[dict[str, Any]]:
    """One row per kind, then every kind together (a pair found under any kind); each printed as it comes."""
    print("\n| kind | truth pairs | predicted pairs | true pos | found | precision | recall | templated merged |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    merged = Counter(
        kind
        for kind, pairs in published.pairs.items()
        for a, b in pairs
        if not correct((a, b), truth) and {truth.root.get(a), truth.root.get(b)} <= truth.templated
    )
    rows: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    for kind in sorted(set(KINDS) | set(published.pairs)):
        truth_pairs, predicted = truth.pairs.get(kind, []), published.pairs.get(kind, [])
        tp = sum(correct(p, truth) for p in predicted)
        hits = sum(found(p, kind, truth, published) for p in truth_pairs)
        rows.append(
            {
                "kind": kind,
                "truth_pairs": len(truth_pairs),
                "predicted_pairs": len(predicted),
                "true_positives": tp,
                "found": hits,
                "precision": ratio(tp, len(predicted)),
                "recall": ratio(hits, len(truth_pairs)),
                "templated_wrongly_merged": merged[kind],
            }
        )
        totals.update(truth=len(truth_pairs), predicted=len(predicted), tp=tp)
        totals["found"] += sum(joined(p, published) for p in truth_pairs)
    t = totals
    rows.append(
        {
            "kind": "any",
            "truth_pairs": t["truth"],
            "predicted_pairs": t["predicted"],
            "true_positives": t["tp"],
            "found": t["found"],
            "precision": ratio(t["tp"], t["predicted"]),
            "recall": ratio(t["found"], t["truth"]),
            "templated_wrongly_merged": sum(merged.values()),
        }
    )
    for r in rows:
        print(
            f"| {r['kind']} | {r['truth_pairs']} | {r['predicted_pairs']} | {r['true_positives']} | {r['found']} | "
            f"{shown(r['precision'])} | {shown(r['recall'])} | {r['templated_wrongly_merged']} |"
        )
    return rows


def run_pipeline(env: dict[str, str], raw: Path, out: Path) -> float:
    """`newsetl run` as a user runs it; returns its wall-clock seconds."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "newsetl", "run", "--raw", str(raw), "--out", str(out)],
        # The generated sites' time zones, as a user sets NEWSETL_SOURCE_TIMEZONES, so dates of sites compare.
        env=env | {"NEWSETL_SOURCE_TIMEZONES": json.dumps(SOURCE_TIMEZONES)},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"newsetl run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


@contextmanager
def scratch(workdir: Path | None, prefix: str) -> Iterator[tuple[Path, Path, Path]]:
    """The raw, output and Prefect-home folders of a benchmark, empty: under `workdir` (kept afterwards) or a
    temporary folder (removed)."""
    root = workdir or Path(tempfile.mkdtemp(prefix=prefix))
    folders = root / "raw", root / "out", root / "prefect-home"
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    try:
        yield folders
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temporary folder, removed)")
    args = parser.parse_args()
    with scratch(args.workdir, "bench-dedupe-") as (raw, out, home):
        start = time.perf_counter()
        manifest = generate_corpus(raw, args.articles, seed=args.seed)
        print(f"generated {args.articles} articles in {time.perf_counter() - start:.1f} s", flush=True)
        with prefect_server(home) as env:
            seconds = run_pipeline(env, raw, out)
        truth = truth_of(manifest, story_kinds(args.seed, args.articles))
        published = published_of(out)
        rows = score(truth, published)
        print(f"\nnewsetl run: {seconds:.1f} s, {args.articles / seconds:.0f} articles/s")
        texts = published.texts
        per_text = microseconds(lambda: [band_keys_of(t) for t in texts], number=1, repeat=3) / max(1, len(texts))
        print(f"band keys: {per_text:.0f} us per published article ({len(texts)} timed)")
    # The run's speed and the band keys' cost belong to the whole corpus, so only the `any` row carries them.
    rows[-1] |= {"run_s": round(seconds, 1), "band_keys_us_per_article": round(per_text)}
    save("bench_dedupe", [{"articles": args.articles, "seed": args.seed} | r for r in rows])


if __name__ == "__main__":
    main()
