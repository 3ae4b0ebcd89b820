"""Liveness and readiness."""

from __future__ import annotations

import asyncio

import aiosmtplib
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import SettingsDep, TemporalDep
from pledgeflow.core.db import engine_for
from pledgeflow.core.settings import Settings
from pledgeflow.temporal.pledge_client import TemporalUnavailable

router = APIRouter(tags=["health"])

CHECK_SECONDS = 3


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Temporal, the database or the SMTP server is not usable"}})
async def readyz(settings: SettingsDep, pledges: TemporalDep) -> JSONResponse:
    """Temporal, the database (and that it takes writes) and the SMTP server all answer; each check says
    what it found, so an operator sees which dependency is down."""
    database, temporal, smtp = await asyncio.gather(
        asyncio.to_thread(_database, settings.database_url), _temporal(pledges), _smtp(settings)
    )
    checks = {"database": database, "temporal": temporal, "smtp": smtp}
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


def _database(url: str) -> str:
    try:
        with engine_for(url).connect() as connection:
            connection.execute(text("SELECT 1"))
            # A replica, or a database set read-only, answers reads: every write would fail.
            postgres = connection.dialect.name == "postgresql"
            if postgres and connection.execute(text("SHOW transaction_read_only")).scalar() == "on":
                return "read-only: writes are refused"
    except SQLAlchemyError as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


async def _temporal(pledges: TemporalDep) -> str:
    try:
        client = await pledges.temporal()
        await asyncio.wait_for(client.service_client.check_health(), timeout=CHECK_SECONDS)
    except (TemporalUnavailable, RuntimeError, OSError, TimeoutError) as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


async def _smtp(settings: Settings) -> str:
    """Connect, EHLO (and STARTTLS or login, as sending does) and NOOP, within a short timeout."""
    smtp = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        use_tls=settings.smtp_security == "tls",
        start_tls=settings.smtp_security == "starttls",
        timeout=CHECK_SECONDS,
    )
    try:
        async with smtp:
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
            await smtp.noop()
    except aiosmtplib.SMTPResponseException as exc:
        return f"refusing: {exc.code} {exc.message}"
    except (aiosmtplib.SMTPException, OSError) as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"
