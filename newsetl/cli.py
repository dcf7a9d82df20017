"""The `newsetl` command: run an ingestion, query the catalog, generate a demo corpus."""

import csv
import json
import os
import sys
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from newsetl.devserver import prefect_api
from newsetl.errors import out_dir_problem, raw_dir_problem
from newsetl.project import make_flows_importable
from newsetl.settings import Settings

make_flows_importable()

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
err = Console(stderr=True)

RawOpt = Annotated[
    Path | None, typer.Option("--raw", help="Raw-dump directory (default: NEWSETL_RAW_DIR, else data/raw).")
]
OutOpt = Annotated[
    str | None,
    typer.Option(
        "--out", help="Output directory or s3://bucket/prefix (default: NEWSETL_OUT_DIR, else data/processed)."
    ),
]

EXAMPLE_QUERY = """SELECT source, count(*) AS articles,
       min(published_at)::DATE AS first_day, max(published_at)::DATE AS last_day
FROM articles GROUP BY source ORDER BY articles DESC"""


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def usage_error(message: str) -> NoReturn:
    """A mistake in the command's arguments: one line saying what to change, exit 2, before anything starts."""
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def settings_for(raw: Path | None, out: str | None) -> Settings:
    """The settings (NEWSETL_* variables) with the directories given on the command line; a bad value is the
    user's to fix, said in one line."""
    from pydantic import ValidationError

    try:
        return Settings.for_dirs(raw, out)
    except ValidationError as exc:
        first = exc.errors()[0]
        usage_error(f"bad setting {'.'.join(map(str, first['loc'])) or ''}: {first['msg']}")


def check_dirs(settings: Settings, raw: bool = True, raw_may_be_missing: bool = False) -> None:
    """Refuse a raw directory that is missing or a file, and a local output directory that is a file."""
    checked = raw and not (raw_may_be_missing and not settings.raw_dir.exists())
    if checked and (problem := raw_dir_problem(settings.raw_dir)):
        usage_error(problem)
    if problem := out_dir_problem(settings.out_dir):
        usage_error(problem)


def run_flow(settings: Settings) -> dict[str, Any]:
    """Run the Prefect flow; exit non-zero with an actionable message when the run fails."""
    import flows  # noqa: F401 (names what the worker server preloads)
    from newsetl.runtime import start_worker_server, stop_worker_server  # no Prefect there

    if not settings.on_dask:
        # The extract workers' server imports Prefect and the flow while this process does the same (a second or
        # two): ready once discovery has found the new files, where one started then would keep the workers waiting.
        start_worker_server()
    from flows.ingest import ingest  # imported late: Prefect takes a second to import

    try:
        with prefect_api():
            return ingest(
                raw_dir=str(settings.raw_dir.resolve()),
                out_dir=settings.resolved(),
                workers=settings.workers,
                dask_address=settings.dask_address,
            )
    except Exception as exc:  # the run failed: say what broke, not a traceback
        err.print(f"[bold red]newsetl run failed:[/] {type(exc).__name__}: {exc}")
        err.print("Nothing half-done is published: fix the cause above and run again; finished batches are not redone.")
        raise typer.Exit(1) from None
    finally:
        stop_worker_server()


def print_summary(summary: dict[str, Any]) -> None:
    """What the run did: files, records, articles, duplicates and quarantine (by kind), seconds."""
    table = Table(title=f"run {summary['run_id']}", show_header=False)
    for key, value in summary.items():
        if key != "run_id":
            table.add_row(key.replace("_", " "), str(value))
    console.print(table)


@app.command()
def run(
    raw: RawOpt = None,
    out: OutOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Extract on a local Dask cluster of N worker processes (NEWSETL_WORKERS)."),
    ] = None,
    dask_address: Annotated[
        str | None,
        typer.Option(help="Extract on the Dask cluster of this scheduler, tcp://host:8786 (NEWSETL_DASK_ADDRESS)."),
    ] = None,
) -> None:
    """Ingest every new dump under the raw directory and publish the tables and news.duckdb. Extract batches run
    in a process pool, one per core, unless --workers or --dask-address (or their settings) say otherwise."""
    from pydantic import ValidationError

    try:
        settings = settings_for(raw, out)
        if workers or dask_address:  # an option on the command line replaces both settings
            settings = Settings(**(settings.model_dump() | {"workers": workers, "dask_address": dask_address}))
    except ValidationError as exc:
        usage_error(f"bad settings: {exc.errors()[0]['msg']}")
    check_dirs(settings)
    print_summary(run_flow(settings))
    console.print(f'catalog: {settings.catalog_path}  (try: newsetl sql "SELECT count(*) FROM articles")')


