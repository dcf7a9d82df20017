"""`newsetl why`: what happened to a record of a dump, read from the catalog as an analyst would."""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from newsetl.settings import Settings

# Records of one file listed before the rest is summed up.
SHOWN = 20


@dataclass(frozen=True)
class Fate:
    record_no: int | None
    verdict: str  # published / duplicate / quarantined
    lines: list[str]


def source_file_of(given: str, settings: Settings) -> str:
    """The name the tables use for a dump (its path under the raw root), from that name or a path to it."""
    path = Path(given)
    if path.exists():
        try:
            return path.resolve().relative_to(settings.raw_dir.resolve()).as_posix()
        except ValueError:
            pass
    return given.replace("\\", "/").removeprefix("./")


def explain(con: duckdb.DuckDBPyConnection, source_file: str, record_no: int | None) -> tuple[list[str], list[Fate]]:
    """The file's ingestion and the fate of its records (or of the one asked for)."""
    header: list[str] = []
    files = con.execute(
        """SELECT f.status, f.records, f.sha256, f.ingested_at, f.run_id FROM files f
           WHERE f.source_file = ? ORDER BY f.ingested_at""",
        [source_file],
    ).fetchall()
    for status, records, sha, at, run_id in files:
        header.append(f"{source_file}: {status}, {records} records, sha256 {sha[:12]}…, ingested {at:%Y-%m-%d %H:%M} "
                      f"UTC by run {run_id}")  # fmt: skip
    record = "" if record_no is None else " AND record_no = ?"
    args: list[object] = [source_file] + ([] if record_no is None else [record_no])
    fates: list[Fate] = []
    ingesting = {run_id for *_, run_id in files}
    for no, aid, title, published, source, code, language, removed, run_id in con.execute(
        f"""SELECT record_no, article_id, title, published_at, source, story_code, language, furniture_removed, run_id
            FROM articles WHERE source_file = ?{record}""",
        args,
    ).fetchall():
        when = f"{published:%Y-%m-%d %H:%M} UTC" if published else "no date line"
        code_text = f", story code {code}" if code else ""
        facts = f"{source}{code_text}, {when}, language {language or 'unknown'}"
        cut = [f"page furniture of {source} removed: " + " | ".join(f"“{p}”" for p in removed)] if removed else []
        anew = [] if run_id in ingesting else [
            f"published anew by run {run_id}, read again from the dump: its source's learned furniture or a "
            "decision it was taken against changed"
        ]  # fmt: skip
        fates.append(Fate(no, "published", [f"published as article {aid}: “{title}”", facts, *cut, *anew]))
    for no, kind, similarity, of, title, of_title, of_file, of_no in con.execute(
        f"""SELECT d.record_no, d.kind, d.similarity, d.duplicate_of, d.title, a.title, a.source_file, a.record_no
            FROM duplicates d LEFT JOIN articles a ON a.article_id = d.duplicate_of
            WHERE d.source_file = ?{record.replace("record_no", "d.record_no")}""",
        args,
    ).fetchall():
        fates.append(Fate(no, "duplicate", [f"“{title}”", rule(kind, similarity, of),
                                            where(of_title, of_file, of_no)]))  # fmt: skip
    for no, reason, detail in con.execute(
        f"SELECT record_no, reason, detail FROM quarantine WHERE source_file = ?{record}", args
    ).fetchall():
        fates.append(Fate(no, "quarantined", [f"quarantined: {reason}", detail]))
    fates.sort(key=lambda f: (-1 if f.record_no is None else f.record_no, f.verdict))
    return header, fates


def rule(kind: str, similarity: float | None, of: str) -> str:
    if kind == "exact":
        return f"exact copy of article {of}: the same cleaned title and body were seen before"
    if kind == "revision":
        return f"older version of article {of}: same source and story code, the newest date line is published"
    return (
        f"near copy of article {of}: word 5-gram Jaccard similarity {similarity:.2f}, and the earliest published "
        "copy is the article"
    )


def where(title: str | None, source_file: str | None, record_no: int | None) -> str:
    if title is None:
        return "that article is no longer published (a newer run replaced it)"
    return f"that article: “{title}”, {source_file} record {record_no}"
