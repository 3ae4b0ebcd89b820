"""The pledger's endpoints: submit, then read and act on one pledge with its bearer token.

Each action is an update of the pledge's workflow; whether it is allowed now is the workflow's call.
POST to a collection (reports, extension requests) answers 201, POST to a single thing (withdrawal) 200.

Revisions are conditional: ``GET`` gives the submission version as ``ETag`` and ``PUT .../submission``
requires it back in ``If-Match``. A missing ``If-Match`` is 428 (RFC 6585), so a client that never read
the pledge cannot overwrite a revision it has not seen; one that does not name the current version
(stale, weak or malformed) is 412. ``If-Match: *`` revises whatever version is current.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Request, Response
from pydantic import BaseModel

from api.deps import (
    IdempotencyKey,
    PledgeReader,
    PledgeToken,
    ReportToken,
    SessionDep,
    SettingsDep,
    TemporalDep,
    count_submission,
    keyed_retry_version,
    no_nul_in_body,
    update_id,
)
from api.problems import ProblemError, responses
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue
from pledgeflow.core import links
from pledgeflow.core.settings import Settings
from pledgeflow.registry.pledge_history import with_whole_history
from workflows.state import (
    ActionResult,
    ExtensionRequestInput,
    PledgeState,
    PledgeStatus,
    ReportInput,
    RevisionInput,
    WithdrawalInput,
)
from workflows.submission import ProgressReport, SubmissionInput

router = APIRouter(prefix="/api/v1/pledges", tags=["pledger"], dependencies=[Depends(no_nul_in_body)])

# Every call on an existing pledge can meet these: credentials, the pledge, Temporal or the database down.
_ON_PLEDGE = (401, 403, 404, 429, 503)  # 429: a client guessing staff keys waits
# An action may also be too large (413), or accepted with its answer still pending (202, retry for it).
_ACTION = (*_ON_PLEDGE, 202, 409, 413, 422)
_ETAG = {"ETag": {"description": "The submission version, for If-Match on a revision.", "schema": {"type": "string"}}}


class SubmissionAccepted(BaseModel):
    id: str
    status: PledgeStatus
    manage_token: str
    links: dict[str, str]


def _accepted(settings: Settings, pledge_id: str, token_version: int) -> SubmissionAccepted:
    base = settings.public_base_url
    token = issue(settings.signing_key(), TokenClaims(pledge_id, Purpose.manage, token_version))
    return SubmissionAccepted(
        id=pledge_id,
        status=PledgeStatus.in_review,
        manage_token=token,
        links={"self": links.api_pledge(base, pledge_id), "public": links.pledge_page(base, pledge_id)},
    )


def etag(version: int) -> str:
    return f'"{version}"'


def _expected_version(if_match: str | None) -> int | None:
    """The submission version ``If-Match`` names; ``None`` for ``*`` (whatever is current)."""
    if if_match is None:
        raise ProblemError(428, "If-Match is required: send the ETag of GET /api/v1/pledges/{id}")
    value = if_match.strip()
    if value == "*":
        return None
    if value.startswith('"') and value.endswith('"') and value[1:-1].isdigit():
        return int(value[1:-1])
    raise ProblemError(412, f'If-Match {value!r} does not name a submission version; send the ETag, like "2"')


@router.post("", status_code=202, responses=responses(409, 413, 422, 429, 503))
async def submit_pledge(
    request: Request,
    submission: SubmissionInput,
    pledges: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> SubmissionAccepted:
    """Start the pledge's workflow. The same ``Idempotency-Key`` with the same body answers with the same
    pledge; with another body it is refused (422). Submissions are limited per client address and per
    focal point's email (429 with Retry-After), since each one emails that address."""
    count_submission(request, submission)
    pledge_id = await pledges.start(submission, idempotency_key)
    return _accepted(settings, pledge_id, keyed_retry_version(session, pledge_id, idempotency_key))


# Plumbing of the workflow that is no business of a reader: staff addresses, queue, ladder bookkeeping.
_INTERNAL = {
    "staff",
    "email_task_queue",
    "steps_done",
    "reply_message_ids",
    "idempotency_key",
    "emails_asked",
    "applied_updates",
    "cycle_emails",
    "warnings_pending",
    "warnings_settled_at",
}


@router.get(
    "/{pledge_id}",
    responses={200: {"headers": _ETAG}, **responses(*_ON_PLEDGE)},
    response_model_exclude=_INTERNAL,
)
async def get_pledge(
    pledge_id: str, caller: PledgeReader, session: SessionDep, pledges: TemporalDep, response: Response
) -> PledgeState:
    """The full pledge for its owner (or staff): state, contacts, its whole timeline and reports, and next
    deadline."""
    state = with_whole_history(session, await pledges.state(pledge_id))
    response.headers["ETag"] = etag(state.submission_version)
    return state


@router.put(
    "/{pledge_id}/submission",
    responses={200: {"headers": _ETAG}, **responses(*_ACTION, 412, 428)},
)
async def revise_submission(
    pledge_id: str,
    submission: SubmissionInput,
    claims: PledgeToken,
    pledges: TemporalDep,
    settings: SettingsDep,
    response: Response,
    if_match: Annotated[str | None, Header(alias="If-Match", max_length=100)] = None,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """A whole new submission while changes are requested; ``If-Match`` carries the version it revises."""
    expected = _expected_version(if_match)
    revision = RevisionInput(submission=submission, expected_version=expected)
    key = update_id(settings, idempotency_key, pledge_id, "pledger", "revise", revision)
    result = await pledges.revise(pledge_id, revision, key)
    response.headers["ETag"] = etag(result.submission_version)
    return result


@router.post("/{pledge_id}/reports", status_code=201, responses=responses(*_ACTION))
async def submit_report(
    pledge_id: str,
    report: ProgressReport,
    claims: ReportToken,
    pledges: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """A progress report. With a report link's token it counts for that link's cycle only."""
    action = ReportInput(report=report, source="api", cycle=claims.cycle)
    return await pledges.report(
        pledge_id, action, update_id(settings, idempotency_key, pledge_id, "pledger", "report", action)
    )


@router.post("/{pledge_id}/extension-requests", status_code=201, responses=responses(*_ACTION))
async def request_extension(
    pledge_id: str,
    request: ExtensionRequestInput,
    claims: PledgeToken,
    pledges: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """Ask staff for more time to report, with a reason."""
    key = update_id(settings, idempotency_key, pledge_id, "pledger", "request_extension", request)
    return await pledges.request_extension(pledge_id, request, key)


@router.post("/{pledge_id}/withdrawal", responses=responses(*_ACTION))
async def withdraw(
    pledge_id: str,
    claims: PledgeToken,
    pledges: TemporalDep,
    settings: SettingsDep,
    withdrawal: Annotated[WithdrawalInput | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """Withdraw the pledge (closed, withdrawn); it stays visible in the registry with that reason."""
    action = withdrawal or WithdrawalInput()
    return await pledges.withdraw(
        pledge_id, action, update_id(settings, idempotency_key, pledge_id, "pledger", "withdraw", action)
    )
