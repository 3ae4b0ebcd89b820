"""Who may do what: every pledger and staff endpoint by every kind of caller, with the code each gets.

A caller who passes authorisation acts on a new pledge in the status where the action is allowed, so its
cell shows the success code; a caller who does not is refused before the workflow is asked, so those cells
share one pledge (and the pledge's status does not matter for them).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from api.app import create_app
from pledgeflow.auth.staff_keys import Role, add_staff, deactivate, rotate_key
from pledgeflow.core.db import session_for
from tests.api.conftest import Submitted, bearer, in_status, submit
from tests.conftest import METRICS_TOKEN, Stack
from tests.factories import report_data, submission_data

# deactivated: a vetter's key after `pledgeflow staff deactivate`; rotated: an admin's old key after
# `pledgeflow staff rotate-key`; scraper: Prometheus with PLEDGEFLOW_METRICS_TOKEN.
CALLERS = ("nobody", "other_pledge", "pledger", "vetter", "operator", "admin", "deactivated", "rotated", "scraper")

MATRIX: dict[str, tuple[int, int, int, int, int, int, int, int, int]] = {
    # action                   nobody  other_pledge  pledger  vetter  operator  admin  deactivated  rotated  scraper
    "read the pledge":         (401,   403,          200,     200,    200,      200,   401,         401,     401),
    "revise the submission":   (401,   403,          200,     403,    403,      403,   401,         401,     401),
    "report progress":         (401,   403,          201,     403,    403,      403,   401,         401,     401),
    "ask for an extension":    (401,   403,          201,     403,    403,      403,   401,         401,     401),
    "withdraw":                (401,   403,          200,     403,    403,      403,   401,         401,     401),
    "see the review queue":    (401,   403,          403,     200,    403,      200,   401,         401,     401),
    "decide":                  (401,   403,          403,     201,    403,      201,   401,         401,     401),
    "grant an extension":      (401,   403,          403,     403,    201,      201,   401,         401,     401),
    "refuse an extension":     (401,   403,          403,     403,    201,      201,   401,         401,     401),
    "close":                   (401,   403,          403,     403,    200,      200,   401,         401,     401),
    "scrape metrics":          (401,   401,          401,     401,    401,      401,   401,         401,     200),
}  # fmt: skip


@dataclass(frozen=True)
class Action:
    method: str
    path: str  # {id} is the pledge acted on
    status: str  # the status in which the action is allowed
    body: Any = None
    headers: dict[str, str] | None = None
    asked_for_extension: bool = False


ACTIONS = {
    "read the pledge": Action("GET", "/api/v1/pledges/{id}", "in_review"),
    "revise the submission": Action(
        "PUT", "/api/v1/pledges/{id}/submission", "changes_requested", submission_data(), {"If-Match": '"1"'}
    ),
    "report progress": Action("POST", "/api/v1/pledges/{id}/reports", "report_due", report_data()),
    "ask for an extension": Action(
        "POST", "/api/v1/pledges/{id}/extension-requests", "report_due", {"reason": "Our audit ends next month."}
    ),
    "withdraw": Action("POST", "/api/v1/pledges/{id}/withdrawal", "in_review", {"reason": "Programme cancelled"}),
    "see the review queue": Action("GET", "/api/v1/review/queue", "in_review"),
    "decide": Action("POST", "/api/v1/pledges/{id}/decisions", "in_review", {"decision": "approve"}),
    "grant an extension": Action(
        "POST", "/api/v1/pledges/{id}/extensions", "report_due", {"days": 30, "reason": "Audit delayed"}
    ),
    "refuse an extension": Action(
        "POST", "/api/v1/pledges/{id}/extension-refusals", "report_due", {"reason": "Report what you have"}, None, True
    ),
    "close": Action("POST", "/api/v1/pledges/{id}/closure", "in_review", {"reason": "Duplicate of PF-22222222"}),
    "scrape metrics": Action("GET", "/metrics", "in_review"),
}

CELLS = [
    pytest.param(action, caller, expected, id=f"{action} as {caller}")
    for action, codes in MATRIX.items()
    for caller, expected in zip(CALLERS, codes, strict=True)
]


def _credentials(caller: str, pledge: Submitted, other: Submitted, staff: dict[str, str]) -> dict[str, str]:
    tokens: dict[str, Callable[[], str]] = {
        "other_pledge": lambda: other.token,
        "pledger": lambda: pledge.token,
        "scraper": lambda: METRICS_TOKEN,
        **{name: (lambda name=name: staff[name]) for name in staff},
    }
    return {} if caller == "nobody" else bearer(tokens[caller]())


@pytest.fixture(scope="module")
def callers_keys(shared_stack: Stack, shared_staff: dict[Role, str]) -> dict[str, str]:
    """The staff keys by caller, with a deactivated one and a rotated-out one made by the CLI's functions."""
    keys = {role.value: key for role, key in shared_staff.items()}
    suffix = uuid.uuid4().hex[:6]
    with session_for(shared_stack.settings.database_url) as session:
        keys["deactivated"] = add_staff(session, f"deactivated-{suffix}", Role.vetter)
        deactivate(session, f"deactivated-{suffix}")
        keys["rotated"] = add_staff(session, f"rotated-{suffix}", Role.admin)
        rotate_key(session, f"rotated-{suffix}")
    return keys


@pytest.fixture(scope="module")
def openapi(shared_stack: Stack) -> dict[str, Any]:
    document: dict[str, Any] = create_app(shared_stack.settings).openapi()
    return document


@pytest.fixture(scope="module")
async def refused_pledge_and_other(shared_stack: Stack) -> tuple[Submitted, Submitted]:
    return await submit(shared_stack.http), await submit(shared_stack.http)


@pytest.mark.parametrize(("action", "caller", "expected"), CELLS)
async def test_authorization_matrix(
    action: str,
    caller: str,
    expected: int,
    shared_stack: Stack,
    shared_staff: dict[Role, str],
    callers_keys: dict[str, str],
    refused_pledge_and_other: tuple[Submitted, Submitted],
    openapi: dict[str, Any],
) -> None:
    http = shared_stack.http
    spec = ACTIONS[action]
    pledge, other = refused_pledge_and_other
    if expected < 400:
        pledge = await in_status(shared_stack, spec.status, shared_staff[Role.admin], spec.asked_for_extension)
    response = await http.request(
        spec.method,
        spec.path.format(id=pledge.id),
        json=spec.body,
        headers={**_credentials(caller, pledge, other, callers_keys), **(spec.headers or {})},
    )
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    documented = openapi["paths"][spec.path.replace("{id}", "{pledge_id}")][spec.method.lower()]["responses"]
    assert str(expected) in documented
