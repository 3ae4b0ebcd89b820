"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from temporalio.client import Client

from api.problems import ProblemError, unavailable
from pledgeflow.db import engine_for
from pledgeflow.models import Pledge
from pledgeflow.settings import Settings
from pledgeflow.tokens import Purpose, TokenClaims, TokenError, verify


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    try:
        with Session(engine_for(settings.database_url), expire_on_commit=False) as session:
            yield session
    except OperationalError as exc:
        raise unavailable("the database") from exc


SessionDep = Annotated[Session, Depends(get_session)]


async def get_temporal(request: Request) -> Client:
    client: Client = await request.app.state.temporal.client()
    return client


TemporalDep = Annotated[Client, Depends(get_temporal)]

_bearer = HTTPBearer(auto_error=False)


def pledge_token(
    pledge_id: str,
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenClaims:
    """A valid manage token for the pledge in the path: 401 without or with a bad one, 403 for another pledge."""
    if credentials is None:
        raise ProblemError(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = verify(
            settings.signing_key(), credentials.credentials, Purpose.manage, settings.manage_token_days * 86_400
        )
    except TokenError as exc:
        raise ProblemError(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
    if claims.pledge_id != pledge_id:
        raise ProblemError(403, "this token belongs to another pledge")
    row = session.get(Pledge, pledge_id)
    if row is not None and claims.version != row.token_version:
        raise ProblemError(401, "token revoked", headers={"WWW-Authenticate": "Bearer"})
    return claims


PledgeToken = Annotated[TokenClaims, Depends(pledge_token)]
