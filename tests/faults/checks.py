"""What a fault run must show, per pledge, once every pledge's workflow has ended.

- **Final status**: the API's answer for the pledge (its workflow's query) and its registry row say the
  status and closure reason the acknowledged actions lead to, and every acknowledged action left its event on
  the (registry's whole) timeline exactly once (no acknowledged action lost, none applied twice).
- **Same answer on retry**: an acknowledged action sent again with its Idempotency-Key is answered as the
  first time (not refused as if it were a second action).
- **Emails exactly once**: every email any run of the workflow asked for (its ``send_email`` activities, read
  from the recorded histories) reached the SMTP sink exactly once, found by its Message-ID (derived from the
  business key with the run's secret); no Message-ID arrived twice; nothing arrived that no workflow asked for.
  The one exception the send ledger owns up to (docs/email.md, "The window that remains"): a worker killed
  between an email's claim and the hand-over of its bytes to the socket strands it, never sent again by
  itself. Such an email counts as stranded, not lost, only if the ledger says ``unconfirmed`` and the staff
  timeline says it was not confirmed; and a kill strands one message at most, so more stranded emails than
  worker kills is a failure.
- **Timeline**: the workflow's timeline equals the registry's (``TimelineEntry``) entry for entry; a workflow
  that keeps only its recent entries must match the registry's newest ones.
- **Ladder behind its mail**: no pledge's reminder, final notice, non-reporting or delisting email reaches the
  server before its report request did.
- **Replay**: every run's history replays with the current code (the same workers and runner as
  tests/workflows/test_replay.py).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.email_render import message_id
from pledgeflow.core import db
from pledgeflow.core.models import Pledge, TimelineEntry
from pledgeflow.temporal.worker import workflow_runner
from tests.faults.driver import Lifecycle
from tests.faults.stack import Stack, read_mail
from workflows.emails import EmailRequest
from workflows.pledge import PledgeWorkflow

MAIL_DOMAIN = "pledgeflow.localhost"  # of PLEDGEFLOW_MAIL_FROM's default, which the run keeps


@dataclass
class Findings:
    """Each list names the pledges (and what) that broke a promise; empty lists are a clean run."""

    not_ended: list[str] = field(default_factory=list)
    lifecycle_failures: list[str] = field(default_factory=list)
    wrong_final_state: list[str] = field(default_factory=list)
    lost_actions: list[str] = field(default_factory=list)
    actions_applied_twice: list[str] = field(default_factory=list)
    answer_changed_on_retry: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    emails_lost: list[str] = field(default_factory=list)
    emails_stranded_beyond_kills: list[str] = field(default_factory=list)
    emails_duplicated: list[str] = field(default_factory=list)
    emails_unexpected: list[str] = field(default_factory=list)
    timeline_mismatches: list[str] = field(default_factory=list)
    ladder_ahead_of_mail: list[str] = field(default_factory=list)
    said_sent_not_arrived: list[str] = field(default_factory=list)
    replay_failures: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # Not a problem by itself (see the module's docstring): emails a killed worker stranded, said unconfirmed.
    stranded: dict[str, str] = field(default_factory=dict)  # Message-ID: business key

    def problems(self) -> dict[str, list[str]]:
        return {name: value for name, value in vars(self).items() if isinstance(value, list) and value}


async def wait_until_ended(client: Client, pledge_ids: list[str], timeout: float) -> list[str]:
    """Wait for every pledge's workflow to end; the ids still running when ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    running = list(pledge_ids)
    while running and time.monotonic() < deadline:
        still = []
        for pledge_id in running:
            description = await client.get_workflow_handle(f"pledge-{pledge_id}").describe()
            if description.status == WorkflowExecutionStatus.RUNNING:
                still.append(pledge_id)
        running = still
        if running:
            await asyncio.sleep(2.0)
    return running


async def histories(client: Client, pledge_id: str) -> list[WorkflowHistory]:
    """Every run of the pledge's workflow, oldest first."""
    runs = [run async for run in client.list_workflows(f"WorkflowId = 'pledge-{pledge_id}'")]
    runs.sort(key=lambda run: run.start_time)
    return [await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history() for run in runs]


def asked_emails(history: WorkflowHistory) -> list[EmailRequest]:
    converter = pydantic_data_converter.payload_converter
    asked = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        attributes = event.activity_task_scheduled_event_attributes
        if attributes.activity_type.name == "send_email":
            [request] = converter.from_payloads(list(attributes.input.payloads), [EmailRequest])
            asked.append(request)
    return asked


