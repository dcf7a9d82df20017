# Two commands a new machine needs: `make demo` (set up, ingest a demo corpus, query it) and `make test`.
UV := python3 -m uv
VENV := .venv

.PHONY: setup demo run test lint bench clean

setup: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --frozen
	@touch $@

demo: setup
	$(VENV)/bin/newsetl demo

run: setup
	$(VENV)/bin/newsetl run

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest

bench: setup
	$(VENV)/bin/python benchmarks/bench_run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
