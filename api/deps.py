"""Dependencies shared by the routers, as ``Annotated`` aliases: settings, the registry, the pledges' workflows,
who is calling.

Who may call what (docs/api.md §4; the status codes: §5):
- a pledger holds a manage token for one pledge (from the submission response or an emailed link); it
  reads the pledge and acts on it. A report token from an emailed link only submits that cycle's report.
  An unsubscribe link's token only stops reminders to its one recipient (``unsubscribe_claims``); as a
  bearer credential, or on any other page, it is invalid.
- staff hold a key with one role: vetter (review queue, decisions), operator (extensions, closure),
  admin (everything staff can do). Any staff member may read a pledge in full; the pledger's own actions
  (revise, report, ask for an extension, withdraw) stay the pledger's.
401 means no or bad credentials (forged, expired, revoked), 403 valid credentials that do not reach this
pledge or action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlmodel import Session

from api.problems import DATABASE_OUTAGES, FieldError, ProblemError, unavailable
from pledgeflow.auth.idempotency import LinksRevoked, action_update_id, check_not_revoked
from pledgeflow.auth.rate_limits import RateLimited, RateLimits
from pledgeflow.auth.revocation import current_token_version
from pledgeflow.auth.staff_keys import KEY_PREFIX, Role, authenticate
from pledgeflow.auth.tokens import Purpose, TokenClaims, TokenError, verify
from pledgeflow.core.db import engine_for, reading_engine
from pledgeflow.core.models import StaffAccount
from pledgeflow.core.settings import Settings
from pledgeflow.temporal.pledge_client import PledgeClient
from workflows.submission import Submission, unstorable


async def get_settings(request: Request) -> Settings:
    # async: a plain function would be called on a worker thread, a thread hop on every request for nothing.
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    with Session(engine_for(settings.database_url), expire_on_commit=False) as session, registry_reachable():
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_reading_session(settings: SettingsDep) -> Iterator[Session]:
    """A session that reads outside a transaction (``reading_engine``): for a route whose reads need not
    share one snapshot (the search: one statement, and on SQLite a broadness check before it)."""
    with Session(reading_engine(settings.database_url), expire_on_commit=False) as session, registry_reachable():
        yield session


ReadingSessionDep = Annotated[Session, Depends(get_reading_session)]


@contextmanager
def registry_reachable() -> Iterator[None]:
    """A database that does not answer, or answers that it cannot write now, is a 503 with ``Retry-After``,
    wherever the read or write happens."""
    try:
        yield
    except DATABASE_OUTAGES as exc:
        raise unavailable("the database") from exc


def client_address(request: Request) -> str:
    """Who is calling, as far as limits go: the client's address (uvicorn puts a trusted proxy's
    X-Forwarded-For here, see FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


def too_many(error: RateLimited) -> ProblemError:
    return ProblemError(429, error.what, headers={"Retry-After": str(error.retry_after)})


def count_against(request: Request, limit: str, client: str) -> None:
    """One more request of ``client`` against the named limit (pledgeflow.auth.rate_limits); 429 when over."""
    limits: RateLimits = request.app.state.rate_limits
    with registry_reachable():
        try:
            limits.hit(limit, client)
        except RateLimited as exc:
            raise too_many(exc) from exc


def count_submission(request: Request, submission: Submission) -> None:
    count_against(request, "submissions per address", client_address(request))
    count_against(request, "submissions per email", submission.focal_point.email)


