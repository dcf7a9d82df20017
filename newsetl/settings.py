"""Settings: one typed object, read once from the environment (prefix NEWSETL_) and passed down."""

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a run can be told; `newsetl run --help` and the README list the same names."""

    model_config = SettingsConfigDict(env_prefix="NEWSETL_", env_nested_delimiter="__", extra="ignore")

    raw_dir: Path = Path("data/raw")
    out_dir: Path = Path("data/processed")
    # A parse task gets at most this many files or bytes: big enough that Prefect's ~5 ms per task is noise,
    # small enough that a retry redoes little and that both cores get work.
    batch_files: int = Field(default=500, ge=1)
    batch_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    # A record larger than this is quarantined instead of parsed: no real article is 4 MB of text.
    max_record_bytes: int = Field(default=4_000_000, ge=1024)
    # IANA zone of each source's date lines, e.g. {"presstv": "Asia/Tehran"}; sources not listed are UTC.
    source_timezones: dict[str, str] = Field(default_factory=dict)
    # Extra trailer / page-furniture lines per source, removed from the end of bodies like the built-in ones.
    furniture: dict[str, list[str]] = Field(default_factory=dict)
    # A short closing line is learned as furniture of a source once it ends this many of its articles ...
    furniture_min_articles: int = Field(default=5, ge=2)
    # ... and at least this share of them (so a phrase two stories happen to share is not cut).
    furniture_min_share: float = Field(default=0.02, gt=0, le=1)
    # DuckDB's working memory for deduplication (it spills to disk beyond): keeps a run's peak flat.
    duckdb_memory_limit: str = "256MB"
    # Seconds a run waits for another run on the same output directory to finish before giving up.
    lock_timeout: float = Field(default=600, ge=0)

    @classmethod
    def for_dirs(cls, raw_dir: str | Path | None = None, out_dir: str | Path | None = None) -> "Settings":
        """Settings from the environment, with the directories given on the command line (when given)."""
        given: dict[str, Any] = {"raw_dir": raw_dir, "out_dir": out_dir}
        return cls(**{k: v for k, v in given.items() if v is not None})

    @field_validator("source_timezones")
    @classmethod
    def _known_zones(cls, zones: dict[str, str]) -> dict[str, str]:
        for source, zone in zones.items():
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {zone!r} for source {source!r}: use an IANA name such as 'Asia/Tehran'"
                ) from None
        return zones

    @property
    def catalog_path(self) -> Path:
        return self.out_dir / "news.duckdb"

    @property
    def state_dir(self) -> Path:
        """Work files that make reruns exact: staged batches, pending plans, Prefect's task results."""
        return self.out_dir / "_state"

    @property
    def staging_dir(self) -> Path:
        return self.state_dir / "staging"

    @property
    def plans_dir(self) -> Path:
        return self.state_dir / "plans"

    @property
    def results_dir(self) -> Path:
        return self.state_dir / "prefect-results"

    @property
    def lock_path(self) -> Path:
        return self.state_dir / "run.lock"

    def table_path(self, name: str) -> Path:
        return self.out_dir / name
