"""A dump larger than NEWSETL_PLAN_RECORDS is planned in pieces, one round each: the same tables as one round,
and a run that dies between pieces is finished by the next one without planning any record twice."""

import random
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from newsetl.commit import apply_plan, pending_plans
from newsetl.plan import build_plan
from newsetl.rounds import plan_rounds
from newsetl.settings import Settings
from newsetl.stage import stage_batch
from tests.conftest import catalog_rows, plan_and_commit, stage_batches, table_snapshot, write_dumps

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
    (staged,) = stage_batches(settings, [write_dumps(settings, {"site/big.txt": text})])
    return staged


def commit_round(settings: Settings, group: list[str], seq: int) -> None:
    plan_and_commit(settings, group, seq, catalog=True)


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


def test_a_plan_stages_again_only_the_records_it_wants(tmp_path: Path) -> None:
    settings = Settings(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out", entities=False)
    (f,) = write_dumps(settings, {"a.txt": dump(12)})
    whole, some = tmp_path / "whole", tmp_path / "some"
    stage_batch([f], settings, whole)
    stage_batch([f], settings, some, only={f.source_file: {2: None, 5: None}})
    picked = pq.read_table(some / "records.parquet").to_pylist()
    assert [r["record_no"] for r in picked] == [2, 5]
    rows = {r["record_no"]: r for r in pq.read_table(whole / "records.parquet").to_pylist()}
    assert picked == [rows[2], rows[5]]  # staged as they were the first time
    # Read from where the first staging found them, or (an offset where no record starts) from the start.
    inside, past = rows[3]["record_offset"] - 10, Path(f.path).stat().st_size
    for offsets in ({2: rows[2]["record_offset"], 5: rows[5]["record_offset"]}, {2: inside, 5: past}):
        shutil.rmtree(some)
        stage_batch([f], settings, some, only={f.source_file: offsets})
        assert pq.read_table(some / "records.parquet").to_pylist() == [rows[2], rows[5]]
