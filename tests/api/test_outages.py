"""Temporal or the database unreachable: every endpoint that needs it answers 503 with Retry-After, never 500."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from pledgeflow.auth.staff_keys import Role
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue
from pledgeflow.core import ids
from pledgeflow.core.db import upgrade
from tests.api.conftest import bearer, make_staff, unreachable_app
from tests.conftest import SmtpSink, free_port, make_settings, scratch_postgres, set_read_only
from tests.factories import report_data, submission_data

# (method, path, body, who, extra headers): every endpoint that carries an action into Temporal.
NEEDS_TEMPORAL: list[tuple[str, str, Any, str, dict[str, str]]] = [
    ("GET", "/api/v1/pledges/{id}", None, "pledger", {}),
    ("PUT", "/api/v1/pledges/{id}/submission", submission_data(), "pledger", {"If-Match": '"1"'}),
    ("POST", "/api/v1/pledges/{id}/reports", report_data(), "pledger", {}),
    ("POST", "/api/v1/pledges/{id}/extension-requests", {"reason": "Our auditors need two more weeks."}, "pledger", {}),
    ("POST", "/api/v1/pledges/{id}/withdrawal", {"reason": "Programme cancelled"}, "pledger", {}),
    ("POST", "/api/v1/pledges/{id}/decisions", {"decision": "approve"}, "vetter", {}),
    ("POST", "/api/v1/pledges/{id}/extensions", {"days": 30, "reason": "Form outage"}, "operator", {}),
    ("POST", "/api/v1/pledges/{id}/extension-refusals", {"reason": "Report what you have"}, "operator", {}),
    ("POST", "/api/v1/pledges/{id}/closure", {"reason": "Duplicate entry"}, "operator", {}),
]


def _credentials(settings: Any, database_url: str) -> tuple[str, dict[str, str]]:
    """A well-formed pledge id with its manage token, and staff keys: authentication passes, then Temporal."""
    pledge_id = ids.new_pledge_id()
    token = issue(settings.signing_key(), TokenClaims(pledge_id, Purpose.manage, 1))
    keys = make_staff(database_url)
    return pledge_id, {"pledger": token, "vetter": keys[Role.vetter], "operator": keys[Role.operator]}


async def test_temporal_unreachable_is_503_with_retry_after_on_every_endpoint_needing_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, sqlite_url, temporal_address=f"127.0.0.1:{free_port()}")
    pledge_id, who = _credentials(settings, sqlite_url)
    async with unreachable_app(settings) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["Retry-After"]
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["temporal"].startswith("unreachable")

        for headers in ({}, {"Idempotency-Key": "retry-me"}):
            submitted = await http.post("/api/v1/pledges", json=submission_data(), headers=headers)
            assert submitted.status_code == 503, submitted.text
            assert submitted.headers["Retry-After"]
            assert submitted.headers["content-type"] == "application/problem+json"
            assert "Temporal" in submitted.json()["detail"]

        for method, path, body, role, headers in NEEDS_TEMPORAL:
            response = await http.request(
                method, path.format(id=pledge_id), json=body, headers={**bearer(who[role]), **headers}
            )
            assert (method, path, response.status_code) == (method, path, 503), response.text
            assert response.headers["Retry-After"]
            assert "Temporal" in response.json()["detail"]

        # What only reads the registry keeps working, and a bad request is still answered as such.
        queue = await http.get("/api/v1/review/queue", headers=bearer(who["vetter"]))
        assert queue.status_code == 200
        anonymous = await http.get(f"/api/v1/pledges/{pledge_id}")
        assert anonymous.status_code == 401
        invalid = await http.post("/api/v1/pledges", json=submission_data(title="Hi"))
        assert invalid.status_code == 422


async def test_database_unreachable_is_503_with_retry_after(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    down = f"postgresql+psycopg://root@127.0.0.1:{free_port()}/pledgeflow"
    settings = make_settings(tmp_path, down)
    pledge_id = ids.new_pledge_id()
    token = issue(settings.signing_key(), TokenClaims(pledge_id, Purpose.manage, 1))
    staff_key = "pfs_0123abcd_notcheckedbecausethedatabaseisdown"
    app = create_app(settings, dev_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unreachable")
        assert ready.json()["checks"]["temporal"] == "ok"

        requests = [
            ("GET", f"/api/v1/pledges/{pledge_id}", None, token),  # the token's revocation is checked there
            ("POST", f"/api/v1/pledges/{pledge_id}/withdrawal", {}, token),
            ("GET", "/api/v1/review/queue", None, staff_key),
            ("POST", f"/api/v1/pledges/{pledge_id}/decisions", {"decision": "approve"}, staff_key),
        ]
        for method, path, body, credential in requests:
            response = await http.request(method, path, json=body, headers=bearer(credential))
            assert (method, path, response.status_code) == (method, path, 503), response.text
            assert response.headers["Retry-After"]
            assert response.headers["content-type"] == "application/problem+json"
            assert "database" in response.json()["detail"]

        # A keyed submission is answered with a manage token of the version in force, read from the registry.
        keyed = await http.post("/api/v1/pledges", json=submission_data(), headers={"Idempotency-Key": "retried"})
        assert keyed.status_code == 503, keyed.text
        assert "database" in keyed.json()["detail"]


async def test_a_read_only_database_is_503_with_retry_after_not_500(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Issue 14: with the registry database read-only, the webhook answered 500 (InternalError was not mapped)."""
    with scratch_postgres("pledgeflow_readonly") as url:
        upgrade(url)
        settings = make_settings(
            tmp_path, url, inbound_webhook_secret="provider-secret", rate_limit_submissions_per_address="100/minute"
        )
        await asyncio.to_thread(set_read_only, url, True)
        app = create_app(settings, dev_env.client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            posted = await http.post(
                "/api/v1/inbound/email",
                content=b"From: a@b.example\r\nTo: reply+x@inbound.example\r\n\r\nOur report.\r\n",
                headers={"X-Pledgeflow-Secret": "provider-secret", "Content-Type": "message/rfc822"},
            )
            # A submission counts against its rate limits in the database before it goes to Temporal.
            submitted = await http.post("/api/v1/pledges", json=submission_data())
        for response in (posted, submitted):
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"]
            assert "database" in response.text


async def test_readyz_names_the_dependency_that_is_down(
    dev_env: WorkflowEnvironment, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    """Issue 14: "/readyz 200 throughout" an SMTP outage and with the database read-only."""
    with scratch_postgres("pledgeflow_ready") as url:
        upgrade(url)
        settings = make_settings(tmp_path, url, smtp_sink)
        app = create_app(settings, dev_env.client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.json()) == (
                200,
                {"status": "ready", "checks": {"database": "ok", "temporal": "ok", "smtp": "ok"}},
            )
            await asyncio.to_thread(set_read_only, url, True)
            read_only = await http.get("/readyz")
            await asyncio.to_thread(set_read_only, url, False)
        down = make_settings(tmp_path, url, smtp_port=free_port())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(down, dev_env.client)), base_url="http://testserver"
        ) as http:
            no_smtp = await http.get("/readyz")
    assert read_only.status_code == 503 and read_only.headers["Retry-After"]
    assert read_only.json()["checks"] == {"database": "read-only: writes are refused", "temporal": "ok", "smtp": "ok"}
    assert no_smtp.status_code == 503
    assert no_smtp.json()["checks"] == {"database": "ok", "temporal": "ok", "smtp": "unreachable: SMTPConnectError"}
