"""Sites nobody wrote rules for: how much of their page furniture the published articles still carry, and how
well their copies and revisions are resolved.

    .venv/bin/python benchmarks/bench_unseen.py [--stories 1500] [--runs 3] [--seed 0] [--workdir DIR]

Takes clean story texts (title and paragraphs, `newsetl.generate.story_texts`) and publishes them on three
invented sites, each dressing its articles in furniture of its own that neither the generator nor the cleaning
rules know: widget lines above the first paragraph whose number or date changes from article to article, a
"follow us" line, and copyright notices longer than 60 characters with a year in them. About one story in eight
is scraped again (the same record, its furniture drawn anew), one in sixteen is revised (same story code, a later
time, a sentence added). The files are split into `--runs` runs in a random order and ingested with the real CLI
against a local Prefect server. Every record's fate is known, so the figures are exact:

- body exact: published stories whose body is the story's text (its revision's when revised) to the character;
- furniture left: published articles with a furniture paragraph still in their body;
- exact copies found: re-scraped records of which the record or its original is an `exact` duplicate;
- revisions resolved: revised stories published with the revision's text, the original a duplicate row;
- lost: records in none of articles, duplicates and quarantine; files not ok: dumps not ingested;
- English: published articles labelled `en`.
Figures are printed and saved (benchmarks/results/bench_unseen.json), never asserted.
"""

import argparse
import json
import random
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bench_dedupe import run_pipeline, scratch  # (benchmarks/ is first on sys.path when run as a script)
from results import save

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from newsetl.devserver import prefect_server  # noqa: E402
from newsetl.generate import story_texts  # noqa: E402

# Each site's furniture: blocks of lines above the body and below it, each block on most of its articles. {n} is
# a number that changes from article to article, {year} the article's year.
SITES = {
    "lanternpost": (
        [["Lanternpost Live | {n} people are reading this story right now"]],
        [["Follow Lanternpost wherever you get your news"],
         ["Copyright {year} Lanternpost Publishing Cooperative. All rights reserved; no part of this page may "
          "be reproduced without written permission."]],
    ),
    "meridian-ledger": (
        [["Reading time: {n} min", "Last updated {n} hours ago"]],
        [["Sign up for the Meridian morning briefing, delivered before {n} am"]],
    ),
    "kestrel-daily": (
        [],
        [["More from Kestrel Daily", "Kestrel Daily is published by Kestrel Holdings Ltd, registered office 12 "
          "Harbour Row ({year}). Company number {n}."]],
    ),
}  # fmt: skip
BLOCK_SHARE = 0.9
COPY_SHARE, REVISION_SHARE = 1 / 8, 1 / 16
RECORDS_PER_FILE = 20


@dataclass
class Record:
    site: str
    code: str
    when: datetime
    title: str
    paragraphs: list[str]
    fate: str  # article, exact or revision (the record a revision replaces is the one left a `revision` row)
    path: str = ""
    record_no: int = 0


def fold(paragraph: str) -> str:
    return re.sub(r"\d+", "0", " ".join(paragraph.lower().split()))


FURNITURE = {fold(line) for heads, tails in SITES.values() for block in heads + tails for line in block}


def dressed(rng: random.Random, record: Record) -> list[str]:
    """The record's paragraphs inside its site's furniture, numbers drawn anew."""
    heads, tails = SITES[record.site]

    def lines(blocks: list[list[str]]) -> list[str]:
        picked = [line for block in blocks if rng.random() < BLOCK_SHARE for line in block]
        return [line.format(n=rng.randint(2, 9999), year=record.when.year) for line in picked]

    return [*lines(heads), *record.paragraphs, *lines(tails)]


def build(stories: int, seed: int) -> tuple[list[Record], dict[str, list[Record]]]:
    """Every record of the corpus and the files (relative path -> its records) they are written to."""
    rng = random.Random(seed)
    texts = story_texts(stories * 2, seed)[:stories]
    start = datetime(2026, 3, 2, 6, 0)
    records: list[Record] = []
    for i, (title, paragraphs) in enumerate(texts):
        site = list(SITES)[i % len(SITES)]
        first = Record(site, str(700_000 + i), start + timedelta(minutes=37 * i), title, paragraphs, "article")
        records.append(first)
        if rng.random() < COPY_SHARE:
            records.append(Record(site, first.code, first.when, title, paragraphs, "exact"))
        if rng.random() < REVISION_SHARE:
            added = f"{paragraphs[-1]} The figures were confirmed by officials {3 + i % 5} hours later."
            revised = [*paragraphs[:-1], added]
            records.append(Record(site, first.code, first.when + timedelta(hours=3), title, revised, "revision"))
    rng.shuffle(records)
    files: dict[str, list[Record]] = {}
    for site in SITES:
        mine = [r for r in records if r.site == site]
        for k in range(0, len(mine), RECORDS_PER_FILE):
            path = f"{site}/2026-03/{k // RECORDS_PER_FILE:04}.txt"
            files[path] = mine[k : k + RECORDS_PER_FILE]
            for no, r in enumerate(files[path]):
                r.path, r.record_no = path, no
    return records, files


