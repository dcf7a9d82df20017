"""newsetl: scraped news dumps in, clean deduplicated articles out, queryable with DuckDB."""
