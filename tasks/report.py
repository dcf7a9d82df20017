"""What a run shows in the Prefect UI besides its summary: a progress bar while it runs, a data-quality report
after it has published, and failed extract batches named by their files."""

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture, as_completed

from newsetl.errors import worth_retrying
from newsetl.records import DumpFile
from newsetl.settings import Settings
from newsetl.tables import query, sql_literal

# Share of the progress bar each stage ends at: extraction is most of a run's time.
DISCOVERED, EXTRACTED, PUBLISHED = 10.0, 80.0, 95.0
# Files of a failed batch named in the failure (a batch can hold hundreds).
NAMED_FILES = 5
# Quarantine reasons listed in the report (there are about ten in all).
TOP_REASONS = 10


class Progress:
    """The run's progress artifact (key `newsetl-progress`): one bar in the UI, moved as stages finish."""

    def __init__(self, settings: Settings) -> None:
        created = create_progress_artifact(
            0.0, key="newsetl-progress", description=f"waiting for the lock on {settings.out_dir}"
        )
        self.artifact_id = cast(UUID, created)  # called from sync code: Prefect returns the id, not a coroutine

    def update(self, percent: float, what: str) -> None:
        update_progress_artifact(self.artifact_id, round(percent, 1), description=what)


class ExtractFailed(RuntimeError):
    """An extract batch failed even after its retries."""


def staged_dirs(futures: Sequence[PrefectFuture[str]], batches: list[list[DumpFile]], progress: Progress) -> list[str]:
    """Wait for every extract batch, moving the progress bar as each finishes; the staged folders in batch
    (ingestion) order. Every batch finishes, so a retry redoes only the failed ones; the first failure is then
    raised naming the files of its batch, the input an engineer may have to fix or remove."""
    index = {id(f): i for i, f in enumerate(futures)}
    failed: dict[int, Exception] = {}
    for done, future in enumerate(as_completed(list(futures)), start=1):
        try:
            future.result()  # the final state, unlike `future.state`, which the API may not have caught up with
        except Exception as exc:
            failed[index[id(future)]] = exc
        share = done / len(futures)
        progress.update(DISCOVERED + share * (EXTRACTED - DISCOVERED), f"extracted {done} of {len(futures)} batches")
    if failed:
        first = min(failed)
        message = failure_message(first, len(futures), len(failed), batches[first], failed[first])
        raise ExtractFailed(message) from failed[first]
    return [f.result() for f in futures]


def failure_message(number: int, total: int, failures: int, batch: list[DumpFile], exc: BaseException) -> str:
    """Which batch failed, why, on which files, and what to do."""
    names = ", ".join(f.source_file for f in batch[:NAMED_FILES])
    more = f" and {len(batch) - NAMED_FILES} more" if len(batch) > NAMED_FILES else ""
    others = f" ({failures - 1} other batch(es) failed too)" if failures > 1 else ""
    return (
        f"extract batch {number + 1} of {total} failed{others}: {type(exc).__name__}: {exc}. "
        f"Its files: {names}{more}. Fix the cause (or remove the file) and retry the run: "
        "the batches that finished are not redone."
    )


QUALITY_SQL = """
SELECT count(*)::BIGINT AS articles,
       count(*) FILTER (WHERE published_at IS NULL)::BIGINT AS no_date,
       count(*) FILTER (WHERE caption_count = 0)::BIGINT AS no_caption
FROM {articles} WHERE run_id = $run
"""
LANGUAGE_SQL = """
SELECT coalesce(language, 'unknown') AS language, count(*)::BIGINT AS n
FROM {articles} WHERE run_id = $run GROUP BY 1 ORDER BY n DESC, 1
"""
# One example per reason: the first file by path, with its detail, so the report is the same on a rerun.
QUARANTINE_SQL = """
SELECT reason, count(*)::BIGINT AS n, min(source_file) AS example,
       arg_min(detail, (source_file, coalesce(record_no, -1))) AS detail
FROM {quarantine} WHERE run_id = $run GROUP BY reason ORDER BY n DESC, reason LIMIT """ + str(TOP_REASONS)


def run_rows(settings: Settings, sql: str, run_id: str) -> list[dict[str, Any]]:
    """Rows of one of the report's queries for this run, as plain Python values (artifacts reject Decimal)."""
    return query(settings, sql.replace("$run", sql_literal(run_id))).to_pylist()


def share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; pipes and line breaks in values would break it, so they are escaped."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def quality_markdown(
    run_id: str, totals: dict[str, Any], languages: list[dict[str, Any]], reasons: list[dict[str, Any]]
) -> str:
    """The report's text: shares of this run's articles without date or caption, languages, quarantine."""
    n = int(totals["articles"])
    parts = [
        f"# Data quality of run {run_id}",
        f"{n} article(s) published (new or revised) by this run.",
        markdown_table(
            ["check", "articles", "share"],
            [
                ["no date (`published_at` NULL)", int(totals["no_date"]), share(int(totals["no_date"]), n)],
                ["no caption (`caption_count` = 0)", int(totals["no_caption"]), share(int(totals["no_caption"]), n)],
            ],
        ),
        "## Languages",
        markdown_table(
            ["language", "articles", "share"], [[r["language"], int(r["n"]), share(int(r["n"]), n)] for r in languages]
        )
        if languages
        else "No article published.",
        "## Quarantine (top reasons)",
        markdown_table(
            ["reason", "rows", "example file", "detail"],
            [[r["reason"], int(r["n"]), f"`{r['example']}`", r["detail"]] for r in reasons],
        )
        if reasons
        else "Nothing quarantined.",
    ]
    return "\n\n".join(parts) + "\n"


@task(
    name="report-quality",
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_jitter_factor=0.5,
    retry_condition_fn=worth_retrying,
)
def report_quality(settings: Settings, run_id: str) -> str:
    """Publish the data-quality report of this run's articles and quarantine (artifact `newsetl-data-quality`)."""
    totals = run_rows(settings, QUALITY_SQL, run_id)[0]
    languages = run_rows(settings, LANGUAGE_SQL, run_id)
    reasons = run_rows(settings, QUARANTINE_SQL, run_id)
    markdown = quality_markdown(run_id, totals, languages, reasons)
    create_markdown_artifact(markdown, key="newsetl-data-quality", description=f"data quality of newsetl run {run_id}")
    get_run_logger().info(
        "quality: %d articles, %s without date, %s without caption, %d quarantine reason(s)",
        int(totals["articles"]),
        share(int(totals["no_date"]), int(totals["articles"])),
        share(int(totals["no_caption"]), int(totals["articles"])),
        len(reasons),
    )
    return markdown
