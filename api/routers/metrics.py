"""``GET /metrics`` for Prometheus: pledges by status and e-mails by outcome, read from the database at
scrape time, and the API's request latency by route.

The numbers include what the registry does not publish (pledges in review, rejections), so they are not
public: on the API's own port ``/metrics`` needs ``Authorization: Bearer <PLEDGEFLOW_METRICS_TOKEN>`` (and
is 404 while no token is set); with ``PLEDGEFLOW_METRICS_PORT`` they are also served, without a token, on
an address of their own (``PLEDGEFLOW_METRICS_HOST``, default 127.0.0.1) that only the scraper can reach.

Each app gets its own collector registry, so several apps in one process (tests) never collide.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from threading import Thread
from typing import Annotated, Any
from wsgiref.simple_server import WSGIServer

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import ProblemError, responses
from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge, SentEmail
from pledgeflow.core.settings import Settings
from workflows.emails import EmailKind
from workflows.state import PledgeStatus

router = APIRouter(tags=["metrics"])

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RegistryCollector(Collector):
    """Reads the registry when scraped: the database is the truth, and every API replica reports the same."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("pledgeflow_registry_up", "1 when the registry database answered this scrape")
        try:
            with session_for(self.database_url) as session:
                statuses = dict(session.exec(select(Pledge.status, func.count()).group_by(Pledge.status)).all())
                emails = session.exec(
                    select(SentEmail.state, SentEmail.kind, func.count()).group_by(SentEmail.state, SentEmail.kind)
                ).all()
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        pledges = GaugeMetricFamily("pledgeflow_pledges", "Pledges in the registry by status", labels=["status"])
        for status in PledgeStatus:
            pledges.add_metric([status.value], statuses.get(status.value, 0))
        yield pledges
        ledger = GaugeMetricFamily(
            "pledgeflow_emails",
            "E-mails in the send ledger by state (sent, failed, skipped, sending, claimed, unconfirmed) and kind",
            labels=["state", "kind"],
        )
        for state, kind, count in emails:
            ledger.add_metric([state, kind], count)
        yield ledger
        # What needs an operator, as counters to alert on: a resend is a message of its own (its own business
        # key), so a failed or unconfirmed entry stays what it is and the counts only grow.
        failed = CounterMetricFamily(
            "pledgeflow_emails_failed",
            "E-mails the SMTP server refused for good (5xx), by kind: `pledgeflow ops failed-emails` lists them",
            labels=["kind"],
        )
        unconfirmed = CounterMetricFamily(
            "pledgeflow_emails_unconfirmed",
            "E-mails handed to the SMTP server whose acceptance was never confirmed, so never sent again, by kind",
            labels=["kind"],
        )
        by_kind = {(state, kind): count for state, kind, count in emails}
        for kind in EmailKind:
            failed.add_metric([kind.value], by_kind.get(("failed", kind.value), 0))
            unconfirmed.add_metric([kind.value], by_kind.get(("unconfirmed", kind.value), 0))
        yield failed
        yield unconfirmed


class RequestLatency:
    """ASGI middleware timing each request to its last byte, labelled by route template (not raw path)."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.histogram.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)


def install(app: FastAPI) -> None:
    """Serve ``/metrics`` and time every request of ``app``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RegistryCollector(app.state.settings.database_url))
    latency = Histogram(
        "pledgeflow_http_request_duration_seconds",
        "API request latency by route",
        labelnames=["method", "route", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    app.state.metrics = registry
    app.add_middleware(RequestLatency, histogram=latency)
    app.include_router(router)


_scraper = HTTPBearer(auto_error=False, description="PLEDGEFLOW_METRICS_TOKEN")


def scraper(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_scraper)]) -> None:
    """Only Prometheus, with the metrics token, may read the numbers here."""
    expected: str | None = request.app.state.settings.metrics_token
    if not expected:
        raise ProblemError(404, "metrics are not served here: set PLEDGEFLOW_METRICS_TOKEN or PLEDGEFLOW_METRICS_PORT")
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ProblemError(401, "the metrics token is required", headers={"WWW-Authenticate": "Bearer"})


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(scraper)],
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus text format"},
        **responses(401, 404),
    },
)
def metrics(request: Request) -> Response:
    """Prometheus text exposition format (Bearer PLEDGEFLOW_METRICS_TOKEN)."""
    registry: Any = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def serve_on_own_address(app: FastAPI, settings: Settings) -> tuple[WSGIServer, Thread] | None:
    """With ``PLEDGEFLOW_METRICS_PORT`` set: the same numbers, without a token, on their own address."""
    if settings.metrics_port is None:
        return None
    server, thread = start_http_server(settings.metrics_port, settings.metrics_host, registry=app.state.metrics)
    return server, thread
