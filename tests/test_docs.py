"""The documents hold what the code and the benchmarks say: the performance page's tables are rendered from the
figures the benchmarks saved (benchmarks/results/*.json), and the README stays a user's document."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def results_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("results", ROOT / "benchmarks" / "results.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_performance_tables_are_rendered_from_the_saved_results() -> None:
    page = (ROOT / "docs" / "performance.md").read_text()
    names = re.findall(r"<!-- results:(\w+) -->", page)
    assert names, "the page has no rendered table"
    for name in names:
        assert (ROOT / "benchmarks" / "results" / f"{name}.json").is_file(), name
    results = results_module()
    assert results.rendered(page) == page, "run .venv/bin/python benchmarks/results.py"
    for name in names:
        assert results.table(name) in page, name


def test_the_readme_is_at_most_400_lines() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 400
