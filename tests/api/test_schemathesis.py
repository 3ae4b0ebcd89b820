"""schemathesis over the whole OpenAPI document of the real app: no 5xx, no response the schema contradicts.

Every operation in the document is fuzzed (schema examples, the coverage phase's edge and negative cases,
then seeded random fuzzing) through the ASGI app with real settings: the session's Temporal dev server with
this module's workers, and a real registry, once on SQLite and once on PostgreSQL. Each response must be a
non-5xx with a documented status code, a declared content type, a body matching the response schema and
the declared headers.

Reaching past authentication: each case is sent as one of ``CALLERS``, chosen from a hash of the case
itself, so the same case always goes out the same way (a failure reproduces and shrinks):
- ``as_generated``: whatever schemathesis made of the bearer header (none, junk) — the 401 paths;
- ``owner``: the manage token of a real pledge, with the path's ``pledge_id`` set to that pledge — the
  pledger's reads and actions (revise, report, extension request, withdrawal) reach the workflow;
- ``other_pledge``: a real pledge's id with another pledge's manage token — the 403 paths;
- ``admin``, ``vetter``, ``operator``: staff keys, with a real pledge's id — the review queue, decisions,
  extensions, refusals and closure reach the workflow, and the wrong roles meet 403;
- the inbound webhook gets the configured shared secret, and ``/metrics`` the scraper's token, under every
  caller but ``as_generated``.
Real pledges come from a pool submitted for each operation's test (one in review, one with changes
requested, one published), so an action that closes a pledge does not leave every later test a 409. Some
cases of the submission, revision and report operations carry a realistic body instead of the generated
one (random bodies almost never pass the submission's cross-field rules), so their success paths run too.
After each operation's test, an operation that needs credentials must have answered something other than
401/403 at least once.

Not reached: a report token from an emailed link (tests/api/test_authorization.py covers it), a pledge in
report_due (its reporting year is days even in the demo policy; tests/workflows cover reports on the
time-skipping server), an inbound reply that counts (it needs a reply+TOKEN@ address: tests/inbound), and
a captured mail under /dev/mail/{id} (the mailbox is empty here: those cases are 404 or 422).
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from pledgeflow.auth.staff_keys import Role
from pledgeflow.core.settings import Settings
from tests.api.conftest import bearer, make_staff
from tests.conftest import METRICS_TOKEN, SmtpSink, make_settings, run_workers
from tests.factories import report_data, submission_data
from workflows.state import workflow_id

T = TypeVar("T")

INBOUND_SECRET = "schemathesis-inbound-secret"
CALLERS = ("as_generated", "owner", "other_pledge", "admin", "vetter", "operator")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
SUBMIT = "POST /api/v1/pledges"
REALISTIC_BODY = {
    SUBMIT: submission_data,
    "PUT /api/v1/pledges/{pledge_id}/submission": submission_data,
    "POST /api/v1/pledges/{pledge_id}/reports": report_data,
}

# The document is the same for any settings but dev_mode (which adds /dev/mail): the app under test runs in
# dev mode, and the fixture checks that its document is this one.
DOCUMENT = create_app(Settings(home=Path("/nonexistent"), secret_key="document", dev_mode=True)).openapi()
# The inbound webhook takes raw MIME; its schema is a string, sent as text.
schemathesis.serializer.alias("message/rfc822", "text/plain")
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(max_examples=25, deterministic=True, database="none")
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])


@dataclass
class Pledge:
    id: str
    token: str


@dataclass
class Fuzzed:
    """The app under test and who may call it; ``loop`` is the session loop the workers run on."""

    http: httpx.AsyncClient
    loop: asyncio.AbstractEventLoop
    staff: dict[Role, str]
    pool: list[Pledge] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)  # of the operation under test
    operation: str | None = None
    secured: bool = False  # the operation under test declares bearer security

    async def pledges(self) -> list[Pledge]:
        """Pledges in review, with changes requested and published."""
        if not self.pool:
            in_review, changes_requested, published = [await self.submit() for _ in range(3)]
            await self.decide(changes_requested, "request_changes")
            await self.decide(published, "approve")
            self.pool = [in_review, changes_requested, published]
        return self.pool

    def run(self, coroutine: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def submit(self, body: dict[str, Any] | None = None) -> Pledge:
        """A pledge submitted through the API, once its workflow has recorded the submission."""
        response = await self.http.post("/api/v1/pledges", json=body or submission_data())
        assert response.status_code == 202, response.text
        pledge = Pledge(id=response.json()["id"], token=response.json()["manage_token"])
        self.submitted.append(pledge.id)
        async with asyncio.timeout(15):
            while not (await self.http.get(f"/api/v1/pledges/{pledge.id}", headers=bearer(pledge.token))).json()[
                "timeline"
            ]:
                await asyncio.sleep(0.05)
        return pledge

    async def decide(self, pledge: Pledge, decision: str) -> None:
        body = {"decision": decision, "note": "Please state the budget per year and the target schools."}
        headers = bearer(self.staff[Role.admin])
        response = await self.http.post(f"/api/v1/pledges/{pledge.id}/decisions", json=body, headers=headers)
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def fuzzed(
    request: pytest.FixtureRequest, dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Fuzzed]:
    database_url = str(request.getfixturevalue(f"{request.param}_url"))
    smtp: SmtpSink = request.getfixturevalue("module_smtp")
    home = tmp_path_factory.mktemp("schemathesis")
    settings = make_settings(home, database_url, smtp, inbound_webhook_secret=INBOUND_SECRET)
    async with run_workers(dev_env.client, settings):
        app = create_app(settings, dev_env.client)
        assert app.openapi() == DOCUMENT
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            fuzzed = Fuzzed(http=http, loop=asyncio.get_running_loop(), staff=make_staff(database_url))
            yield fuzzed
            # Fuzzed submissions wait years for a decision: stop them rather than leave them on the server.
            for pledge_id in fuzzed.submitted:
                with suppress(RPCError):
                    await dev_env.client.get_workflow_handle(workflow_id(pledge_id)).terminate(reason="fuzzed")


@pytest.fixture
async def per_operation(fuzzed: Fuzzed) -> AsyncIterator[None]:
    """A fresh pool of pledges (made on first use) and status tally for each operation's test."""
    fuzzed.pool = []
    fuzzed.statuses.clear()
    fuzzed.operation, fuzzed.secured = None, False
    yield
    if fuzzed.secured:
        beyond = set(fuzzed.statuses) - {401, 403}
        assert beyond, f"{fuzzed.operation} never got past authentication: {dict(fuzzed.statuses)}"


