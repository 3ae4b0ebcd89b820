"""Which of the workflow code's guarded changes a run takes.

A change to what a running pledge does is guarded by a Temporal patch: a run recorded before the change
replays the old path, a run after it takes the new one and records a marker where the code first asked
(``workflow.patched``). On replay the SDK answers "taken" only for a marker it has been told of, and it is
told of a workflow task's markers when that task's replay begins.

Asked lazily, a patch is first asked wherever the code first needs it, and one place is unsafe: just after a
local activity. When a query comes with a workflow task while a local activity runs (a pledger opens the
pledge's page just after submitting it), the SDK's core answers the query, records the activity's result
in that task and hands the result to the workflow only in the next task (sdk-core's ``managed_run.rs``:
"If there are pending LA resolutions, and we're responding to a query here, ... force a new task"). The
code after the activity ran in that next task and recorded its markers there; a replay hands the result
over within the first task, before it has been told of those markers, so the replay takes the old path
and fails on the marker ("Non-deprecated patch marker encountered ... but there is no corresponding change
command"). A fresh worker could then no longer run the pledge. tests/workflows/test_baseline.py has it.

So a run asks one patch, the baseline, before anything else runs: a run that takes it takes every change
the baseline lists without asking them one by one (and records one marker instead of one per change). A run
recorded before the baseline asks each change where it always did, and replays as it ran. A change made
after a baseline is asked lazily, as before, until a later baseline lists it: add that baseline at the end
of the list; the newest one a run took decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from temporalio import workflow


@dataclass(frozen=True)
class Baseline:
    patch_id: str  # the marker a run records when it takes this baseline
    changes: frozenset[str]  # the patches it takes with it


class Changes:
    """The changes this run takes: those of the newest baseline it took, and any other asked lazily."""

    def __init__(self, baselines: Sequence[Baseline]) -> None:
        """Ask the baselines, newest first; only from the workflow's first activation (its ``__init__``)."""
        self._taken: frozenset[str] = frozenset()
        for baseline in reversed(baselines):
            if workflow.patched(baseline.patch_id):
                self._taken = baseline.changes
                break

    def taken(self, patch_id: str) -> bool:
        """Whether the run takes the change guarded by ``patch_id`` (a patch of a baseline, or asked now)."""
        return patch_id in self._taken or workflow.patched(patch_id)
