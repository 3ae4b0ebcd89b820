"""The pledger's endpoints on one pledge: read (ETag), revise (If-Match), report, ask for more time, withdraw."""

from __future__ import annotations

from typing import Any

import httpx

from pledgeflow.auth.staff_keys import Role
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue
from tests.api.conftest import Submitted, bearer, decide, in_status, submit, until_status, wait_for_row
from tests.conftest import Stack
from tests.factories import report_data, submission_data
from tests.temporal.older_pledge import older_pledge
from workflows.state import PledgeStatus, workflow_id


def _path(pledge: Submitted, tail: str = "") -> str:
    return f"/api/v1/pledges/{pledge.id}{tail}"


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# --- read -----------------------------------------------------------------------------------------


async def test_owner_and_staff_read_the_full_pledge_with_its_version_as_etag(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    pledge = await submit(shared_stack.http)
    await wait_for_row(shared_stack.settings.database_url, pledge.id)
    for headers in (pledge.auth, bearer(shared_staff[Role.operator])):
        response = await shared_stack.http.get(_path(pledge), headers=headers)
        assert response.status_code == 200
        assert response.headers["ETag"] == '"1"'
        body = response.json()
        assert body["status"] == "in_review"
        assert body["submission"]["focal_point"]["email"] == "amina@connect-africa.example"
        assert body["timeline"][0]["kind"] == "submitted"
        assert not {"staff", "email_task_queue", "steps_done", "idempotency_key"} & set(body)


async def test_unknown_or_malformed_pledge_id_is_404(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    for pledge_id in ("PF-2222222", "not-a-pledge", "PF-" + "X" * 2000):
        response = await shared_stack.http.get(
            f"/api/v1/pledges/{pledge_id}", headers=bearer(shared_staff[Role.vetter])
        )
        assert _assert_problem(response, 404)["detail"] == f"no pledge {pledge_id}"


# --- revise ---------------------------------------------------------------------------------------


async def test_revision_requires_if_match(shared_stack: Stack) -> None:
    pledge = await submit(shared_stack.http)
    missing = await shared_stack.http.put(_path(pledge, "/submission"), json=submission_data(), headers=pledge.auth)
    assert "If-Match" in str(_assert_problem(missing, 428)["detail"])
    for if_match in ('W/"1"', "1", "version one", '"1", "2"'):
        response = await shared_stack.http.put(
            _path(pledge, "/submission"), json=submission_data(), headers={**pledge.auth, "If-Match": if_match}
        )
        _assert_problem(response, 412)


async def test_invalid_revision_is_422_naming_each_field(shared_stack: Stack) -> None:
    pledge = await submit(shared_stack.http)
    bad = submission_data(description="Too short.", countries=["Kenya"], sdgs=[18])
    response = await shared_stack.http.put(
        _path(pledge, "/submission"), json=bad, headers={**pledge.auth, "If-Match": '"1"'}
    )
    fields = {error["field"] for error in _assert_problem(response, 422)["errors"]}
    assert {"description", "countries.0", "sdgs.0"} <= fields


async def test_revision_while_changes_requested_then_stale_if_match_is_412(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    http = shared_stack.http
    pledge = await in_status(shared_stack, "changes_requested", shared_staff[Role.vetter])
    revised = submission_data(title="Connecting 600 rural schools in Kenya by 2027")
    first = await http.put(_path(pledge, "/submission"), json=revised, headers={**pledge.auth, "If-Match": '"1"'})
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] == '"2"'
    assert first.json()["status"] == "in_review"
    assert first.json()["submission_version"] == 2

    read = await http.get(_path(pledge), headers=pledge.auth)
    assert read.headers["ETag"] == '"2"'
    assert read.json()["submission"]["title"] == "Connecting 600 rural schools in Kenya by 2027"

    await decide(http, pledge, shared_staff[Role.vetter], "request_changes")
    stale = await http.put(_path(pledge, "/submission"), json=revised, headers={**pledge.auth, "If-Match": '"1"'})
    _assert_problem(stale, 412)
    current = await http.put(_path(pledge, "/submission"), json=revised, headers={**pledge.auth, "If-Match": '"2"'})
    assert current.status_code == 200, current.text
    assert current.headers["ETag"] == '"3"'


async def test_revision_while_in_review_is_409_naming_the_status(shared_stack: Stack) -> None:
    pledge = await submit(shared_stack.http)
    response = await shared_stack.http.put(
        _path(pledge, "/submission"), json=submission_data(), headers={**pledge.auth, "If-Match": '"1"'}
    )
    assert _assert_problem(response, 409)["pledge_status"] == "in_review"


# --- report ---------------------------------------------------------------------------------------


async def test_report_with_the_manage_token_reinstates_published(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    http = shared_stack.http
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    response = await http.post(_path(pledge, "/reports"), json=report_data(), headers=pledge.auth)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "published"
    state = (await http.get(_path(pledge), headers=pledge.auth)).json()
    assert [report["report"]["narrative"] for report in state["reports"]] == [report_data()["narrative"]]


async def test_report_link_token_counts_for_its_cycle_only(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    http = shared_stack.http
    secret = shared_stack.settings.signing_key()
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    cycle = (await http.get(_path(pledge), headers=pledge.auth)).json()["cycle"]

    # A link for a cycle that has not begun reports nothing.
    next_years = issue(secret, TokenClaims(pledge.id, Purpose.report, 1, cycle=cycle + 1))
    early = await http.post(_path(pledge, "/reports"), json=report_data(), headers=bearer(next_years))
    assert str(cycle + 1) in _assert_problem(early, 422)["detail"]

    this_years = issue(secret, TokenClaims(pledge.id, Purpose.report, 1, cycle=cycle))
    answered = await http.post(_path(pledge, "/reports"), json=report_data(), headers=bearer(this_years))
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "published"

    # A year later (two seconds under this policy) last year's link only adds to last year's report:
    # the new cycle's report is still due.
    await until_status(http, pledge, "report_due")
    reused = await http.post(
        _path(pledge, "/reports"),
        json=report_data(narrative="Addendum: the audited figures."),
        headers=bearer(this_years),
    )
    assert reused.status_code == 201, reused.text
    assert reused.json()["status"] == "report_due"
    state = (await http.get(_path(pledge), headers=pledge.auth)).json()
    assert state["cycle"] > cycle
    assert [report["cycle"] for report in state["reports"]] == [cycle, cycle]


async def test_invalid_report_is_422_naming_each_field(shared_stack: Stack) -> None:
    pledge = await submit(shared_stack.http)
    bad = report_data(progress="almost there", narrative="Short.", beneficiaries_reached=-5)
    response = await shared_stack.http.post(_path(pledge, "/reports"), json=bad, headers=pledge.auth)
    fields = {error["field"] for error in _assert_problem(response, 422)["errors"]}
    assert fields == {"progress", "narrative", "beneficiaries_reached"}


async def test_report_before_publication_is_409(shared_stack: Stack) -> None:
    pledge = await submit(shared_stack.http)
    response = await shared_stack.http.post(_path(pledge, "/reports"), json=report_data(), headers=pledge.auth)
    assert _assert_problem(response, 409)["pledge_status"] == "in_review"


# --- extension request ----------------------------------------------------------------------------


async def test_extension_request_while_a_report_is_due(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    http = shared_stack.http
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    reason = "Our field survey finishes in six weeks; we want to report its results."
    response = await http.post(_path(pledge, "/extension-requests"), json={"reason": reason}, headers=pledge.auth)
    assert response.status_code == 201, response.text
    state = (await http.get(_path(pledge), headers=pledge.auth)).json()
    assert state["pending_extension_reason"] == reason


async def test_extension_request_needs_a_reason_and_a_due_report(shared_stack: Stack) -> None:
    pledge = await submit(shared_stack.http)
    short = await shared_stack.http.post(
        _path(pledge, "/extension-requests"), json={"reason": "later"}, headers=pledge.auth
    )
    assert [error["field"] for error in _assert_problem(short, 422)["errors"]] == ["reason"]
    early = await shared_stack.http.post(
        _path(pledge, "/extension-requests"), json={"reason": "Our audit ends next month."}, headers=pledge.auth
    )
    assert _assert_problem(early, 409)["pledge_status"] == "in_review"


# --- withdraw -------------------------------------------------------------------------------------


async def test_withdrawal_closes_the_pledge_and_nothing_acts_on_it_after(shared_stack: Stack) -> None:
    http = shared_stack.http
    pledge = await submit(http)
    response = await http.post(
        _path(pledge, "/withdrawal"), json={"reason": "Programme cancelled"}, headers=pledge.auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "closed"
    state = (await http.get(_path(pledge), headers=pledge.auth)).json()
    assert (state["status"], state["closure_reason"]) == ("closed", "withdrawn")

    again = await http.post(_path(pledge, "/withdrawal"), headers=pledge.auth)
    assert _assert_problem(again, 409)["pledge_status"] == "closed"
    report = await http.post(_path(pledge, "/reports"), json=report_data(), headers=pledge.auth)
    assert _assert_problem(report, 409)["pledge_status"] == "closed"


async def test_an_action_on_a_pledge_whose_workflow_has_ended_is_409_closed(shared_stack: Stack) -> None:
    pledge = await submit(shared_stack.http)
    await shared_stack.client.get_workflow_handle(workflow_id(pledge.id)).terminate(reason="test: ended")
    response = await shared_stack.http.post(_path(pledge, "/withdrawal"), json={}, headers=pledge.auth)
    body = _assert_problem(response, 409)
    assert body["pledge_status"] == "closed"
    assert "closed" in str(body["detail"])


async def test_an_action_the_workflow_does_not_know_is_409_with_the_status(shared_stack: Stack) -> None:
    async with older_pledge(shared_stack.client, PledgeStatus.report_due) as pledge_id:
        token = issue(shared_stack.settings.signing_key(), TokenClaims(pledge_id, Purpose.manage, 1))
        response = await shared_stack.http.post(f"/api/v1/pledges/{pledge_id}/withdrawal", headers=bearer(token))
    body = _assert_problem(response, 409)
    assert body["pledge_status"] == "report_due"
    assert body["detail"] == "this action is not available while the pledge is report_due"
