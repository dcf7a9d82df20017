"""Load: the stages that commit a run's plans to the tables, and finish the plans an interrupted run left
(newsetl/commit.py)."""

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from newsetl.commit import apply_plan, discard_plan, pending_plans, read_plan
from newsetl.errors import retries
from newsetl.settings import Settings
from newsetl.tables import (
    committed_seq,
    open_table,
)


@task(name="commit-plan", **retries(1, 5, 20))
def commit_plan(plan_dir: str, settings: Settings) -> dict[str, Any]:
    """Commit the run's plan to the tables; returns the plan's counts."""
    plan = read_plan(Path(plan_dir))
    tables = apply_plan(Path(plan_dir), settings)
    names = ", ".join(tables) or "no table (all were in)"
    get_run_logger().info("committed plan %d to %s", plan["seq"], names)
    return plan


@task(name="recover-pending", **retries(1, 5, 20))
def recover_pending(settings: Settings) -> int:
    """Finish the commit of plans an interrupted run left behind; returns how many were finished."""
    finished = 0
    committed = committed_seq(open_table(settings, "files"))
    for plan_dir in pending_plans(settings):
        if read_plan(plan_dir)["seq"] <= committed:
            discard_plan(plan_dir, settings)
            continue
        apply_plan(plan_dir, settings)
        finished += 1
    get_run_logger().info("finished %d plan(s) left by an interrupted run", finished)
    return finished
