"""Benchmark results: each benchmark saves its figures to benchmarks/results/NAME.json, and the tables of
docs/performance.md are rendered from those files, never typed by hand.

    .venv/bin/python benchmarks/results.py      # render the tables of docs/performance.md again

A table stands in the page between the lines `<!-- results:NAME -->` and `<!-- /results:NAME -->`;
`tests/test_docs.py` fails when the page and the files disagree.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "performance.md"


def save(name: str, rows: list[dict[str, Any]]) -> Path:
    """Write a benchmark's rows, with when and on what they were measured, and render the page's tables."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}
    measured = {"benchmark": name, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine}
    path.write_text(json.dumps({**measured, "rows": rows}, indent=1) + "\n")
    render_page()
    return path


def _blank_or(fmt: str, key: str) -> Callable[[dict[str, Any]], str]:
    """A cell that stays blank on rows without the figure (a model's load has no per-article rate)."""
    return lambda r: "" if r.get(key) is None else format(r[key], fmt)


def _plain_steps(r: dict[str, Any]) -> str:
    steps = r.get("plain_steps_s")
    return f"{steps['extract']} / {steps['plan']}" if steps else ""


def _mb_with_largest(r: dict[str, Any]) -> str:
    largest = r.get("peak_rss_mb_per_process") or r["largest_processes_mb"]
    return f"{r['peak_rss_mb']:,} ({', '.join(f'{m:,}' for m in largest)})"


def _flow_peak(r: dict[str, Any]) -> str:
    stage, mb = next(iter(r["flow_peak_mb_by_stage"].items()), ("", 0))
    return f"{mb:,} ({stage})"


