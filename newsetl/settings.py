"""Settings: one typed object, read once from the environment (prefix NEWSETL_) and passed down."""

import re
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
# The nightly run: 02:00 every day (in schedule_timezone).
DEFAULT_CRON = "0 2 * * *"


def zone_named(name: str) -> tzinfo:
    """An IANA zone, or a fixed offset from UTC written `+HH:MM` / `-HH:MM` (for sites that ignore summer time)."""
    fixed = _OFFSET.fullmatch(name)
    if fixed is None:
        return ZoneInfo(name)
    sign, hours, minutes = fixed.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-offset if sign == "-" else offset)


class Settings(BaseSettings):
    """Everything a run can be told; `newsetl run --help` and the README list the same names."""

    model_config = SettingsConfigDict(env_prefix="NEWSETL_", env_nested_delimiter="__", extra="ignore")

    raw_dir: Path = Path("data/raw")
    # A local directory, or an object-store URL (`s3://bucket/prefix`) the Delta writer writes to itself.
    out_dir: Path | str = Path("data/processed")
    # Local work state (staging, plans, Prefect results, the lock, DuckDB's spill files): default
    # `<out_dir>/_state`, or `data/state/<bucket>/<prefix>` for an object-store output.
    work_dir: Path | None = None
    # The catalog file analysts open: default `<out_dir>/news.duckdb`, or `<work_dir>/news.duckdb` for an
    # object-store output (a DuckDB file cannot live on object storage and be replaced atomically).
    catalog: Path | None = None
    # An extract task gets at most this many files or bytes: big enough that Prefect's ~0.2 s between two tasks
    # of a worker is noise, small enough that a retry redoes little (see newsetl/discovery.py, make_batches).
    batch_files: int = Field(default=2000, ge=1)
    batch_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    # A record larger than this is quarantined instead of parsed: no real article is 4 MB of text.
    max_record_bytes: int = Field(default=4_000_000, ge=1024)
    # IANA zone of each source's date lines, e.g. {"presstv": "Asia/Tehran"}; sources not listed are UTC.
    source_timezones: dict[str, str] = Field(default_factory=dict)
    # Extra trailer / page-furniture lines per source, removed from the end of bodies like the built-in ones.
    furniture: dict[str, list[str]] = Field(default_factory=dict)
    # A paragraph template is learned as furniture of a source once it opens or ends this many of its stories ...
    furniture_min_articles: int = Field(default=5, ge=2)
    # ... and at least this share of them: a site's furniture frames a good part of its pages, while a stock
    # sentence of its writers ("The statement did not say when ...") recurs in a few stories in a hundred.
    furniture_min_share: float = Field(default=0.1, gt=0, le=1)
    # A record whose word 5-gram Jaccard similarity to an article reaches this is a `near` duplicate of it.
    # The LSH banding (newsetl/near.py) finds pairs at 0.7 or more with at least 97 % probability.
    near_threshold: float = Field(default=0.8, ge=0.7, le=1)
    # Extract named entities (the slowest step: about 20 articles per second per core); off skips the model.
    entities: bool = True
    # Characters of an article (title, then body) the entity model reads: the people, places and
    # organisations a story is about are named in its opening; the model's cost grows with its input.
    entity_chars: int = Field(default=2000, ge=100)
    # A one-word name ("Turnout", labelled a person because it opens a sentence) is a common word, not a name, when
    # the run's texts write it in lower case at least 3 times and at least this share of the times they write it in
    # lower case or capitalised mid-sentence: names are capitalised mid-sentence too (see newsetl/entities.py).
    entity_lower_share: float = Field(default=0.5, gt=0, le=1)
    # DuckDB's working memory for deduplication (it spills to disk beyond): keeps a run's peak flat.
    # Records planned and committed together: a larger run is planned and committed in rounds of this many
    # (whole extract batches), which bounds the plan's memory; the tables come out the same either way. The
    # run's counts of new articles and duplicates are then the rounds' sums: an article published by one round
    # and displaced by an earlier copy in a later round is counted in both.
    plan_records: int = Field(default=100_000, ge=1)
    # DuckDB's cap while deduplicating (it spills beyond): it sets the plan's peak of memory, and a cap a round
    # outgrows stops the run with a message naming this setting (docs/performance.md, "DuckDB's cap").
    duckdb_memory_limit: str = "384MB"
    # Compaction (`newsetl compact`, and a run when files pile up) writes files of about this size: large enough
    # that a month of articles is a few files, small enough that replacing a few articles stays cheap: a file
    # holding a replaced article (a revision, an earlier copy) is rewritten whole (see newsetl/tables.py).
    compact_target_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024)
    # A run compacts a table once one of its partitions holds this many files below the target size: each
    # run adds about one file per extract batch and partition, and compacting every run would rewrite the
    # month being filled every night.
    compact_min_files: int = Field(default=16, ge=2)
    # `newsetl compact` deletes files no table version has needed for this many hours: a catalog an analyst
    # opened before a compaction (or copied) lists the files of its version and reads them until then.
    vacuum_retention_hours: int = Field(default=168, ge=0)
    # Seconds a run waits for another run on the same output directory to finish before giving up.
    lock_timeout: float = Field(default=600, ge=0)
    # `newsetl watch` starts a run once no dump was added or grew for this many seconds: a file still being
    # written keeps growing, and a burst of files becomes one run. Longer than a scraper's pause between writes.
    watch_settle: float = Field(default=2.0, gt=0)
    # Seconds between two scans of the raw tree (after a slow scan of a large tree: four times its duration).
    watch_poll: float = Field(default=1.0, gt=0)
    # After an event the server did not take, seconds before the watcher sends it again (doubling per failure,
    # at most 10 minutes): a server that is down is not hammered, one that is back is used soon.
    watch_retry: float = Field(default=30.0, gt=0)

    # Where extract batches run. Neither: a process pool on this machine, one process per core. `workers`: a
    # local Dask cluster of that many single-threaded worker processes. `dask_address`: the scheduler of a
    # running Dask cluster (`tcp://host:8786`), whose workers must run this same code and reach the raw and
    # output directories at the same paths. Both at once is an error: there is no precedence to remember.
    dask_address: str | None = None
    workers: int | None = Field(default=None, ge=1)

    # When the deployed flow runs by itself (prefect.yaml's `nightly`, `newsetl serve`): a 5-field cron line,
    # read in `schedule_timezone` (an IANA name), so 02:00 stays 02:00 local time across daylight saving time.
    schedule_cron: str = DEFAULT_CRON
    schedule_timezone: str = "UTC"

    @model_validator(mode="after")
    def _one_runner(self) -> "Settings":
        if self.dask_address and self.workers:
            raise ValueError(
                f"both a Dask scheduler ({self.dask_address}) and a local cluster of {self.workers} workers are set: "
                "choose one (NEWSETL_DASK_ADDRESS / --dask-address, or NEWSETL_WORKERS / --workers)"
            )
        return self

    @field_validator("schedule_cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        if cron == DEFAULT_CRON:  # valid, and checking it would import Prefect (a second) in every command
            return cron
        from prefect.client.schemas.schedules import CronSchedule  # imported late: Prefect takes a second

        try:
            CronSchedule(cron=cron)
        except ValueError:
            raise ValueError(f"invalid cron line {cron!r}: use five fields, e.g. '0 2 * * *' for 02:00 daily") from None
        return cron

    @field_validator("schedule_timezone")
    @classmethod
    def _valid_timezone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'") from None
        return zone

    @field_validator("out_dir", mode="before")
    @classmethod
    def _local_or_url(cls, out: object) -> object:
        """A URL stays a string (a Path would fold `s3://` into `s3:/`); anything else is a local path."""
        return out if isinstance(out, str) and is_url(out) else Path(str(out))

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
                zone_named(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {zone!r} for source {source!r}: use an IANA name such as 'Asia/Tehran' "
                    "or a fixed offset such as '+03:30'"
                ) from None
        return zones

    def zone_of(self, source: str) -> tzinfo:
        """The zone a source's date lines are written in (UTC when not set)."""
        return zone_named(self.source_timezones.get(source, "UTC"))

    @property
    def on_dask(self) -> bool:
        """The extract batches run on Dask (the cluster at `dask_address`, or a local one of `workers`), not on the
        default pool of worker processes forked from newsetl.runtime."""
        return bool(self.dask_address or self.workers)

    @property
    def remote(self) -> bool:
        """The tables live on object storage, not in a local directory."""
        return isinstance(self.out_dir, str)

    @property
    def catalog_path(self) -> Path:
        if self.catalog is not None:
            return self.catalog
        return self.state_dir / "news.duckdb" if isinstance(self.out_dir, str) else self.out_dir / "news.duckdb"

    @property
    def state_dir(self) -> Path:
        """Work files that make reruns exact: staged batches, pending plans, Prefect's task results."""
        if self.work_dir is not None:
            return self.work_dir
        if isinstance(self.out_dir, str):
            return Path("data/state") / self.out_dir.split("://", 1)[1].strip("/")
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

    def table_uri(self, name: str) -> str:
        """Where the Delta writer keeps a table: a local path or an object-store URL."""
        if isinstance(self.out_dir, str):
            return f"{self.out_dir.rstrip('/')}/{name}"
        return str(self.out_dir / name)

    def table_path(self, name: str) -> Path:
        """A table's local directory (local outputs only)."""
        if isinstance(self.out_dir, str):
            raise ValueError(f"{self.out_dir} is not a local directory")
        return self.out_dir / name

    def resolved(self) -> str:
        """The output as an absolute path or a URL, to hand to another process."""
        return self.out_dir if isinstance(self.out_dir, str) else str(self.out_dir.resolve())


def is_url(location: str) -> bool:
    """`s3://bucket/prefix` and the like, as opposed to a local path."""
    return re.match(r"[a-z][a-z0-9+.-]*://", location) is not None
