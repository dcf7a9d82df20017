"""Dedupe: finish each staged record, decide whether it is a new article, a revision or a copy, write a plan.

The plan is every row the run will commit, written to disk before any table changes. Committing it is then a
replay-safe step (see tasks/load.py): a run killed half-way is finished by the next one from the same plan.
"""

import hashlib
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import get_run_logger, task

from newsetl.reasons import Reason
from newsetl.schemas import ARTICLES, CAPTIONS, DUPLICATES, FILES, QUARANTINE, STAGED_QUARANTINE
from newsetl.settings import Settings
from tasks.furniture import closing_lines, counts_table, learned_lines, strip_closing
from tasks.tables import committed_seq, open_table, query, write_parquet

# The columns of a finished record that the decision needs; bodies stay on disk.
KEY_COLUMNS = ["source", "story_code", "content_hash", "published_at", "source_file", "record_no", "title"]
FINAL = pa.schema(
    [*(f for f in ARTICLES if f.name not in ("article_id", "run_id")), ("captions", pa.list_(pa.string()))]
)


def content_hash(title: str, body: str) -> str:
    """Identity of a text: equal cleaned title and body give equal hashes, whatever the source."""
    return hashlib.blake2b(f"{title}\n\n{body}".encode(), digest_size=16).hexdigest()


def article_id_for(source: str, story_code: str | None, digest: str) -> str:
    """A story with a code keeps one id through its revisions; one without is named by its text."""
    key = f"code\0{source}\0{story_code}" if story_code else f"text\0{source}\0{digest}"
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def to_utc(local: datetime | None, zone: ZoneInfo) -> datetime | None:
    if local is None:
        return None
    return local.replace(tzinfo=zone).astimezone(UTC)


@dataclass(slots=True)
class Version:
    """A version of a story that currently holds its article_id."""

    article_id: str
    published_at: datetime | None
    row: dict[str, Any]  # its key columns
    in_history: bool


@dataclass(slots=True)
class Decisions:
    """What happens to each record of the run, by its position in run order."""

    publish: dict[int, str]  # position -> article_id
    duplicates: list[dict[str, Any]]  # duplicates rows (without run_id)
    displaced: dict[str, dict[str, Any]]  # article_id -> the published row it replaces
    new_ids: set[str]


def is_newer(candidate: datetime | None, current: datetime | None) -> bool:
    """A version replaces the current one unless its date line says it is older (ties: later ingestion)."""
    return not (candidate is not None and current is not None and candidate < current)


def dup_row(row: dict[str, Any], of: str, kind: str, similarity: float | None) -> dict[str, Any]:
    return {**{k: row[k] for k in KEY_COLUMNS}, "duplicate_of": of, "kind": kind, "similarity": similarity}


def resolve(
    run: list[dict[str, Any]],
    history_articles: list[dict[str, Any]],
    history_copies: dict[str, str],
) -> Decisions:
    """Walk the run's records in ingestion order against what is published.

    `history_articles` are published rows (key columns + article_id) sharing a hash or a (source, code) with
    the run; `history_copies` maps content hashes of earlier duplicates to the article they belong to.
    """
    by_hash: dict[str, str] = dict(history_copies)
    by_code: dict[tuple[str, str], Version] = {}
    for a in history_articles:
        by_hash[a["content_hash"]] = a["article_id"]
        if a["story_code"]:
            by_code[(a["source"], a["story_code"])] = Version(a["article_id"], a["published_at"], a, True)
    out = Decisions({}, [], {}, set())
    winner_pos: dict[str, int] = {}
    for pos, r in enumerate(run):
        seen = by_hash.get(r["content_hash"])
        if seen is not None:
            out.duplicates.append(dup_row(r, seen, "exact", 1.0))
            continue
        code = (r["source"], r["story_code"]) if r["story_code"] else None
        current = by_code.get(code) if code else None
        if current is None:
            aid = article_id_for(r["source"], r["story_code"], r["content_hash"])
            out.publish[pos] = aid
            out.new_ids.add(aid)
            winner_pos[aid] = pos
            by_hash[r["content_hash"]] = aid
            if code:
                by_code[code] = Version(aid, r["published_at"], r, False)
            continue
        aid = current.article_id
        by_hash[r["content_hash"]] = aid
        if not is_newer(r["published_at"], current.published_at):
            out.duplicates.append(dup_row(r, aid, "revision", None))
            continue
        # The new version takes the article_id; the one it replaces becomes a revision duplicate.
        out.duplicates.append(dup_row(current.row, aid, "revision", None))
        if current.in_history:
            out.displaced[aid] = current.row
        else:
            del out.publish[winner_pos[aid]]
        out.publish[pos] = aid
        winner_pos[aid] = pos
        by_code[code] = Version(aid, r["published_at"], r, False)  # type: ignore[index]
    return out


