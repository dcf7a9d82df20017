"""One writer per output directory: a second run waits, then gives up with a message."""

from pathlib import Path

import pytest

from newsetl.runlog import RunLocked, run_lock
from newsetl.settings import Settings


def test_a_second_run_on_the_same_output_is_refused(tmp_path: Path) -> None:
    settings = Settings(out_dir=tmp_path, lock_timeout=0.5)
    with run_lock(settings), pytest.raises(RunLocked, match="another newsetl run"), run_lock(settings):
        pass
    with run_lock(settings):  # released: the next run goes ahead
        pass


def test_runs_on_different_outputs_do_not_wait(tmp_path: Path) -> None:
    with run_lock(Settings(out_dir=tmp_path / "a", lock_timeout=0)), run_lock(Settings(out_dir=tmp_path / "b")):
        pass
