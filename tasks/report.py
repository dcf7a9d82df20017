"""Report: the stage that publishes a run's data-quality report as a Prefect artifact (newsetl/quality.py)."""

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from newsetl.errors import retries
from newsetl.quality import LANGUAGE_SQL, QUALITY_SQL, QUARANTINE_SQL, quality_markdown, run_rows, share
from newsetl.settings import Settings


@task(name="report-quality", **retries(1, 5, jitter=0.5))
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