def _unstorable_at(value: Any, path: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """Where in a parsed JSON value a string holds what no database stores, and why: the field a 422 names."""
    if isinstance(value, str):
        problem = unstorable(value)
        return (".".join(path) or "body", problem) if problem else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if (found := _unstorable_at(item, (*path, str(key)))) is not None:
            return found
    return None


async def no_nul_in_body(request: Request) -> None:
    """A JSON body with the NUL character (or a lone surrogate, ``\\ud800``) in any string is 422.

    No field means it, and the registry cannot store it: accepted, it would fail later where the workflow
    writes the registry (a 503 for the caller, a projection retrying for ever).
    """
    if "json" not in request.headers.get("content-type", "") or not await request.body():
        return
    try:
        body = await request.json()
    except ValueError:
        return  # not JSON after all: the body's own validation answers
    if (found := _unstorable_at(body)) is not None:
        error = FieldError(field=found[0], message=found[1])
        raise ProblemError(422, f"{error.field}: {error.message}", errors=[error.model_dump()])


def keyed_retry_version(session: Session, pledge_id: str, idempotency_key: str | None) -> int:
    """The token version a submission's answer may carry: never one of a pledge whose tokens were revoked."""
    with registry_reachable():
        version = current_token_version(session, pledge_id) if idempotency_key else 1
    try:
        check_not_revoked(version, bool(idempotency_key))
    except LinksRevoked as exc:
        raise ProblemError(409, "this pledge's links were revoked; its focal point was emailed a new one") from exc
    return version


def get_pledge_client(request: Request) -> PledgeClient:
    """The app's one client of the pledges' workflows. It connects on first use, so credentials and input
    are checked (401, 422) before Temporal is needed."""
    pledges: PledgeClient = request.app.state.pledges
    return pledges


TemporalDep = Annotated[PledgeClient, Depends(get_pledge_client)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Send the same key again to retry: the request is applied once, and answered as the first was.",
    ),
]


def update_id(
    settings: Settings, key: str | None, pledge_id: str, caller: str, action: str, body: BaseModel
) -> str | None:
    """The workflow update id of an action sent with an Idempotency-Key (pledgeflow.auth.idempotency)."""
    return action_update_id(settings.signing_key(), key, pledge_id, caller, action, body)


_bearer = HTTPBearer(auto_error=False, description="A pledge's manage or report token, or a staff key.")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _required(token: str | None) -> str:
    if not token:
        raise _unauthorized("a bearer token is required")
    return token


def _bearer_value(credentials: HTTPAuthorizationCredentials | None) -> str:
    return _required(credentials.credentials if credentials is not None else None)


def _token_max_age(settings: Settings, purpose: Purpose) -> int:
    days = settings.report_token_days if purpose == Purpose.report else settings.manage_token_days
    return days * 86_400


# The purposes a bearer credential (or a page's token) may have. An unsubscribe link's token is none of
# them: it does one thing, at its own address (unsubscribe_claims), and is "token invalid" anywhere else.
BEARER_PURPOSES = (Purpose.manage, Purpose.report)


def _pledge_claims(
    settings: Settings, session: Session, token: str, purposes: tuple[Purpose, ...] = BEARER_PURPOSES
) -> TokenClaims:
    """The claims of a valid, unrevoked pledge token of one of ``purposes``; 401 otherwise."""
    reason = "token invalid"
    for purpose in purposes:
        try:
            claims = verify(settings.signing_key(), token, purpose, _token_max_age(settings, purpose))
        except TokenError as exc:
            if str(exc) != "token invalid":
                reason = str(exc)  # a genuine token of this purpose, expired: say so
            continue
        if purpose == Purpose.report and claims.cycle is None:
            raise _unauthorized("token invalid")
        with registry_reachable():
            version = current_token_version(session, claims.pledge_id)
        if claims.version != version:
            raise _unauthorized("token revoked")
        return claims
    raise _unauthorized(reason)


def _staff_account(session: Session, key: str) -> StaffAccount:
    with registry_reachable():
        account = authenticate(session, key)
    if account is None:
        raise _unauthorized("unknown or inactive staff key")
    return account


@dataclass(frozen=True)
class Caller:
    """Whoever passed authentication: the pledger (with the token's claims) or a staff member."""

    claims: TokenClaims | None = None
    staff: StaffAccount | None = None

    @property
    def actor(self) -> str:
        return f"staff:{self.staff.name}" if self.staff is not None else "pledger"


