"""The `newsetl` command: run an ingestion, query the catalog, generate a demo corpus."""

import csv
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from newsetl.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
err = Console(stderr=True)

RawOpt = Annotated[
    Path | None, typer.Option("--raw", help="Raw-dump directory (default: NEWSETL_RAW_DIR, else data/raw).")
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Output directory (default: NEWSETL_OUT_DIR, else data/processed).")
]

EXAMPLE_QUERY = """SELECT source, count(*) AS articles,
       min(published_at)::DATE AS first_day, max(published_at)::DATE AS last_day
FROM articles GROUP BY source ORDER BY articles DESC"""


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@contextmanager
def prefect_api() -> Iterator[None]:
    """Use the configured Prefect server, or start Prefect's temporary one for this process.

    Prefect would start the temporary server on its own, but then each extract worker process would start
    another one (seconds each): started here, its address reaches the workers with the other settings.
    """
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if get_current_settings().api.url:
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()  # stopped at exit, after Prefect has sent the last logs to it
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield


def run_flow(settings: Settings) -> dict[str, Any]:
    """Run the Prefect flow; exit non-zero with an actionable message when the run fails."""
    from flows.ingest import ingest  # imported late: Prefect takes a second to import

    try:
        with prefect_api():
            return ingest(raw_dir=str(settings.raw_dir.resolve()), out_dir=str(settings.out_dir.resolve()))
    except Exception as exc:  # the run failed: say what broke, not a traceback
        err.print(f"[bold red]newsetl run failed:[/] {type(exc).__name__}: {exc}")
        err.print("Nothing half-done is published: fix the cause above and run again; finished batches are not redone.")
        raise typer.Exit(1) from None


def print_summary(summary: dict[str, Any]) -> None:
    """What the run did: files, records, articles, duplicates and quarantine (by kind), seconds."""
    table = Table(title=f"run {summary['run_id']}", show_header=False)
    for key, value in summary.items():
        if key != "run_id":
            table.add_row(key.replace("_", " "), str(value))
    console.print(table)


@app.command()
def run(raw: RawOpt = None, out: OutOpt = None) -> None:
    """Ingest every new dump under the raw directory and publish the tables and news.duckdb."""
    settings = Settings.for_dirs(raw, out)
    print_summary(run_flow(settings))
    console.print(f'catalog: {settings.catalog_path}  (try: newsetl sql "SELECT count(*) FROM articles")')


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over the views articles, captions, duplicates, ...")],
    out: OutOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Run a read-only query against the catalog (news.duckdb)."""
    import duckdb

    catalog = Settings.for_dirs(None, out).catalog_path
    if not catalog.is_file():
        err.print(f"[red]no catalog at {catalog}[/]: run `newsetl run` first, or pass --out DIR")
        raise typer.Exit(2)
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        result = con.execute(query)
        names = [d[0] for d in result.description or []]
        rows = result.fetchall()
    except duckdb.Error as exc:
        err.print(f"[red]query failed:[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        con.close()
    print_rows(names, rows, fmt)


def print_rows(names: list[str], rows: list[tuple], fmt: Format) -> None:
    if fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows(rows)
    elif fmt is Format.json:
        print(json.dumps([dict(zip(names, r, strict=True)) for r in rows], default=str, ensure_ascii=False))
    else:
        table = Table(*names)
        for r in rows:
            table.add_row(*("NULL" if v is None else str(v) for v in r))
        console.print(table)


@app.command()
def generate(
    directory: Annotated[Path, typer.Argument(help="Where to write the raw-dump tree.")],
    articles: Annotated[int, typer.Option(help="How many article records to write.")] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 0,
    wave: Annotated[int, typer.Option(help="Wave 2+ adds later scrape days, with copies of earlier waves.")] = 1,
    manifest: Annotated[Path | None, typer.Option(help="Also write what was generated as JSON here.")] = None,
) -> None:
    """Write a synthetic raw-dump tree (every variant and breakage of the format) for demos, tests, benchmarks."""
    from newsetl.generate import generate_corpus

    result = generate_corpus(directory, articles, seed=seed, wave=wave)
    if manifest is not None:
        manifest.write_text(result.to_json())
    console.print(f"wrote {len(result.records)} records in {len(result.files)} files under {directory}")


@app.command()
def demo(raw: RawOpt = None, out: OutOpt = None) -> None:
    """Put a demo corpus into the raw directory if it has no dumps, run once, and show an example query."""
    from newsetl.generate import generate_corpus
    from tasks.discover import scan_raw_dir

    settings = Settings.for_dirs(raw, out)
    settings.raw_dir.mkdir(parents=True, exist_ok=True)
    if not scan_raw_dir(settings.raw_dir)[0]:
        generate_corpus(settings.raw_dir, 2000, seed=0)
        console.print(f"generated a demo corpus of 2,000 articles in {settings.raw_dir}")
    print_summary(run_flow(settings))
    console.print(f"[bold]example query[/] over {settings.catalog_path}:\n{EXAMPLE_QUERY}")
    sql(EXAMPLE_QUERY, out=settings.out_dir, fmt=Format.table)


def main() -> None:
    # No telemetry leaves a locked-down server; set before Prefect is imported.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    app()
