"""Input no database can store (NUL; a lone surrogate, which has no UTF-8 form) is 422 or 404 on every route,
pages included, on SQLite and PostgreSQL: never a 500, never accepted to fail later in a projection."""

from __future__ import annotations

import re

import pytest

from pledgeflow.auth.staff_keys import Role
from tests.api.conftest import bearer, submit
from tests.conftest import Stack
from tests.factories import submission_data

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BAD = {"NUL": "%00", "surrogate": "%ED%A0%80"}


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
async def test_query_and_path_values_no_database_can_store_are_refused(stack: Stack, bad: str) -> None:
    pledge = await submit(stack.http)
    token = pledge.token
    paths = [
        f"/registry?q={bad}",
        f"/registry?country={bad}",
        f"/registry?cursor={bad}",
        f"/registry?organization_type={bad}&scope={bad}&status={bad}&sdg={bad}&limit={bad}",
        f"/registry/PF-{bad}",
        f"/registry/{bad}",
        f"/pledges/PF-{bad}?token={token}",
        f"/pledges/{pledge.id}?token={bad}",
        f"/pledges/{pledge.id}/report?token={bad}",
        f"/pledges/{pledge.id}/withdraw?token={bad}",
        f"/staff/pledges/PF-{bad}",
        f"/api/v1/registry/pledges?q={bad}",
        f"/api/v1/registry/pledges?cursor={bad}",
        f"/api/v1/registry/pledges?country={bad}",
        f"/api/v1/registry/pledges/PF-{bad}",
        f"/api/v1/registry/pledges/PF-{bad}/related",
        f"/api/v1/registry/stats?q={bad}",
        f"/api/v1/pledges/PF-{bad}",
        f"/dev/mail/{bad}/text",
    ]
    for path in paths:
        response = await stack.http.get(path)
        assert response.status_code < 500, f"{path}: {response.status_code} {response.text[:200]}"


async def _csrf(stack: Stack, page: str) -> str:
    found = CSRF.search((await stack.http.get(page)).text)
    assert found, page
    return found.group(1)


def _form(**fields: str) -> bytes:
    """A urlencoded body as a browser sends it; ``bad`` values are already percent-encoded bytes."""
    return "&".join(f"{name}={value}" for name, value in fields.items()).encode()


# A form's invalid UTF-8 (what a lone surrogate would be) is read as U+FFFD, which any database stores: NUL
# is what no form field may carry.
@pytest.mark.parametrize("bad", ["%00"], ids=["NUL"])
async def test_form_fields_no_database_can_store_are_refused_and_nothing_acts(
    stack: Stack, staff_keys: dict[Role, str], bad: str
) -> None:
    http = stack.http
    form = {"content-type": "application/x-www-form-urlencoded"}
    pledge = await submit(http)
    csrf = await _csrf(stack, "/submit")
    login = await http.post("/staff/login", content=_form(csrf_token=csrf, key=f"pfs_{bad}"), headers=form)
    assert login.status_code == 401, login.text[:200]
    assert (
        await http.post("/staff/login", data={"csrf_token": csrf, "key": staff_keys[Role.admin]})
    ).status_code == 303
    staff_csrf = await _csrf(stack, f"/staff/pledges/{pledge.id}")
    posts = {
        f"/staff/pledges/{pledge.id}/decision": _form(csrf_token=staff_csrf, decision="reject", note=f"No{bad}."),
        f"/pledges/{pledge.id}/withdraw": _form(csrf_token=csrf, token=pledge.token, reason=f"Gone{bad}"),
        f"/pledges/{pledge.id}/extension-request": _form(csrf_token=csrf, token=pledge.token, reason=f"Late{bad}!!"),
        "/submit": _form(csrf_token=csrf, title=f"Schools{bad}forKenya", description="x" * 60),
    }
    for path, body in posts.items():
        response = await http.post(path, content=body, headers=form)
        assert 400 <= response.status_code < 500, f"{path}: {response.status_code} {response.text[:300]}"
    state = (await http.get(f"/api/v1/pledges/{pledge.id}", headers=pledge.auth)).json()
    assert state["status"] == "in_review"
    assert [event["kind"] for event in state["timeline"]] == ["submitted"]


@pytest.mark.parametrize("bad", ["\\u0000", "\\ud800"], ids=BAD.keys())
async def test_json_strings_no_database_can_store_are_422_naming_the_field(
    stack: Stack, staff_keys: dict[Role, str], bad: str
) -> None:
    pledge = await submit(stack.http)
    headers = {"content-type": "application/json"}
    title = submission_data()["title"]
    calls = [
        ("/api/v1/pledges", f'{{"title": "{title}{bad}"}}', {}),
        (f"/api/v1/pledges/{pledge.id}/withdrawal", f'{{"reason": "gone{bad}"}}', pledge.auth),
        (
            f"/api/v1/pledges/{pledge.id}/decisions",
            f'{{"decision": "reject", "note": "no{bad}"}}',
            bearer(staff_keys[Role.vetter]),
        ),
        (
            f"/api/v1/pledges/{pledge.id}/reports",
            f'{{"progress": "on_track", "narrative": "{"n" * 30}{bad}"}}',
            pledge.auth,
        ),
    ]
    for path, body, auth in calls:
        response = await stack.http.post(path, content=body.encode(), headers={**headers, **auth})
        assert response.status_code == 422, f"{path}: {response.status_code} {response.text[:300]}"
