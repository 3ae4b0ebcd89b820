"""The FastAPI application: one router per audience, problem+json errors, a lazily connected client of the
pledges' workflows."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from temporalio.client import Client

from api import pages, problems
from api.body_limit import BodyLimit
from api.response_headers import ResponseHeaders
from api.routers import dev, health, inbound, metrics, pledger, registry, staff, unsubscribe
from api.staff_key_guard import StaffKeyGuard
from api.unstorable import RefuseNul
from pledgeflow.auth.rate_limits import RateLimits
from pledgeflow.core.settings import Settings, get_settings
from pledgeflow.inbound.receiver import MAX_MESSAGE_BYTES
from pledgeflow.temporal.pledge_client import PledgeClient


def create_app(settings: Settings | None = None, temporal_client: Client | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Swagger UI and ReDoc from the fastapi-offline package's own copies: /docs works without a CDN.
    app = FastAPIOffline(
        title="Pledgeflow",
        version="0.1.0",
        description="Public pledges from submission to closure: registry, pledger and staff API.",
        static_url="/static-offline-docs",
    )
    app.state.settings = settings
    app.state.pledges = PledgeClient(settings, temporal_client)
    app.state.rate_limits = RateLimits(settings)
    app.add_middleware(StaffKeyGuard, limits=app.state.rate_limits)
    app.add_middleware(
        BodyLimit, default=settings.max_request_bytes, by_path={"/api/v1/inbound/email": MAX_MESSAGE_BYTES}
    )
    app.add_middleware(RefuseNul)
    app.add_middleware(ResponseHeaders, https=settings.https)
    problems.install(app)
    app.include_router(health.router)
    app.include_router(pledger.router)
    app.include_router(registry.router)
    metrics.install(app)
    app.include_router(staff.router)
    pages.install(app)
    app.include_router(inbound.router)
    app.include_router(unsubscribe.router)
    if settings.dev_mode:
        app.include_router(dev.router)
    return app
