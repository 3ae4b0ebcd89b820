"""The fleet as Temporal visibility sees it: one row per pledge, from its current run.

A pledge continues as new at every reporting cycle, so its workflow id has one run per cycle; the runs before
the current one are ``ContinuedAsNew`` and still say the status they had then. An open pledge's current run is
the one ``Running``; a closed pledge's is its last, which ended (``Completed``). The queries here match only
those, so no stale run shows as a ghost row (README, "The pledges in the Temporal UI").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from workflows.search_attributes import MISSED_CYCLES, NEXT_DEADLINE, ORGANIZATION, STATUS
from workflows.state import WORKFLOW_TYPE, PledgeStatus, workflow_id

FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class FleetRow:
    pledge_id: str
    status: str
    next_deadline: dt.datetime | None
    missed_cycles: int
    organization: str

    def as_json(self) -> dict[str, Any]:
        deadline = self.next_deadline.isoformat() if self.next_deadline else None
        return {
            "id": self.pledge_id,
            "status": self.status,
            "next_deadline": deadline,
            "missed_cycles": self.missed_cycles,
            "organization": self.organization,
        }


def current_runs_query(
    task_queue: str, status: PledgeStatus | None = None, due_before: dt.datetime | None = None
) -> str:
    """This deployment's pledges, one run each: the running one, or with ``status`` closed the last one."""
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND TaskQueue = '{task_queue}'"
    if status == PledgeStatus.closed:
        query += f" AND ExecutionStatus != 'ContinuedAsNew' AND {STATUS.name} = '{status.value}'"
    else:
        query += " AND ExecutionStatus = 'Running'"
        if status is not None:
            query += f" AND {STATUS.name} = '{status.value}'"
    if due_before is not None:
        moment = due_before.replace(tzinfo=due_before.tzinfo or dt.UTC)
        query += f" AND {NEXT_DEADLINE.name} < '{moment.isoformat()}'"
    return query


async def rows(client: Client, query: str, limit: int) -> list[FleetRow]:
    found = []
    async for execution in client.list_workflows(query, limit=limit):
        attributes = execution.typed_search_attributes
        found.append(
            FleetRow(
                pledge_id=execution.id.removeprefix(workflow_id("")),
                status=attributes.get(STATUS) or "",
                next_deadline=attributes.get(NEXT_DEADLINE),
                missed_cycles=attributes.get(MISSED_CYCLES) or 0,
                organization=attributes.get(ORGANIZATION) or "",
            )
        )
    return found


def sorted_rows(found: list[FleetRow], key: str) -> list[FleetRow]:
    """By ``key`` (deadline: soonest first, none last; missed: most first), then by pledge id."""
    orders: dict[str, Any] = {
        "deadline": lambda row: (row.next_deadline or FAR_FUTURE, row.pledge_id),
        "status": lambda row: (list(PledgeStatus).index(PledgeStatus(row.status)) if row.status else 99, row.pledge_id),
        "missed": lambda row: (-row.missed_cycles, row.pledge_id),
        "organization": lambda row: (row.organization.casefold(), row.pledge_id),
        "id": lambda row: row.pledge_id,
    }
    return sorted(found, key=orders[key])