def render(rng: random.Random, records: list[Record]) -> str:
    out = []
    for no, r in enumerate(records):
        head = [str(no), r.when.strftime("%A %d %B %Y - %H:%M"), "", r.title, "", f"Story Code : {r.code}"]
        out.append("\n".join(head + "\n\xa0\n".join(dressed(rng, r)).split("\n")))
    return "\n".join(out) + "\n"


def measure(out: Path, records: list[Record], files: dict[str, list[Record]]) -> dict[str, object]:
    con = duckdb.connect(str(out / "news.duckdb"), read_only=True)
    try:
        articles = con.sql("SELECT source_file, record_no, story_code, body, language FROM articles").fetchall()
        duplicates = dict(
            ((f, n), kind) for f, n, kind in con.sql("SELECT source_file, record_no, kind FROM duplicates").fetchall()
        )
        quarantined = {(f, n) for f, n in con.sql("SELECT source_file, record_no FROM quarantine").fetchall()}
        bad_files = con.sql("SELECT count(*) FROM files WHERE status <> 'ingested'").fetchall()[0][0]
    finally:
        con.close()
    published = {(f, n) for f, n, *_ in articles}
    body_of = {code: body for _, _, code, body, _ in articles}
    wanted: dict[str, Record] = {}
    for r in sorted(records, key=lambda r: r.fate == "revision"):  # a revision's text is the one to publish
        if r.fate != "exact":
            wanted[r.code] = r
    copies = [r for r in records if r.fate == "exact"]
    revised = [r for r in records if r.fate == "revision"]
    originals = {r.code: r for r in records if r.fate == "article"}
    key = {id(r): (r.path, r.record_no) for r in records}
    furnished = sum(any(fold(p) in FURNITURE for p in body.split("\n\n")) for *_, body, _ in articles)
    return {
        "stories": len(wanted),
        "records": len(records),
        "files": len(files),
        "articles": len(articles),
        "body_exact": round(
            sum(body_of.get(c) == "\n\n".join(r.paragraphs) for c, r in wanted.items()) / len(wanted), 4
        ),
        "furniture_left": round(furnished / max(1, len(articles)), 4),
        # Of a record and its copy, whichever the pipeline keeps, the other is the exact duplicate.
        "exact_found": round(
            sum("exact" in (duplicates.get(key[id(r)]), duplicates.get(key[id(originals[r.code])])) for r in copies)
            / max(1, len(copies)),
            4,
        ),
        "revisions_resolved": round(
            sum(
                body_of.get(r.code) == "\n\n".join(r.paragraphs) and key[id(originals[r.code])] in duplicates
                for r in revised
            )
            / max(1, len(revised)),
            4,
        ),
        "lost": sum(k not in published and k not in duplicates and k not in quarantined for k in key.values()),
        "quarantined": len(quarantined),
        "files_not_ok": bad_files,
        "english": round(sum(lang == "en" for *_, lang in articles) / max(1, len(articles)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=1_500)
    parser.add_argument("--runs", type=int, default=3, help="runs the files are split into, in a random order")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="kept afterwards (default: a temporary folder, removed)")
    args = parser.parse_args()
    with scratch(args.workdir, "bench-unseen-") as (raw, out, home):
        records, files = build(args.stories, args.seed)
        rng = random.Random(args.seed)
        paths = list(files)
        rng.shuffle(paths)
        with prefect_server(home) as env:
            for run in range(args.runs):
                for path in paths[run :: args.runs]:
                    (raw / path).parent.mkdir(parents=True, exist_ok=True)
                    (raw / path).write_text(render(rng, files[path]))
                run_pipeline(env, raw, out)
        row = {"runs": args.runs} | measure(out, records, files)
        print(json.dumps(row, indent=1))
        save("bench_unseen", [row])


if __name__ == "__main__":
    main()