async def check(
    stack: Stack, lifecycles: list[Lifecycle], server_errors: list[str], timeout: float, worker_kills: int
) -> Findings:
    assert stack.client is not None
    findings = Findings(server_errors=list(server_errors))
    started = [lc for lc in lifecycles if lc.pledge_id]
    findings.lifecycle_failures = [f"{lc.pledge_id or lc.number}: {lc.failure}" for lc in lifecycles if lc.failure]
    findings.not_ended = await wait_until_ended(stack.client, [lc.pledge_id for lc in started], timeout)

    secret = stack.secret_key.encode()
    arrived = Counter(line["message_id"] for line in read_mail(stack.mail_record))
    expected: dict[str, str] = {}
    replayer = Replayer(
        workflows=[PledgeWorkflow], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    runs = 0
    async with httpx.AsyncClient(base_url=stack.api, timeout=30) as http:
        for lifecycle in started:
            pledge_id = lifecycle.pledge_id
            asked: dict[str, EmailRequest] = {}  # by Message-ID
            for number, history in enumerate(await histories(stack.client, pledge_id), start=1):
                runs += 1
                result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
                if result.replay_failure is not None:
                    findings.replay_failures.append(f"{pledge_id} run {number}: {result.replay_failure}")
                for request in asked_emails(history):
                    mid = message_id(secret, request.business_key, MAIL_DOMAIN)
                    expected[mid] = request.business_key
                    asked[mid] = request
            state = await _state(http, stack, pledge_id)
            registry = await asyncio.to_thread(_registry, stack, pledge_id)
            _check_lifecycle(findings, lifecycle, state, [entry.kind for entry in registry[1]])
            _check_timeline(findings, pledge_id, state, registry)
            arrived_here = [request for mid, request in asked.items() if arrived[mid]]
            findings.said_sent_not_arrived += _said_sent_not_arrived(pledge_id, registry[1], arrived_here)
            not_arrived = {mid: request for mid, request in asked.items() if not arrived[mid]}
            stranded, lost = await _stranded(stack, registry[1], not_arrived)
            findings.stranded |= stranded
            findings.emails_lost += lost.values()

    for mid, key in expected.items():
        if arrived[mid] > 1:
            findings.emails_duplicated.append(f"{key} ({arrived[mid]} copies, {mid})")
    findings.emails_unexpected = [f"{mid} ({n})" for mid, n in arrived.items() if mid not in expected]
    if len(findings.stranded) > worker_kills:
        findings.emails_stranded_beyond_kills = [
            f"{key}: stranded unconfirmed, one of {len(findings.stranded)} with {worker_kills} worker kills"
            for key in findings.stranded.values()
        ]
    findings.ladder_ahead_of_mail = _ladder_ahead_of_mail(read_mail(stack.mail_record))
    actions = [action for lc in lifecycles for action in lc.actions]
    findings.counts = {
        "lifecycles": len(lifecycles),
        "workflow_runs": runs,
        "actions_acknowledged": sum(action.acknowledged for action in actions),
        "action_attempts": sum(action.attempts for action in actions),
        "actions_repeated": sum(action.repeat_status is not None for action in actions),
        "emails_expected": len(expected),
        "emails_at_sink": sum(arrived.values()),
        "emails_stranded_unconfirmed": len(findings.stranded),
    }
    return findings


def _what(request: EmailRequest) -> tuple[str, str]:
    """The email's kind and recipient role as the timeline names them ("reminder 2", "backup contact")."""
    return request.kind.value.replace("_", " "), request.recipient.role.replace("_", " ")


UNCONFIRMED_SAID = re.compile(r"Email (?P<kind>.+) to (?P<role>.+) handed to the mail server, not confirmed: .+")


async def _stranded(
    stack: Stack, entries: list[TimelineEntry], not_arrived: dict[str, EmailRequest]
) -> tuple[dict[str, str], dict[str, str]]:
    """Of the pledge's emails that never reached the sink, those the ledger calls ``unconfirmed`` and the
    staff timeline says were not confirmed (stranded by a killed worker, owned up to, not silently lost), and
    for the others what the ledger and the timeline said, for the failure's message (Message-ID: business key)."""
    told: Counter[tuple[str, str]] = Counter()
    for entry in entries:
        found = UNCONFIRMED_SAID.fullmatch(entry.message) if entry.kind == "email_unconfirmed" else None
        if found is not None and not entry.public:
            told[(found["kind"], found["role"])] += 1
    stranded, lost = {}, {}
    for mid, request in not_arrived.items():
        what = _what(request)
        state = await asyncio.to_thread(stack.ledger_state, mid)
        if told[what] and state == "unconfirmed":
            told[what] -= 1
            stranded[mid] = request.business_key
        else:
            timeline = "the timeline says not confirmed" if told[what] else "nothing on the timeline"
            lost[mid] = f"{request.business_key} (ledger {state}, {timeline})"
    return stranded, lost


LADDER_AFTER_REQUEST = {"reminder_1", "reminder_2", "final_notice", "non_reporting", "delisted"}


def _ladder_ahead_of_mail(mail: list[dict[str, Any]]) -> list[str]:
    """Pledges told of a later step (a reminder, the final notice, non-reporting, delisting) before their
    report request reached the server: the ladder ran on while the mail that should warn them was stuck."""
    requested: set[str] = set()
    ahead: dict[str, str] = {}
    for line in mail:
        if line["kind"] in {"report_request", "final_report_request"}:
            requested.add(line["pledge"])
        elif line["kind"] in LADDER_AFTER_REQUEST and line["pledge"] not in requested:
            ahead.setdefault(line["pledge"], line["kind"])
    return [f"{pledge}: {kind} arrived before any report request" for pledge, kind in ahead.items()]


SAID_SENT = re.compile(r"Email (?P<kind>.+) to (?P<role>.+) sent\.")


def _said_sent_not_arrived(pledge_id: str, entries: list[TimelineEntry], arrived: list[EmailRequest]) -> list[str]:
    """Timeline lines saying an email was sent ("Email reminder 2 to backup contact sent.") with no such
    message at the sink: the timeline must say queued until the server took the mail."""
    took = {_what(request) for request in arrived}
    untrue = []
    for entry in entries:
        found = SAID_SENT.fullmatch(entry.message) if entry.kind == "email_sent" else None
        if entry.kind == "email_sent" and (found is None or (found["kind"], found["role"]) not in took):
            untrue.append(f"{pledge_id}: {entry.message!r} but no such message arrived")
    return untrue


async def _state(http: httpx.AsyncClient, stack: Stack, pledge_id: str) -> dict[str, Any]:
    for _ in range(30):
        response = await http.get(
            f"/api/v1/pledges/{pledge_id}", headers={"Authorization": f"Bearer {stack.staff_key}"}
        )
        if response.status_code == 200:
            answer: dict[str, Any] = response.json()
            return answer
        await asyncio.sleep(1.0)
    raise RuntimeError(f"GET /api/v1/pledges/{pledge_id} answered {response.status_code}: {response.text}")


def _registry(stack: Stack, pledge_id: str) -> tuple[Pledge | None, list[TimelineEntry]]:
    with db.session_for(stack.database_url) as session:
        row = session.get(Pledge, pledge_id)
        entries = session.exec(
            select(TimelineEntry).where(TimelineEntry.pledge_id == pledge_id).order_by(TimelineEntry.seq)  # type: ignore[arg-type]
        ).all()
        return row, list(entries)


def _check_lifecycle(findings: Findings, lifecycle: Lifecycle, state: dict[str, Any], kinds: list[str]) -> None:
    """``kinds``: the registry's whole timeline (the workflow may keep only its recent entries)."""
    pledge_id = lifecycle.pledge_id
    status, reason, events = lifecycle.expected()
    if lifecycle.failure:
        return  # reported as a lifecycle failure; its expected end is unknown
    if (state["status"], state.get("closure_reason")) != (status, reason):
        findings.wrong_final_state.append(
            f"{pledge_id} ({lifecycle.plan}): {state['status']}/{state.get('closure_reason')}, "
            f"expected {status}/{reason}"
        )
    seen = Counter(kinds)
    for kind, count in events.items():
        if seen[kind] < count:
            findings.lost_actions.append(f"{pledge_id}: no {kind} on the timeline")
        elif seen[kind] > count:
            findings.actions_applied_twice.append(f"{pledge_id}: {kind} {seen[kind]} times")
    for action in lifecycle.actions:
        if action.answer_changed:
            findings.answer_changed_on_retry.append(
                f"{pledge_id} {action.name}: {action.status}, then {action.repeat_status} with the same key"
            )


def _check_timeline(
    findings: Findings, pledge_id: str, state: dict[str, Any], registry: tuple[Pledge | None, list[TimelineEntry]]
) -> None:
    row, entries = registry
    if row is None:
        findings.timeline_mismatches.append(f"{pledge_id}: no registry row")
        return
    if (row.status, row.closure_reason) != (state["status"], state.get("closure_reason")):
        findings.timeline_mismatches.append(
            f"{pledge_id}: registry says {row.status}/{row.closure_reason}, "
            f"workflow {state['status']}/{state.get('closure_reason')}"
        )
    ours = [(e["seq"], e["kind"], e["status"], e["message"], e["public"]) for e in state["timeline"]]
    theirs = [(e.seq, e.kind, e.status, e.message, e.public) for e in entries]
    if not ours or theirs[-len(ours) :] != ours:
        missing = [entry for entry in ours if entry not in theirs]
        extra = [entry for entry in theirs[-len(ours) :] if entry not in ours]
        findings.timeline_mismatches.append(f"{pledge_id}: workflow only {missing}, registry only {extra}")