@app.command()
def compact(
    out: OutOpt = None,
    retention_hours: Annotated[
        int | None,
        typer.Option(
            min=0, help="Delete files unused for this many hours (default: NEWSETL_VACUUM_RETENTION_HOURS, 168)."
        ),
    ] = None,
) -> None:
    """Rewrite each table's small files into few large ones, checkpoint its log, vacuum files no version of the
    retention period uses, and rebuild news.duckdb. Waits for a run that is writing (same lock)."""
    settings = settings_for(None, out)
    check_dirs(settings, raw=False)
    if retention_hours is not None:
        settings = settings.model_copy(update={"vacuum_retention_hours": retention_hours})
    if not tables_exist(settings):
        err.print(f"[red]no tables at {settings.out_dir}[/]: run `newsetl run` first, or pass --out DIR")
        raise typer.Exit(2)
    from flows.compact import compact_output  # imported late: Prefect takes a second to import

    try:
        with prefect_api():
            done = compact_output(out_dir=settings.resolved(), retention_hours=retention_hours)
    except Exception as exc:
        err.print(f"[bold red]newsetl compact failed:[/] {type(exc).__name__}: {exc}")
        err.print("A compaction commits atomically or not at all: fix the cause and run it again.")
        raise typer.Exit(1) from None
    for d in done:
        console.print(
            f"{d['table']}: {d['files_before']} -> {d['files_after']} files, {d['files_vacuumed']} old files "
            f"vacuumed ({d['bytes_vacuumed'] / 1e6:.1f} MB reclaimed), {d['seconds']:.2f} s",
            highlight=False,
        )
    console.print(
        f"catalog: {settings.catalog_path} (replaced files are deleted {settings.vacuum_retention_hours} h later)"
    )


def require_catalog(settings: Settings) -> None:
    if not settings.catalog_path.is_file():
        err.print(f"[red]no catalog at {settings.catalog_path}[/]: run `newsetl run` first, or pass --out DIR")
        raise typer.Exit(2)


def require_prefect_server(command: str, what_for: str) -> None:
    """Exit 2 saying how to start a server when no PREFECT_API_URL names one: Prefect's temporary server would die
    with this process, and with it the events and schedules the command gives it."""
    from prefect.settings import get_current_settings  # imported after the other checks: it is slow to import

    if not get_current_settings().api.url:
        usage_error(
            f"newsetl {command} {what_for}: start one with `prefect server start` (another terminal or a service) "
            "and set PREFECT_API_URL=http://127.0.0.1:4200/api"
        )


