"""What an operator sees of a running pledge in the Temporal UI and in visibility queries: the pledge's search
attributes and its current details, kept equal to the state."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.ladder import format_utc
    from workflows.search_attributes import COUNTRIES, KEYS, MISSED_CYCLES, NEXT_DEADLINE, ORGANIZATION, SDGS, STATUS
    from workflows.state import PledgeState


class OperatorView:
    def __init__(self, state: PledgeState) -> None:
        self._state = state
        # What this run already shows (set at start, or carried by continue-as-new): only changes are upserted.
        self._shown: dict[str, Any] = {pair.key.name: pair.value for pair in workflow.info().typed_search_attributes}

    def refresh(self) -> None:
        state = self._state
        submission = state.submission
        wanted: dict[str, Any] = {
            STATUS.name: state.status.value,
            ORGANIZATION.name: submission.organization.name,
            NEXT_DEADLINE.name: state.next_deadline,
            MISSED_CYCLES.name: state.missed_cycles,
            SDGS.name: [str(sdg) for sdg in submission.sdgs],
            COUNTRIES.name: list(submission.countries),
        }
        updates = []
        for key in KEYS:
            value = wanted[key.name]
            if self._shown.get(key.name) == value:
                continue
            updates.append(key.value_unset() if value is None else key.value_set(value))
            self._shown[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
        self.show_details()

    def show_email(self) -> None:
        """A settled email: the ``last_email`` memo (a command in history) and the current details."""
        workflow.upsert_memo({"last_email": self._state.last_email})
        self.show_details()

    def show_details(self) -> None:
        """The current details (no command in history, so a run shows them from its first task on)."""
        state = self._state
        deadline = f" on {format_utc(state.next_deadline)}" if state.next_deadline else ""
        workflow.set_current_details(
            f"**{state.status.value}** (cycle {state.cycle})  \n"
            f"next: {state.next_step or 'nothing'}{deadline}  \n"
            f"last email: {state.last_email or 'none yet'}  \n"
            # The title is the first run's summary; Temporal carries no summary into a continued run, so every
            # run shows it here (README, "The pledges in the Temporal UI").
            f"pledge: {state.submission.title}"
        )