def finish_batch(
    staged: pa.Table, learned: dict[str, frozenset[str]], settings: Settings
) -> tuple[pa.Table, list[dict]]:
    """Turn staged records into article rows (body, hash, UTC time, counts); empty ones are rejected."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    zones: dict[str, ZoneInfo] = {}
    cols = staged.to_pydict()
    for i in range(staged.num_rows):
        source = cols["source"][i]
        paragraphs = cols["paragraphs"][i] or []
        if source in learned:
            paragraphs = strip_closing(paragraphs, learned[source])
        if not paragraphs:
            rejected.append(
                {
                    "source_file": cols["source_file"][i],
                    "record_no": cols["record_no"][i],
                    "reason": Reason.NO_BODY.value,
                    "detail": "record holds only page furniture (trailer lines), no story text",
                }
            )
            continue
        if source not in zones:
            zones[source] = ZoneInfo(settings.source_timezones.get(source, "UTC"))
        published = to_utc(cols["published_local"][i], zones[source])
        title = cols["title"][i]
        body = "\n\n".join(paragraphs)
        rows.append(
            {
                "source": source,
                "story_code": cols["story_code"][i],
                "title": title,
                "published_at": published,
                "body": body,
                "word_count": len(body.split()),
                "char_count": len(body),
                "paragraph_count": len(paragraphs),
                "caption_count": len(cols["captions"][i] or []),
                "content_hash": content_hash(title, body),
                "source_file": cols["source_file"][i],
                "record_no": cols["record_no"][i],
                "file_sha256": cols["file_sha256"][i],
                "year": published.year if published else None,
                "month": published.month if published else None,
                "captions": cols["captions"][i] or [],
            }
        )
    return pa.Table.from_pylist(rows, schema=FINAL), rejected


def read_history(settings: Settings, keys: pa.Table) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Published rows and earlier copies that share a hash or a story code with the run: a semi-join, so
    memory grows with the run, not with the history."""
    cols = ", ".join(f"a.{c}" for c in KEY_COLUMNS)
    articles = query(
        settings,
        f"""SELECT a.article_id, {cols}, a.year, a.month FROM {{articles}} a
            WHERE a.content_hash IN (SELECT content_hash FROM keys)
               OR a.story_code IS NOT NULL AND (a.source || chr(0) || a.story_code) IN
                  (SELECT source || chr(0) || story_code FROM keys WHERE story_code IS NOT NULL)
            ORDER BY a.article_id""",
        keys=keys,
    ).to_pylist()
    copies = query(
        settings,
        """SELECT DISTINCT content_hash, duplicate_of FROM {duplicates}
           WHERE content_hash IN (SELECT content_hash FROM keys)""",
        keys=keys,
    ).to_pylist()
    return articles, {c["content_hash"]: c["duplicate_of"] for c in copies}


def next_seq(settings: Settings) -> int:
    return committed_seq(open_table(settings, "files")) + 1


def with_column(t: pa.Table, name: str, value: Any, type_: pa.DataType) -> pa.Table:
    return t.append_column(name, pa.array([value] * t.num_rows, type_))