# Per benchmark: the table's columns, each a header and how a row gives its cell.
COLUMNS: dict[str, list[tuple[str, Callable[[dict[str, Any]], str]]]] = {
    "bench_run": [
        ("articles", lambda r: f"{r['articles']:,}"),
        ("entities", lambda r: "on" if r["entities"] else "off"),
        ("flow s", lambda r: f"{r['flow_s']}"),
        ("records/s", lambda r: f"{r['records_per_s_flow']:,}"),
        ("peak RSS MB (largest processes)", _mb_with_largest),
        ("peak PSS MB", lambda r: f"{r['peak_pss_mb']:,}"),
        ("x floor", lambda r: f"{r['ratio_to_floor']:,}"),
        ("flow time outside tasks", lambda r: r["flow_time_outside_tasks"]),
        ("rerun, nothing new (CLI) s", lambda r: f"{r['rerun_nothing_new_s']}"),
        ("plan s", lambda r: f"{r['stages_s'].get('write_plan', 0.0)}"),
        ("commit s", lambda r: f"{r['stages_s'].get('commit_plan', 0.0)}"),
    ],
    "bench_unseen": [
        ("stories", lambda r: f"{r['stories']:,}"),
        ("records", lambda r: f"{r['records']:,}"),
        ("runs", lambda r: f"{r['runs']}"),
        ("body exact", lambda r: f"{r['body_exact']:.4f}"),
        ("furniture left", lambda r: f"{r['furniture_left']:.2%}"),
        ("exact copies found", lambda r: f"{r['exact_found']:.4f}"),
        ("revisions resolved", lambda r: f"{r['revisions_resolved']:.2%}"),
        ("lost", lambda r: f"{r['lost']}"),
        ("quarantined", lambda r: f"{r['quarantined']}"),
        ("files not ok", lambda r: f"{r['files_not_ok']}"),
        ("labelled en", lambda r: f"{r['english']:.2%}"),
    ],
    "bench_archive": [
        ("step", lambda r: r["step"]),
        ("articles after", lambda r: f"{r['articles_in_archive']:,}"),
        ("flow s", lambda r: f"{r['seconds']:.1f}"),
        ("CLI s", lambda r: f"{r['cli_s']}"),
        ("plan s", lambda r: f"{r['stages_s'].get('write_plan', 0.0)}"),
        ("commit s", lambda r: f"{r['stages_s'].get('commit_plan', 0.0)}"),
        ("peak RSS MB (largest processes)", _mb_with_largest),
        ("peak PSS MB", lambda r: f"{r['peak_pss_mb']:,}"),
    ],
    "bench_overhead": [
        ("round", lambda r: r["round"]),
        ("articles", lambda r: f"{r['articles']:,}"),
        ("without Prefect s", lambda r: f"{r['plain_s']}"),
        ("of which extract / plan s", _plain_steps),
        ("flow s", lambda r: f"{r['flow_s']}"),
        ("CLI s", lambda r: f"{r['cli_s']}"),
        ("Prefect's overhead (upper bound)", lambda r: r["prefect_overhead"]),
    ],
    "bench_enrich": [
        ("step", lambda r: r["step"]),
        ("articles", _blank_or(",", "articles")),
        ("wall s", lambda r: f"{r['wall_s']:.2f}"),
        ("articles/s", _blank_or(",.1f", "articles_per_s")),
        ("articles/CPU-s", _blank_or(",.1f", "articles_per_cpu_s")),
        ("CPU ms/article", _blank_or(".3f", "cpu_ms_per_article")),
    ],
    "bench_dedupe": [
        ("articles", lambda r: f"{r['articles']:,}"),
        ("kind", lambda r: r["kind"]),
        ("truth pairs", lambda r: f"{r['truth_pairs']:,}"),
        ("predicted pairs", lambda r: f"{r['predicted_pairs']:,}"),
        ("true pos", lambda r: f"{r['true_positives']:,}"),
        ("found", lambda r: f"{r['found']:,}"),
        ("precision", _blank_or(".4f", "precision")),
        ("recall", _blank_or(".4f", "recall")),
        ("templated stories wrongly merged", lambda r: f"{r['templated_wrongly_merged']}"),
        ("newsetl run s", _blank_or("", "run_s")),
        ("band keys us/article", _blank_or(",", "band_keys_us_per_article")),
    ],
    "bench_query": [
        ("archive", lambda r: r["built"]),
        ("articles", lambda r: f"{r['articles']:,}"),
        ("compacted", lambda r: f"yes ({r['compact_s']} s)" if r["compacted"] else "no"),
        ("query", lambda r: r["query"]),
        ("month's articles", lambda r: f"{r['month_articles']:,}"),
        ("files read", lambda r: f"{r['files_read']} of {r['files_listed']}"),
        ("first s", lambda r: f"{r['first_s']:.3f}"),
        ("best of 3 s", lambda r: f"{r['best_s']:.3f}"),
    ],
    "bench_shapes": [
        ("input", lambda r: r["input"]),
        ("records", lambda r: f"{r['records']:,}"),
        ("raw MB", lambda r: f"{r['raw_mb']:,}"),
        ("run s", lambda r: f"{r['run_s']}"),
        ("records/s", lambda r: f"{r['records_per_s']:,}"),
        ("peak RSS MB (largest processes)", _mb_with_largest),
        ("peak PSS MB", lambda r: f"{r['peak_pss_mb']:,}"),
        ("flow's process, peak MB (during)", _flow_peak),
    ],
}


def table(name: str) -> str:
    """The Markdown table of a benchmark's saved rows, with the date and machine they were measured on."""
    saved = json.loads((RESULTS / f"{name}.json").read_text())
    columns = COLUMNS[name]
    lines = [
        f"*`{name}.py`, {saved['measured_at'][:10]}, {saved['machine']['cpus']} CPUs, "
        f"Python {saved['machine']['python']} (from `benchmarks/results/{name}.json`):*",
        "",
        "| " + " | ".join(header for header, _ in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    lines += ["| " + " | ".join(cell(row) for _, cell in columns) + " |" for row in saved["rows"]]
    return "\n".join(lines)


def rendered(page: str) -> str:
    """The page with every results table rendered from its file."""

    def fill(m: re.Match[str]) -> str:
        return f"{m.group(1)}\n{table(m.group(2))}\n{m.group(3)}"

    return re.sub(r"(<!-- results:(\w+) -->)\n(?:.*?\n)?(<!-- /results:\2 -->)", fill, page, flags=re.DOTALL)


def render_page() -> None:
    PAGE.write_text(rendered(PAGE.read_text()))


if __name__ == "__main__":
    render_page()
    sys.exit(0)
