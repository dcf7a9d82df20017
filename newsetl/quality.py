"""The data-quality report of a run: shares of missing fields, languages and quarantine reasons, as Markdown."""

from typing import Any

from newsetl.settings import Settings
from newsetl.tables import query, sql_literal

# Quarantine reasons listed in the report (there are about ten in all).
TOP_REASONS = 10


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