def tables_exist(settings: Settings) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(settings.table_uri("files"))


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over the views articles, captions, duplicates, ...")],
    out: OutOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    unsafe: Annotated[
        bool,
        typer.Option(
            "--unsafe", help="Trusted local use only: any statements, with DuckDB's file access and extensions."
        ),
    ] = False,
) -> None:
    """Run one read-only query against the catalog (news.duckdb): it reads the published tables and nothing else."""
    import duckdb

    from newsetl.sandbox import RefusedQuery, check_query, open_catalog

    settings = settings_for(None, out)
    require_catalog(settings)
    try:
        if not unsafe:
            check_query(query)
    except RefusedQuery as exc:
        err.print(f"[red]refused:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    con = open_catalog(settings, unsafe=unsafe)
    try:
        result = con.execute(query)
        names = [d[0] for d in result.description or []]
        rows = result.fetchall()
    except duckdb.PermissionException as exc:
        err.print(f"[red]refused:[/] {exc} (only the tables' own files can be read here)", highlight=False)
        raise typer.Exit(2) from None
    except duckdb.Error as exc:
        err.print(f"[red]query failed:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    finally:
        con.close()
    print_rows(names, rows, fmt)


@app.command()
def why(
    source_file: Annotated[str, typer.Argument(help="The dump, as a path or as the tables name it (source/…).")],
    record_no: Annotated[int | None, typer.Argument(help="One record of it (default: every record).")] = None,
    raw: RawOpt = None,
    out: OutOpt = None,
) -> None:
    """Tell what happened to a record: published as which article, duplicate of which by which rule, or
    quarantined for what reason."""
    from newsetl.sandbox import open_catalog
    from newsetl.why import SHOWN, explain, source_file_of

    settings = settings_for(raw, out)
    require_catalog(settings)
    name = source_file_of(source_file, settings)
    con = open_catalog(settings)
    try:
        header, fates = explain(con, name, record_no)
    finally:
        con.close()
    if not header and not fates:
        err.print(f"no run has ingested [bold]{name}[/]: names are paths under the raw directory "
                  f"({settings.raw_dir}), e.g. `newsetl why presstv/2016-09-10/000.txt 0`")  # fmt: skip
        raise typer.Exit(1)
    for line in header:
        console.print(line, highlight=False, soft_wrap=True)
    for fate in fates[:SHOWN] if record_no is None else fates:
        label = "file" if fate.record_no is None else f"record {fate.record_no}"
        console.print(f"[bold]{label}[/]: " + "\n    ".join(fate.lines), highlight=False, soft_wrap=True)
    if record_no is None and len(fates) > SHOWN:
        counts = Counter(f.verdict for f in fates)
        console.print(f"… {len(fates) - SHOWN} more; in all: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    if record_no is not None and not fates:
        err.print(f"{name} has no record {record_no}")
        raise typer.Exit(1)


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
    if directory.exists() and not directory.is_dir():
        usage_error(f"{directory} is a file: pass the folder to write the dumps into (it is created if missing)")
    if articles < 0:
        usage_error(f"--articles {articles}: give a count of 0 or more")
    if wave < 1:
        usage_error(f"--wave {wave}: waves are numbered from 1")
    if manifest is not None and not manifest.parent.is_dir():
        usage_error(f"--manifest {manifest}: its folder {manifest.parent} does not exist")
    from newsetl.generate import generate_corpus

    result = generate_corpus(directory, articles, seed=seed, wave=wave)
    if manifest is not None:
        manifest.write_text(result.to_json())
    console.print(f"wrote {len(result.records)} records in {len(result.files)} files under {directory}")


@app.command()
def demo(raw: RawOpt = None, out: OutOpt = None) -> None:
    """Put a demo corpus into the raw directory if it has no dumps, run once, and show an example query."""
    from newsetl.discovery import scan_raw_dir
    from newsetl.generate import DEMO_ARTICLES, DEMO_SEED, SOURCE_TIMEZONES, generate_corpus

    # The demo sites write local times: say in which zones, so copies on different sites compare by date.
    os.environ.setdefault("NEWSETL_SOURCE_TIMEZONES", json.dumps(SOURCE_TIMEZONES))
    settings = settings_for(raw, out)
    check_dirs(settings, raw_may_be_missing=True)
    settings.raw_dir.mkdir(parents=True, exist_ok=True)
    if not scan_raw_dir(settings.raw_dir)[0]:
        generate_corpus(settings.raw_dir, DEMO_ARTICLES, seed=DEMO_SEED)
        console.print(f"generated a demo corpus of {DEMO_ARTICLES:,} articles in {settings.raw_dir}")
    print_summary(run_flow(settings))
    console.print(f"[bold]example query[/] over {settings.catalog_path}:\n{EXAMPLE_QUERY}")
    sql(EXAMPLE_QUERY, out=str(settings.out_dir), fmt=Format.table, unsafe=False)


def main() -> None:
    # No telemetry leaves a locked-down server; set before Prefect is imported.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    app()


@app.command()
def watch(
    raw: RawOpt = None,
    settle: Annotated[
        float | None,
        typer.Option(min=0.01, help="Seconds without a new or growing dump before an event (NEWSETL_WATCH_SETTLE, 2)."),
    ] = None,
    poll: Annotated[
        float | None, typer.Option(min=0.01, help="Seconds between scans of the raw tree (NEWSETL_WATCH_POLL, 1).")
    ] = None,
) -> None:
    """Watch the raw directory; once new dumps stop changing, send the event whose trigger (prefect.yaml) starts a
    run of newsetl-ingest/nightly (Ctrl-C stops). Needs a Prefect server: PREFECT_API_URL."""
    given = {"watch_settle": settle, "watch_poll": poll}
    settings = settings_for(raw, None).model_copy(update={k: v for k, v in given.items() if v is not None})
    check_dirs(settings)
    require_prefect_server("watch", "sends its events to a Prefect server, whose workers start the runs")
    from newsetl.watch import watch_raw_dir

    raise typer.Exit(watch_raw_dir(settings))


@app.command()
def serve(
    raw: RawOpt = None,
    out: OutOpt = None,
    cron: Annotated[
        str | None, typer.Option(help="When to run, as 5-field cron (default: NEWSETL_SCHEDULE_CRON, else 0 2 * * *).")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA zone the cron is read in (default: NEWSETL_SCHEDULE_TIMEZONE, else UTC).")
    ] = None,
) -> None:
    """Run the flow on its schedule from this one process (deployment newsetl-ingest/nightly, no worker needed),
    until stopped. Needs a real Prefect server: PREFECT_API_URL."""
    from pydantic import ValidationError

    given = {"schedule_cron": cron, "schedule_timezone": timezone}
    try:
        base = settings_for(raw, out)
        settings = Settings(**(base.model_dump() | {k: v for k, v in given.items() if v is not None}))
    except ValidationError as exc:
        usage_error(f"bad schedule: {exc.errors()[0]['msg']}")
    check_dirs(settings)
    require_prefect_server("serve", "needs a Prefect server that keeps the schedule")
    from prefect.schedules import Cron

    from flows.ingest import ingest

    console.print(
        f"serving newsetl-ingest/nightly: {settings.schedule_cron} ({settings.schedule_timezone}), "
        f"{settings.raw_dir.resolve()} -> {settings.resolved()}; Ctrl-C stops"
    )
    ingest.serve(
        name="nightly",
        schedule=Cron(settings.schedule_cron, timezone=settings.schedule_timezone),
        parameters={"raw_dir": str(settings.raw_dir.resolve()), "out_dir": settings.resolved()},
        limit=1,  # one run at a time: a second would only wait for the first's lock on the output directory
    )
