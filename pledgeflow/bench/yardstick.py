"""The yardstick: the least a workflow can do on the same server and worker set-up as a pledge.

Kept free of Pledgeflow imports, because the workflow sandbox imports this module again for each run.
"""

from __future__ import annotations

import datetime as dt

from temporalio import activity, workflow

YARDSTICK_QUEUE = "bench-yardstick"


@activity.defn
def touch(n: int) -> int:
    """One sync activity on the same thread pool as the registry's projection."""
    return n


@workflow.defn
class NoOpWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        return n


@workflow.defn
class OneActivityWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        return await workflow.execute_activity(touch, n, start_to_close_timeout=dt.timedelta(seconds=60))
