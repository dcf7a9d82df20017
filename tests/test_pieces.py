"""A dump larger than NEWSETL_PLAN_RECORDS is planned in pieces, one round each: the same tables as one round,
and a run that dies between pieces is finished by the next one without planning any record twice."""

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from newsetl.catalog import write_catalog
from newsetl.commit import apply_plan, pending_plans
from newsetl.discovery import DumpFile, sha256_of
from newsetl.plan import build_plan
from newsetl.rounds import plan_rounds
from newsetl.settings import Settings
from newsetl.stage import batch_key, stage_batch
from newsetl.tables import ensure_tables
from tests.conftest import catalog_rows, table_snapshot

WORDS = [
    "bank",
    "rate",
    "lira",
    "vote",
    "court",
    "army",
    "port",
    "wheat",
    "oil",
    "gas",
    "strike",
    "rally",
    "talks",
    "border",
    "trade",
    "budget",
]


def dump(records: int) -> str:
    """Distinct stories, a few exact copies of earlier ones, and one record without a title."""
    rng = random.Random(3)
    texts = [" ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(records)]
    out = []
    for no in range(records):
        text = texts[no - 7] if no % 10 == 9 else texts[no]
        title = "" if no == 31 else f"Story {(no % 10 == 9 and no - 7) or no}"
        out.append(f"{no}\nSaturday 10 September 2016 - 10:{no % 60:02d}\n\n{title}\n\n{text}\n\n")
    return "".join(out)


def stage(settings: Settings, text: str) -> str:
    path = settings.raw_dir / "site" / "big.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    batch = [DumpFile(str(path), "site/big.txt", "site", sha256_of(path), path.stat().st_size)]
    ensure_tables(settings)
    staged = settings.staging_dir / batch_key(batch, settings)
    stage_batch(batch, settings, staged)
    return str(staged)


def commit_round(settings: Settings, group: list[str], seq: int) -> None:
    plan = settings.plans_dir / f"{seq:08d}"
    build_plan(group, settings, f"run-{seq}", plan)
    apply_plan(plan, settings)
    write_catalog(settings)


@pytest.mark.parametrize("limit", [25, 60])
def test_a_dump_is_planned_in_pieces_and_resumed_after_a_crash(tmp_path: Path, limit: int) -> None:
    text = dump(60)
    whole = Settings(raw_dir=tmp_path / "whole" / "raw", out_dir=tmp_path / "whole" / "out", entities=False)
    commit_round(whole, [stage(whole, text)], 1)

    cut = Settings(raw_dir=tmp_path / "cut" / "raw", out_dir=tmp_path / "cut" / "out", entities=False)
    staged = stage(cut, text)
    rounds = plan_rounds([staged], limit)
    assert [len(r) for r in rounds] == ([1, 1, 1] if limit == 25 else [1])
    pieces = [pq.ParquetFile(Path(p) / "records.parquet").metadata.num_rows for (p,) in rounds]
    assert sum(pieces) == 59 and all(n <= limit for n in pieces)
    if limit == 25:
        # The first piece is committed; the run dies while the second is committed (its plan is left behind).
        commit_round(cut, rounds[0], 1)
        assert catalog_rows(cut.out_dir, "SELECT count(*) FROM files") == [(0,)]  # not ingested until all is in
        build_plan(rounds[1], cut, "run-2", cut.plans_dir / "00000002")
        # The next run finishes that plan, then plans only the piece left.
        (left,) = pending_plans(cut)
        apply_plan(left, cut)
        rounds = plan_rounds([staged], limit)
        assert [Path(p).name for (p,) in rounds] == ["00002"]
        commit_round(cut, rounds[0], 3)
    else:
        commit_round(cut, rounds[0], 1)
    assert table_snapshot(cut.out_dir) == table_snapshot(whole.out_dir)
    assert catalog_rows(cut.out_dir, "SELECT count(*), sum(records) FROM files") == [(1, 60)]
    assert catalog_rows(cut.out_dir, "SELECT count(*) FROM articles") == [(53,)]
    assert catalog_rows(cut.out_dir, "SELECT reason FROM quarantine") == [("no_title",)]
    assert not Path(staged).exists() and not any(cut.staging_dir.iterdir())