def _pledger(
    pledge_id: str, settings: Settings, session: Session, token: str, purposes: frozenset[Purpose], action: str
) -> TokenClaims:
    if token.startswith(KEY_PREFIX):
        _staff_account(session, token)
        raise ProblemError(403, f"{action} is the pledger's own action; a staff key cannot do it")
    claims = _pledge_claims(settings, session, token)
    if claims.pledge_id != pledge_id:
        raise ProblemError(403, "this token belongs to another pledge")
    if claims.purpose not in purposes:
        raise ProblemError(403, f"this {claims.purpose.value} token cannot be used for {action}")
    return claims


def unsubscribe_claims(pledge_id: str, settings: Settings, session: Session, token: str | None) -> TokenClaims:
    """The token of a List-Unsubscribe link of this pledge, naming its recipient: 401 for any other token."""
    claims = _pledge_claims(settings, session, _required(token), (Purpose.unsubscribe,))
    if claims.recipient is None:
        raise _unauthorized("token invalid")
    if claims.pledge_id != pledge_id:
        raise ProblemError(403, "this link belongs to another pledge")
    return claims


def pledge_reader(pledge_id: str, settings: SettingsDep, session: SessionDep, credentials: BearerDep) -> Caller:
    """The pledge's manage token, or any staff key."""
    token = _bearer_value(credentials)
    if token.startswith(KEY_PREFIX):
        return Caller(staff=_staff_account(session, token))
    return Caller(claims=_pledger(pledge_id, settings, session, token, frozenset({Purpose.manage}), "reading"))


def owner_claims(pledge_id: str, settings: Settings, session: Session, token: str | None) -> TokenClaims:
    """The pledge's manage token: revising, asking for an extension, withdrawing."""
    return _pledger(pledge_id, settings, session, _required(token), frozenset({Purpose.manage}), "this action")


def author_claims(pledge_id: str, settings: Settings, session: Session, token: str | None) -> TokenClaims:
    """The pledge's manage token, or a report token from an emailed link (scoped to its cycle)."""
    purposes = frozenset({Purpose.manage, Purpose.report})
    return _pledger(pledge_id, settings, session, _required(token), purposes, "reporting")


def pledge_owner(pledge_id: str, settings: SettingsDep, session: SessionDep, credentials: BearerDep) -> TokenClaims:
    return owner_claims(pledge_id, settings, session, _bearer_value(credentials))


def report_author(pledge_id: str, settings: SettingsDep, session: SessionDep, credentials: BearerDep) -> TokenClaims:
    return author_claims(pledge_id, settings, session, _bearer_value(credentials))


PledgeReader = Annotated[Caller, Depends(pledge_reader)]
PledgeToken = Annotated[TokenClaims, Depends(pledge_owner)]
ReportToken = Annotated[TokenClaims, Depends(report_author)]


def staff_with(*roles: Role) -> Callable[..., StaffAccount]:
    """A dependency admitting staff keys of these roles (admin always): 401 without a key, 403 otherwise."""
    allowed = {role.value for role in (*roles, Role.admin)}
    names = " or ".join(role.value for role in (*roles, Role.admin))

    def staff_member(settings: SettingsDep, session: SessionDep, credentials: BearerDep) -> StaffAccount:
        token = _bearer_value(credentials)
        if not token.startswith(KEY_PREFIX):
            _pledge_claims(settings, session, token)
            raise ProblemError(403, f"this needs a staff key ({names}); a pledge token cannot do it")
        account = _staff_account(session, token)
        if account.role not in allowed:
            raise ProblemError(403, f"this needs the role {names}; {account.name} is {account.role}")
        return account

    return staff_member


Vetter = Annotated[StaffAccount, Depends(staff_with(Role.vetter))]
Operator = Annotated[StaffAccount, Depends(staff_with(Role.operator))]