@dataclass(frozen=True)
class Choice:
    """How a case goes out: a function of the case itself, so the same case replays (and shrinks) the same."""

    caller: str
    pledge: int  # which pool pledge the path names
    realistic_body: bool

    @classmethod
    def of(cls, case: Case[Any]) -> Choice:
        digest = zlib.crc32(repr((case.path_parameters, case.query, case.headers, case.body)).encode())
        caller, digest = CALLERS[digest % len(CALLERS)], digest // len(CALLERS)
        return cls(caller=caller, pledge=digest % 3, realistic_body=digest // 3 % 4 == 0)


async def as_caller(fuzzed: Fuzzed, case: Case[Any]) -> dict[str, Any]:
    """The request to send for this case: its generated parts, with credentials and ids by its caller."""
    request: dict[str, Any] = case.as_transport_kwargs(base_url="http://testserver")
    assert not request.pop("cookies", None), "no operation declares cookies"
    if isinstance(request.get("data"), bytes | str):
        request["content"] = request.pop("data")  # requests' raw body is httpx's content
    choice = Choice.of(case)
    if choice.caller == "as_generated":
        return request
    label = case.operation.label
    headers = dict(request.get("headers") or {})
    if case.operation.path == "/api/v1/inbound/email":
        request["headers"] = {**headers, "X-Pledgeflow-Secret": INBOUND_SECRET}
        return request
    if case.operation.path == "/metrics":
        headers = {name: value for name, value in headers.items() if name.lower() != "authorization"}
        request["headers"] = {**headers, **bearer(METRICS_TOKEN)}
        return request
    pool = await fuzzed.pledges()
    pledge = pool[choice.pledge]
    if "pledge_id" in (case.path_parameters or {}):
        request["url"] = "http://testserver" + case.operation.path.replace("{pledge_id}", pledge.id)
    if label in REALISTIC_BODY and choice.realistic_body:
        request.pop("content", None)
        request["json"] = REALISTIC_BODY[label]()
        headers = {name: value for name, value in headers.items() if name.lower() != "content-type"}
        if label.startswith("PUT"):
            headers["If-Match"] = "*"
    if label != SUBMIT:
        other = pool[(choice.pledge + 1) % len(pool)]
        token = {"owner": pledge.token, "other_pledge": other.token}.get(choice.caller)
        token = token or fuzzed.staff[Role(choice.caller)]
        headers = {name: value for name, value in headers.items() if name.lower() != "authorization"}
        headers.update(bearer(token))
    request["headers"] = headers
    return request


async def _send(fuzzed: Fuzzed, case: Case[Any]) -> httpx.Response:
    response = await fuzzed.http.request(**await as_caller(fuzzed, case))
    fuzzed.operation = case.operation.label
    fuzzed.secured = bool(case.operation.definition.raw.get("security"))
    fuzzed.statuses[response.status_code] += 1
    if case.operation.label == SUBMIT and response.status_code == 202:
        fuzzed.submitted.append(response.json()["id"])
    return response


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_operation_answers_as_documented(case: Case[Any], fuzzed: Fuzzed, per_operation: None) -> None:
    # The test is synchronous (Hypothesis drives it); each request runs on the loop the workers live on.
    response = fuzzed.run(_send(fuzzed, case))
    case.validate_response(response, checks=CHECKS)
