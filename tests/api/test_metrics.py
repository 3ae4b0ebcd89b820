"""``GET /metrics``: pledges by status from the registry, e-mails sent and failed from the send ledger, and
request latency by route, in the Prometheus text format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
from api.app import create_app
from api.routers.metrics import serve_on_own_address
from tests.api.registry_seeding import Registry, registry_fixture, registry_url_fixture  # noqa: F401
from tests.conftest import METRICS_TOKEN, SmtpSink, free_port, make_settings
from workflows.emails import EmailKind, EmailRequest, Recipient
from workflows.state import ClosureReason, PledgeStatus


class RefusingSink:
    """An SMTP server that refuses every recipient for good (5xx), as for a mailbox that does not exist."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 mailbox unavailable"


@pytest.fixture
def refusing_smtp() -> Iterator[tuple[str, int]]:
    port = free_port()
    controller = Controller(RefusingSink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield "127.0.0.1", port
    controller.stop()


async def _scrape(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _send(settings: Any, pledge_id: str, address: str) -> None:
    request = EmailRequest(
        pledge_id=pledge_id,
        cycle=0,
        kind=EmailKind.submission_received,
        recipient=Recipient(email=address, name="Amina Otieno", role="focal_point"),
        context={"title": "Connecting 500 rural schools in Kenya by 2027", "organization": "CAF", "review_days": 7},
    )
    await ActivityEnvironment().run(EmailActivities(settings).send_email, request)


async def test_metrics_show_pledges_by_status(registry: Registry) -> None:
    for status in (PledgeStatus.in_review, PledgeStatus.in_review, PledgeStatus.published, PledgeStatus.report_due):
        registry.publish(status=status)
    registry.publish(status=PledgeStatus.closed, closure_reason=ClosureReason.delisted)

    response = await _scrape(registry.http)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    by_status = {
        dict(labels)["status"]: value for (name, labels), value in samples.items() if name == "pledgeflow_pledges"
    }
    assert by_status == {
        "in_review": 2, "changes_requested": 0, "published": 1, "report_due": 1, "report_overdue": 0,
        "non_reporting": 0, "closed": 1,
    }  # fmt: skip
    assert samples[("pledgeflow_registry_up", ())] == 1


async def test_metrics_count_emails_sent_and_failed(
    registry: Registry, smtp_sink: SmtpSink, refusing_smtp: tuple[str, int], tmp_path: Path
) -> None:
    pledge_id = registry.publish(status=PledgeStatus.in_review).pledge_id
    delivering = make_settings(tmp_path / "ok", registry.url, smtp_sink)
    await _send(delivering, pledge_id, "amina@connect-africa.example")
    await _send(delivering, pledge_id, "peter@connect-africa.example")
    host, port = refusing_smtp
    refusing = make_settings(tmp_path / "refusing", registry.url, smtp_host=host, smtp_port=port)
    with pytest.raises(ApplicationError):
        await _send(refusing, pledge_id, "nobody@connect-africa.example")
    assert len(smtp_sink.messages) == 2

    samples = _samples((await _scrape(registry.http)).text)
    kind = "submission_received"
    assert samples[("pledgeflow_emails", (("kind", kind), ("state", "sent")))] == 2
    assert samples[("pledgeflow_emails", (("kind", kind), ("state", "failed")))] == 1
    assert samples[("pledgeflow_emails_failed_total", (("kind", kind),))] == 1  # what an alert watches
    assert samples[("pledgeflow_emails_failed_total", (("kind", "reminder_2"),))] == 0
    assert samples[("pledgeflow_emails_unconfirmed_total", (("kind", kind),))] == 0


async def test_metrics_time_requests_by_route(registry: Registry) -> None:
    pledge_id = registry.publish().pledge_id
    for _ in range(3):
        assert (await registry.http.get("/api/v1/registry/pledges")).status_code == 200
    assert (await registry.http.get(f"/api/v1/registry/pledges/{pledge_id}")).status_code == 200
    assert (await registry.http.get("/api/v1/registry/pledges/PF-2222222")).status_code == 404
    assert (await registry.http.get("/no/such/path")).status_code == 404

    samples = _samples((await _scrape(registry.http)).text)
    count = "pledgeflow_http_request_duration_seconds_count"

    def requests(route: str, status: str) -> float:
        return samples.get((count, (("method", "GET"), ("route", route), ("status", status))), 0)

    assert requests("/api/v1/registry/pledges", "200") == 3
    assert requests("/api/v1/registry/pledges/{pledge_id}", "200") == 1  # the template, not each id
    assert requests("/api/v1/registry/pledges/{pledge_id}", "404") == 1
    assert requests("unmatched", "404") == 1
    assert not any("PF-" in str(labels) for (_, labels) in samples)


async def test_metrics_say_when_the_registry_is_unreachable(tmp_path: Path) -> None:
    unreachable = make_settings(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/registry")
    transport = httpx.ASGITransport(app=create_app(unreachable))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await _scrape(http)
    assert response.status_code == 200  # the scrape still works, and says the database did not answer
    samples = _samples(response.text)
    assert samples[("pledgeflow_registry_up", ())] == 0
    assert not any(name == "pledgeflow_pledges" for name, _ in samples)


async def test_metrics_need_the_scrapers_token_and_are_404_without_one_set(registry: Registry, tmp_path: Path) -> None:
    http = registry.http
    assert (await http.get("/metrics")).status_code == 401
    staff_or_pledger = {"Authorization": "Bearer pfs_0000000_not-the-metrics-token"}
    assert (await http.get("/metrics", headers=staff_or_pledger)).status_code == 401
    unset = make_settings(tmp_path, registry.url, metrics_token=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(unset)), base_url="http://t") as other:
        closed = await other.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert closed.status_code == 404 and "PLEDGEFLOW_METRICS_PORT" in closed.json()["detail"]


async def test_metrics_on_their_own_address_need_no_token(registry: Registry, tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(tmp_path, registry.url, metrics_token=None, metrics_port=port)
    app = create_app(settings)
    served = serve_on_own_address(app, settings)
    assert served is not None
    try:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        served[0].shutdown()
    assert response.status_code == 200
    assert ("pledgeflow_registry_up", ()) in _samples(response.text)
