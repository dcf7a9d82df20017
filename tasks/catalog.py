"""Catalog: the stage that rebuilds news.duckdb over the tables' current versions (newsetl/catalog.py)."""

from prefect import get_run_logger, task

from newsetl.catalog import write_catalog
from newsetl.errors import retries
from newsetl.settings import Settings


@task(name="build-catalog", **retries(1, 5, 20))
def build_catalog(settings: Settings) -> str:
    """Rebuild news.duckdb over the tables' current versions; returns its path."""
    views = write_catalog(settings)
    get_run_logger().info("catalog %s rebuilt with %d views", settings.catalog_path, views)
    return str(settings.catalog_path)