def build_plan(staged_dirs: list[str], settings: Settings, run_id: str, target: Path) -> dict[str, Any]:
    """Write the run's plan into `target` (atomically) and return its summary."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dirs = [Path(d) for d in staged_dirs]

    # 1. Learn page furniture from the closing lines of this run and of the history.
    closing: Counter[tuple[str, str]] = Counter()
    per_source: Counter[str] = Counter()
    for d in dirs:
        t = pq.read_table(d / "records.parquet", columns=["source", "paragraphs"])
        sources = t.column("source").to_pylist()
        last = [p[-1] if p else None for p in t.column("paragraphs").to_pylist()]
        closing += closing_lines(sources, last)
        per_source.update(sources)
    history_closing = query(
        settings, "SELECT source, line, sum(articles)::BIGINT AS n FROM {furniture} GROUP BY ALL"
    )
    all_closing = Counter(closing)
    for row in history_closing.to_pylist():
        all_closing[(row["source"], row["line"])] += row["n"]
    history_sources = query(
        settings, "SELECT source, count(*)::BIGINT AS n FROM {articles} GROUP BY ALL"
    ).to_pylist()
    all_sources = Counter(per_source)
    for row in history_sources:
        all_sources[row["source"]] += row["n"]
    learned = learned_lines(
        all_closing, all_sources, settings.furniture_min_articles, settings.furniture_min_share
    )

    # 2. Finish every record (body, hash, time); keep only the key columns in memory.
    quarantine = [pq.read_table(d / "quarantine.parquet") for d in dirs]
    files = [pq.read_table(d / "files.parquet") for d in dirs]
    keys: list[pa.Table] = []
    for i, d in enumerate(dirs):
        final, rejected = finish_batch(pq.read_table(d / "records.parquet"), learned, settings)
        if rejected:
            quarantine.append(pa.Table.from_pylist(rejected, schema=STAGED_QUARANTINE))
        write_parquet(tmp / f"final-{i:05d}.parquet", final)
        keys.append(final.select(KEY_COLUMNS))
    run_keys = pa.concat_tables(keys) if keys else FINAL.empty_table().select(KEY_COLUMNS)

    # 3. Decide, in ingestion order, against the published history.
    history, copies = read_history(settings, run_keys)
    decisions = resolve(run_keys.to_pylist(), history, copies)

    # 4. Write every row the run commits.
    articles_out: list[pa.Table] = []
    captions_out: list[pa.Table] = []
    offset = 0
    for i in range(len(dirs)):
        final = pq.read_table(tmp / f"final-{i:05d}.parquet")
        picks = [
            (pos - offset, aid)
            for pos in range(offset, offset + final.num_rows)
            if (aid := decisions.publish.get(pos))
        ]
        offset += final.num_rows
        if not picks:
            continue
        chosen = final.take([p for p, _ in picks])
        ids = pa.array([aid for _, aid in picks], pa.string())
        captions = chosen.column("captions").combine_chunks()
        captions_out.append(
            pa.table(
                {
                    "article_id": pc.take(ids, pc.list_parent_indices(captions)),
                    "caption_no": pa.array(
                        [n for c in captions.to_pylist() for n in range(len(c))], pa.int32()
                    ),
                    "caption": pc.list_flatten(captions),
                }
            )
        )
        articles_out.append(chosen.append_column("article_id", ids))
    for f in tmp.glob("final-*.parquet"):
        f.unlink()

    def finish(parts: list[pa.Table], schema: pa.Schema) -> pa.Table:
        """Concatenate a table's parts, stamp them with the run, and give them the declared schema."""
        names = [n for n in schema.names if n not in ("run_id", "ingested_at")]
        t = (
            pa.concat_tables([p.select(names) for p in parts])
            if parts
            else schema.empty_table().select(names)
        )
        t = with_column(t, "run_id", run_id, pa.string())
        if "ingested_at" in schema.names:
            t = with_column(t, "ingested_at", datetime.now(UTC), schema.field("ingested_at").type)
        return t.select(schema.names).cast(schema)

    files_t = finish(files, FILES)
    dups = pa.Table.from_pylist([{**d, "run_id": run_id} for d in decisions.duplicates], schema=DUPLICATES)
    tables = {
        "articles": finish(articles_out, ARTICLES),
        "captions": finish(captions_out, CAPTIONS),
        "duplicates": dups,
        "quarantine": finish(quarantine, QUARANTINE),
        "files": files_t,
        "furniture": counts_table(closing),
    }
    for name, t in tables.items():
        write_parquet(tmp / f"{name}.parquet", t)
    summary = {
        "run_id": run_id,
        "seq": int(target.name),
        "displaced": sorted(decisions.displaced),
        "staged": [str(d) for d in dirs],
        "files_new": files_t.num_rows,
        "records": int(pc.sum(files_t.column("records")).as_py() or 0),
        "articles_new": len(decisions.new_ids & set(decisions.publish.values())),
        "articles_revised": len(set(decisions.publish.values()) - decisions.new_ids),
        "duplicates": dups.num_rows,
        "duplicates_by_kind": dict(Counter(d["kind"] for d in decisions.duplicates)),
        "quarantined": tables["quarantine"].num_rows,
        "quarantined_by_reason": dict(Counter(tables["quarantine"].column("reason").to_pylist())),
    }
    (tmp / "plan.json").write_text(json.dumps(summary, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return summary


@task(name="plan-publish", retries=2, retry_delay_seconds=[2, 10])
def plan_publish(staged_dirs: list[str], settings: Settings, run_id: str) -> str:
    """Decide the fate of every staged record and write the run's plan; returns the plan's folder."""
    target = settings.plans_dir / f"{next_seq(settings):08d}"
    summary = build_plan(staged_dirs, settings, run_id, target)
    get_run_logger().info(
        "planned %d records: %d new articles, %d revised, %d duplicates %s, %d quarantined %s",
        summary["records"],
        summary["articles_new"],
        summary["articles_revised"],
        summary["duplicates"],
        summary["duplicates_by_kind"],
        summary["quarantined"],
        summary["quarantined_by_reason"],
    )
    return str(target)
