"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.deps import SettingsDep, TemporalDep
from pledgeflow.core.db import ping
from pledgeflow.temporal.pledge_client import TemporalUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Temporal or the database is unreachable"}})
async def readyz(settings: SettingsDep, pledges: TemporalDep) -> JSONResponse:
    """Temporal and the database both answer."""
    checks: dict[str, str] = {}
    try:
        await asyncio.to_thread(ping, settings.database_url)
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        client = await pledges.temporal()
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
        checks["temporal"] = "ok"
    except (TemporalUnavailable, RuntimeError, OSError, TimeoutError) as exc:
        checks["temporal"] = f"unreachable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )
