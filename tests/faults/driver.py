"""The seeded scenario driver: pledge lifecycles through the real HTTP API, as careful clients would drive them.

Each lifecycle is a plan drawn from ``random.Random(seed)``: submit, then reject; or approve and withdraw;
or request changes, revise, approve and withdraw; or approve and have an operator remove it; or approve, wait
for the report request email at the SMTP sink, report (through the API with the email's report link, or by
replying to the email through the inbound webhook) and withdraw. Every plan ends the pledge, so its final
status and its timeline are known from the actions the API acknowledged.

Every action carries an Idempotency-Key and is sent again with the same key while the answer is a 503, a 202
(accepted, answer pending) or no answer at all (the API restarted mid-request), as docs/api.md tells clients
to. Some acknowledged actions are sent once more, as a client does whose answer was lost: the promise is the
same answer, applied once.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx

from tests.factories import report_data, submission_data
from tests.faults.stack import Stack, read_mail

RETRIED = {202, 503}
ACTION_DEADLINE = 300.0  # how long a client keeps retrying one action before it gives up
PLANS = ("reject", "withdraw", "revise", "remove", "report")
REPORT_LINK = re.compile(r"/pledges/(PF-[A-Z0-9]+)/report\?token=([A-Za-z0-9_.\-]+)")


@dataclass
class Action:
    """One action as the client saw it: its final answer, how often it was sent, what a repeat answered."""

    pledge: str
    name: str
    status: int = 0
    attempts: int = 0
    repeat_status: int | None = None
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        """A submission's 202 is its answer; an action's 202 only says "accepted, ask again"."""
        return 200 <= self.status < 300 and (self.status != 202 or self.name == "submit")

    @property
    def answer_changed(self) -> bool:
        return self.repeat_status is not None and self.repeat_status != self.status


@dataclass
class Lifecycle:
    number: int
    plan: str
    reply_by_email: bool
    pledge_id: str = ""
    manage_token: str = ""
    actions: list[Action] = field(default_factory=list)
    failure: str = ""

    def expected(self) -> tuple[str, str | None, dict[str, int]]:
        """Final status, closure reason and the timeline events each acknowledged action must leave once."""
        events = {"submitted": 1}
        done = {action.name for action in self.actions if action.acknowledged}
        for name, event in [
            ("approve", "approved"), ("reject", "rejected"), ("request_changes", "changes_requested"),
            ("revise", "revised"), ("withdraw", "withdrawn"), ("remove", "removed"), ("report", "report_received"),
        ]:  # fmt: skip
            if name in done:
                events[event] = 1
        reason = {"reject": "rejected", "remove": "removed"}.get(self.plan, "withdrawn")
        return "closed", reason, events


class Driver:
    def __init__(self, stack: Stack, seed: int, repeat_share: float = 0.3) -> None:
        self.stack = stack
        self.rng = random.Random(seed)
        self.repeat_share = repeat_share
        self.http = httpx.AsyncClient(base_url=stack.api, timeout=httpx.Timeout(30.0))
        self.transport_errors = 0
        self.server_errors: list[str] = []

    async def close(self) -> None:
        await self.http.aclose()

    def plan(self, count: int) -> list[Lifecycle]:
        return [Lifecycle(number, self.rng.choice(PLANS), self.rng.random() < 0.5) for number in range(count)]

    async def run(self, lifecycles: list[Lifecycle], spread: float) -> None:
        """Start the lifecycles spread over ``spread`` seconds and run them to their end, concurrently."""
        starts = sorted(self.rng.uniform(0, spread) for _ in lifecycles)
        pauses = {lc.number: [self.rng.uniform(0.2, 4.0) for _ in range(6)] for lc in lifecycles}
        await asyncio.gather(
            *(self._live(lc, start, pauses[lc.number]) for lc, start in zip(lifecycles, starts, strict=True))
        )

    async def _live(self, lifecycle: Lifecycle, start: float, pauses: list[float]) -> None:
        await asyncio.sleep(start)
        try:
            await self._submit(lifecycle)
            staff = {"Authorization": f"Bearer {self.stack.staff_key}"}
            if lifecycle.plan == "reject":
                await self._act(lifecycle, "reject", "POST", "decisions", staff,
                                {"decision": "reject", "note": "Outside the registry's scope."})  # fmt: skip
                return
            if lifecycle.plan == "revise":
                changes = {"decision": "request_changes", "note": "Please name the partners' roles."}
                await self._act(lifecycle, "request_changes", "POST", "decisions", staff, changes)
                await asyncio.sleep(pauses[0])
                revision = submission_data(**self._submission_fields(lifecycle.number, revised=True))
                await self._act(lifecycle, "revise", "PUT", "submission", self._pledger(lifecycle), revision,
                                {"If-Match": "*"})  # fmt: skip
            await asyncio.sleep(pauses[1])
            await self._act(lifecycle, "approve", "POST", "decisions", staff, {"decision": "approve", "note": ""})
            await asyncio.sleep(pauses[2])
            if lifecycle.plan == "remove":
                await self._act(
                    lifecycle, "remove", "POST", "closure", staff, {"reason": "Duplicate of another pledge."}
                )
                return
            if lifecycle.plan == "report":
                await self._report(lifecycle)
                await asyncio.sleep(pauses[3])
            await self._act(lifecycle, "withdraw", "POST", "withdrawal", self._pledger(lifecycle),
                            {"reason": "Our board ended the programme."})  # fmt: skip
        except LifecycleFailed as exc:
            lifecycle.failure = str(exc)

    def _pledger(self, lifecycle: Lifecycle) -> dict[str, str]:
        return {"Authorization": f"Bearer {lifecycle.manage_token}"}

    @staticmethod
    def _submission_fields(number: int, revised: bool = False) -> dict[str, Any]:
        return {
            "title": f"Fault suite pledge {number}: connecting rural schools" + (" (revised)" if revised else ""),
            "focal_point": {"name": "Amina Otieno", "email": f"focal{number}@faults.example", "position": "Director"},
            "resources": {"financial_usd": 100_000, "funding_sources": ["foundation"], "in_kind": []},
        }

    async def _submit(self, lifecycle: Lifecycle) -> None:
        action = Action("", "submit")
        lifecycle.actions.append(action)
        body = submission_data(**self._submission_fields(lifecycle.number))
        answer = await self._send(action, "POST", "/api/v1/pledges", {}, body, str(uuid.uuid4()))
        if not action.acknowledged:
            raise LifecycleFailed(f"submission answered {action.status}")
        lifecycle.pledge_id = action.pledge = answer["id"]
        lifecycle.manage_token = answer["manage_token"]

    async def _act(
        self, lifecycle: Lifecycle, name: str, method: str, path: str, headers: dict[str, str],
        body: dict[str, Any], extra: dict[str, str] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        action = Action(lifecycle.pledge_id, name)
        lifecycle.actions.append(action)
        url = f"/api/v1/pledges/{lifecycle.pledge_id}/{path}"
        answer = await self._send(action, method, url, {**headers, **(extra or {})}, body, str(uuid.uuid4()))
        if not action.acknowledged:
            raise LifecycleFailed(f"{name} answered {action.status}: {answer.get('detail', '')}")
        return answer

    async def _send(
        self, action: Action, method: str, url: str, headers: dict[str, str], body: dict[str, Any], key: str
    ) -> dict[str, Any]:
        """Until a final answer: the same request with the same Idempotency-Key; then maybe once more."""
        headers = {**headers, "Idempotency-Key": key}
        deadline = time.monotonic() + ACTION_DEADLINE
        answer: dict[str, Any] = {}
        while time.monotonic() < deadline:
            action.attempts += 1
            try:
                response = await self.http.request(method, url, headers=headers, json=body)
            except httpx.TransportError:
                self.transport_errors += 1
                await asyncio.sleep(1.0)
                continue
            action.status = response.status_code
            answer = _answer(response)
            if response.status_code >= 500 and response.status_code != 503:
                # A bug to report, and what a careful client does next: the same request, same key.
                self.server_errors.append(f"{action.name} {action.pledge}: {response.status_code} {answer}")
                await asyncio.sleep(1.0)
                continue
            if response.status_code not in RETRIED or action.acknowledged:
                break
            await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 5.0))
        action.body = answer
        if action.acknowledged and self.rng.random() < self.repeat_share:
            action.repeat_status = await self._repeat(action, method, url, headers, body)
        return answer

    async def _repeat(
        self, action: Action, method: str, url: str, headers: dict[str, str], body: dict[str, Any]
    ) -> int | None:
        """The request again, as from a client whose answer was lost; its final answer."""
        for _ in range(60):
            try:
                response = await self.http.request(method, url, headers=headers, json=body)
            except httpx.TransportError:
                await asyncio.sleep(1.0)
                continue
            if response.status_code not in RETRIED or response.status_code == action.status:
                return response.status_code
            await asyncio.sleep(1.0)
        return None

    async def _report(self, lifecycle: Lifecycle) -> None:
        request = await self._report_request(lifecycle.pledge_id)
        if lifecycle.reply_by_email:
            await self._reply(lifecycle, request)
            return
        text = _text(request)
        link = REPORT_LINK.search(text)
        if link is None:
            raise LifecycleFailed("the report request email carries no report link")
        report = report_data(
            narrative=f"Pledge {lifecycle.number}: we connected 230 schools and trained 1,100 teachers."
        )
        await self._act(lifecycle, "report", "POST", "reports", {"Authorization": f"Bearer {link.group(2)}"}, report)

    async def _report_request(self, pledge_id: str, timeout: float = 600.0) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in await asyncio.to_thread(read_mail, self.stack.mail_record):
                if line["pledge"] == pledge_id and line["kind"] == "report_request":
                    message = email.message_from_string(line["raw"], policy=email.policy.default)
                    return message  # type: ignore[return-value]
            await asyncio.sleep(1.0)
        raise LifecycleFailed("no report request email arrived")

    async def _reply(self, lifecycle: Lifecycle, request: EmailMessage) -> None:
        reply = EmailMessage()
        reply["From"] = f"Amina Otieno <focal{lifecycle.number}@faults.example>"
        reply["To"] = str(request["Reply-To"])
        reply["Subject"] = f"Re: {request['Subject']}"
        reply["Message-ID"] = f"<reply-{uuid.uuid4().hex}@faults.example>"
        reply["In-Reply-To"] = str(request["Message-ID"])
        reply.set_content(
            f"Pledge {lifecycle.number}: we connected 230 schools this year and trained 1,100 teachers in digital\n"
            "skills. The Ministry of ICT joined as a partner in March.\n\nBest,\nAmina\n"
        )
        action = Action(lifecycle.pledge_id, "report")
        lifecycle.actions.append(action)
        headers = {"X-Pledgeflow-Secret": self.stack.webhook_secret, "Content-Type": "message/rfc822"}
        deadline = time.monotonic() + ACTION_DEADLINE
        while time.monotonic() < deadline:
            action.attempts += 1
            try:
                response = await self.http.post("/api/v1/inbound/email", headers=headers, content=reply.as_bytes())
            except httpx.TransportError:
                self.transport_errors += 1
                await asyncio.sleep(1.0)
                continue
            action.status = response.status_code
            action.body = _answer(response)
            if response.status_code >= 500 and response.status_code != 503:
                self.server_errors.append(f"reply {lifecycle.pledge_id}: {action.status} {action.body}")
            elif response.status_code not in RETRIED:
                break
            await asyncio.sleep(1.0)
        if not action.acknowledged:
            raise LifecycleFailed(f"the emailed report answered {action.status}: {action.body}")


class LifecycleFailed(Exception):
    """The API refused or never answered an action this lifecycle needed; the pledge stops there."""


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON body, or what a body that is not JSON (a bare 500) says."""
    try:
        body = response.json() if response.content else {}
    except ValueError:
        return {"detail": response.text[:300]}
    return body if isinstance(body, dict) else {"body": body}


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""
