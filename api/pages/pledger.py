"""The pledger's pages: the submission form, the manage page behind the emailed link, the report form.

Tokens are checked by the same functions as the JSON API (api.pages.access on api.deps), and every action
goes to the pledge's workflow through the same client (pledgeflow.temporal.pledge_client); the workflow
decides what is allowed now. A GET never acts (mail scanners open links): only a POST with this browser's
CSRF token does.
"""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from api.deps import SessionDep, SettingsDep, TemporalDep, count_submission, keyed_retry_version
from api.pages import labels
from api.pages.access import ManageForm, ManageLink, PostedForm, ReportForm, ReportLink
from api.pages.changes import submission_changes
from api.pages.form_models import (
    DELIVERABLE_ROWS,
    MAX_DELIVERABLE_ROWS,
    MAX_PARTNER_ROWS,
    PARTNER_ROWS,
    REPORT_PARTNER_ROWS,
    read_report,
    read_submission,
    row_count,
    submission_values,
)
from api.pages.forms import FieldErrors, FormValues, Message, form_errors
from api.pages.languages import language_of, speak_pledge_language
from api.pages.rendering import page_url, redirect, render
from api.pages.routing import page_router
from api.problems import pledge_problem
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue
from pledgeflow.core import links
from pledgeflow.i18n import N_
from pledgeflow.registry.pledge_history import with_whole_history
from pledgeflow.temporal.pledge_client import ActionRefused, PledgeError, Refusal
from workflows.state import (
    Action,
    EventKind,
    ExtensionRequestInput,
    PledgeState,
    ReportInput,
    RevisionInput,
    TimelineEvent,
    WithdrawalInput,
)

router = page_router("pages: pledger")

NOTICES = {
    "extension-requested": N_("Your request for an extension of “%(title)s” was sent to the secretariat."),
    "withdrawn": N_("Your pledge “%(title)s” has been withdrawn. It stays in the registry, marked withdrawn."),
    "revised": N_("Your revision of “%(title)s” is sent: the vetting team will review it and email you."),
}
# The pledger's own page shows their steps and the staff's decisions, not the notifications among staff
# and operators (docs/lifecycle.md §17).
NOT_FOR_THE_PLEDGER = frozenset(
    {
        EventKind.review_overdue,
        EventKind.review_escalated,
        EventKind.email_skipped,
        EventKind.email_failed,
        EventKind.email_unconfirmed,
        EventKind.registry_behind,
    }
)


def pledger_timeline(state: PledgeState) -> list[TimelineEvent]:
    return [event for event in state.timeline if event.kind not in NOT_FOR_THE_PLEDGER]


def _notice(request: Request, state: PledgeState) -> Message | None:
    text = NOTICES.get(request.query_params.get("done", ""))
    return Message(text, {"title": state.submission.title}) if text else None


# --- Submission -----------------------------------------------------------------------------------


def _submission_page(request: Request, values: FormValues, errors: FieldErrors, status_code: int = 200) -> Response:
    values.single.setdefault("language", language_of(request))
    return render(
        request,
        "submit_form.html",
        status_code=status_code,
        values=values,
        errors=errors,
        **_rows_shown(values),
        # One key per filled-in form: a double click or a resent POST maps to the same pledge.
        idempotency_key=values.get("idempotency_key") or secrets.token_urlsafe(16),
    )


def _rows_shown(values: FormValues) -> dict[str, int]:
    """How many deliverable and partner rows the submission's fields show (submission and revise alike)."""
    return {
        "deliverable_rows": row_count(values, "deliverable_rows", DELIVERABLE_ROWS, MAX_DELIVERABLE_ROWS),
        "max_deliverable_rows": MAX_DELIVERABLE_ROWS,
        "partner_rows": row_count(values, "partner_rows", PARTNER_ROWS, MAX_PARTNER_ROWS),
    }


def _another_deliverable_asked(values: FormValues) -> bool:
    """The form's "add another deliverable" button: one more row, and the form shown again as typed."""
    if not values.get("add_deliverable"):
        return False
    rows = row_count(values, "deliverable_rows", DELIVERABLE_ROWS, MAX_DELIVERABLE_ROWS)
    values.single["deliverable_rows"] = str(min(rows + 1, MAX_DELIVERABLE_ROWS))
    return True


@router.get("/submit", response_class=HTMLResponse)
def submission_form(request: Request) -> Response:
    return _submission_page(request, FormValues(), FieldErrors())


@router.post("/submit", response_class=HTMLResponse)
async def submit(
    request: Request, form: PostedForm, pledges: TemporalDep, settings: SettingsDep, session: SessionDep
) -> Response:
    values = FormValues.of(form)
    if _another_deliverable_asked(values):
        return _submission_page(request, values, FieldErrors())
    parsed = read_submission(values)
    if parsed.model is None:
        return _submission_page(request, values, parsed.errors, status_code=422)
    count_submission(request, parsed.model)
    key = values.get("idempotency_key")[:200] or None
    pledge_id = await pledges.start(parsed.model, key)
    # A retried form never hands out a token for a pledge whose tokens were revoked.
    version = keyed_retry_version(session, pledge_id, key)
    token = issue(settings.signing_key(), TokenClaims(pledge_id, Purpose.manage, version))
    return render(
        request,
        "submit_done.html",
        pledge_id=pledge_id,
        title=parsed.model.title,
        email=parsed.model.focal_point.email,
        manage_url=links.manage_page(settings.public_base_url, pledge_id, token),
        public_url=links.pledge_page(settings.public_base_url, pledge_id),
    )


# --- The manage page ------------------------------------------------------------------------------


def _manage_page(
    request: Request,
    session: Session,
    carried: PledgeState,
    token: str,
    errors: FieldErrors | None = None,
    values: FormValues | None = None,
    status_code: int = 200,
) -> Response:
    state = with_whole_history(session, carried)
    speak_pledge_language(request, state.submission.language)
    return render(
        request,
        "manage.html",
        status_code=status_code,
        state=state,
        timeline=pledger_timeline(state),
        token=token,
        notice=_notice(request, state),
        errors=errors or FieldErrors(),
        values=values or FormValues(),
        badge=labels.badge(state.status.value, state.closure_reason.value if state.closure_reason else None),
        can_report=Action.report in state.allowed_actions,
        can_ask_extension=Action.request_extension in state.allowed_actions,
        can_withdraw=Action.withdraw in state.allowed_actions,
        can_revise=Action.revise in state.allowed_actions,
        report_url=page_url(request, "report_page", {"token": token}, pledge_id=state.pledge_id),
        revise_url=page_url(request, "revise_page", {"token": token}, pledge_id=state.pledge_id),
    )


def _back_to_manage(request: Request, pledge_id: str, token: str, notice: str) -> Response:
    return redirect(page_url(request, "manage_page", {"token": token, "done": notice}, pledge_id=pledge_id))


@router.get("/pledges/{pledge_id}", response_class=HTMLResponse, name="manage_page")
async def manage(
    pledge_id: str, request: Request, link: ManageLink, session: SessionDep, pledges: TemporalDep
) -> Response:
    return _manage_page(request, session, await pledges.state(pledge_id), link.text)


@router.post("/pledges/{pledge_id}/extension-request", response_class=HTMLResponse, name="extension_request_form")
async def request_extension(
    pledge_id: str, request: Request, owner: ManageForm, form: PostedForm, session: SessionDep, pledges: TemporalDep
) -> Response:
    values = FormValues.of(form)
    errors = FieldErrors()
    try:
        request_input = ExtensionRequestInput(reason=values.get("reason").strip())
        await pledges.request_extension(pledge_id, request_input)
    except ValidationError as exc:
        errors = form_errors(exc)
    except PledgeError as exc:
        refused = pledge_problem(exc)
        if refused.status not in (409, 422):
            raise
        errors.add("reason", refused.detail)
    if errors:
        state = await pledges.state(pledge_id)
        return _manage_page(request, session, state, owner.text, errors, values, status_code=422)
    return _back_to_manage(request, pledge_id, owner.text, "extension-requested")


@router.get("/pledges/{pledge_id}/withdraw", response_class=HTMLResponse, name="withdraw_page")
async def withdraw_confirmation(pledge_id: str, request: Request, link: ManageLink, pledges: TemporalDep) -> Response:
    state = await pledges.state(pledge_id)
    speak_pledge_language(request, state.submission.language)
    return render(
        request, "withdraw_confirm.html", state=state, token=link.text, errors=FieldErrors(), values=FormValues()
    )


@router.post("/pledges/{pledge_id}/withdraw", response_class=HTMLResponse)
async def withdraw(
    pledge_id: str, request: Request, owner: ManageForm, form: PostedForm, pledges: TemporalDep
) -> Response:
    values = FormValues.of(form)
    try:
        withdrawal = WithdrawalInput(reason=values.text("reason"))
        await pledges.withdraw(pledge_id, withdrawal)
    except ValidationError as exc:
        errors, status_code = form_errors(exc), 422
    except PledgeError as exc:
        refused = pledge_problem(exc)
        if refused.status != 409:
            raise
        errors, status_code = FieldErrors(), 409
        errors.add(None, refused.detail)
    else:
        return _back_to_manage(request, pledge_id, owner.text, "withdrawn")
    state = await pledges.state(pledge_id)
    speak_pledge_language(request, state.submission.language)
    return render(
        request,
        "withdraw_confirm.html",
        status_code=status_code,
        state=state,
        token=owner.text,
        errors=errors,
        values=values,
    )


# --- The report form ------------------------------------------------------------------------------


def _report_page(
    request: Request,
    session: Session,
    carried: PledgeState,
    claims: TokenClaims,
    token: str,
    values: FormValues,
    errors: FieldErrors,
    status_code: int = 200,
) -> Response:
    state = with_whole_history(session, carried)
    cycle = claims.cycle if claims.cycle is not None else state.cycle
    speak_pledge_language(request, state.submission.language)
    return render(
        request,
        "report_form.html",
        status_code=status_code,
        state=state,
        token=token,
        cycle=cycle,
        already=[report for report in state.reports if report.cycle == cycle],
        values=values,
        errors=errors,
        partner_rows=REPORT_PARTNER_ROWS,
    )


@router.get("/pledges/{pledge_id}/report", response_class=HTMLResponse, name="report_page")
async def report_form(
    pledge_id: str, request: Request, link: ReportLink, session: SessionDep, pledges: TemporalDep
) -> Response:
    """Only renders: a mail scanner opening the link must not file anything."""
    state = await pledges.state(pledge_id)
    return _report_page(request, session, state, link.claims, link.text, FormValues(), FieldErrors())


@router.post("/pledges/{pledge_id}/report", response_class=HTMLResponse)
async def submit_report(
    pledge_id: str,
    request: Request,
    author: ReportForm,
    form: PostedForm,
    session: SessionDep,
    pledges: TemporalDep,
    settings: SettingsDep,
) -> Response:
    claims, values = author.claims, FormValues.of(form)
    state = await pledges.state(pledge_id)
    parsed = read_report(values, [deliverable.title for deliverable in state.submission.deliverables])
    if parsed.model is None:
        return _report_page(request, session, state, claims, author.text, values, parsed.errors, status_code=422)
    try:
        result = await pledges.report(pledge_id, ReportInput(report=parsed.model, source="form", cycle=claims.cycle))
    except PledgeError as exc:
        refused = pledge_problem(exc)
        if refused.status not in (409, 422):
            raise
        errors = FieldErrors()
        errors.add(None, refused.detail)
        return _report_page(request, session, state, claims, author.text, values, errors, status_code=refused.status)
    speak_pledge_language(request, state.submission.language)
    return render(
        request,
        "report_done.html",
        state=state,
        result=result,
        badge=labels.badge(result.status.value),
        public_url=links.pledge_page(settings.public_base_url, pledge_id),
    )


# --- The revise page ------------------------------------------------------------------------------


def _revise_page(
    request: Request,
    state: PledgeState,
    token: str,
    values: FormValues,
    errors: FieldErrors,
    status_code: int = 200,
    changed_since: PledgeState | None = None,
) -> Response:
    speak_pledge_language(request, state.submission.language)
    changes = []
    if changed_since is not None and state.previous_submission is not None:
        changes = submission_changes(state.previous_submission, state.submission)
    return render(
        request,
        "revise_form.html",
        status_code=status_code,
        state=state,
        token=token,
        values=values,
        errors=errors,
        can_revise=Action.revise in state.allowed_actions,
        changes=changes,
        stale=changed_since is not None,
        **_rows_shown(values),
    )


@router.get("/pledges/{pledge_id}/revise", response_class=HTMLResponse, name="revise_page")
async def revise_form(pledge_id: str, request: Request, link: ManageLink, pledges: TemporalDep) -> Response:
    """The submission as it stands, to be edited; only renders (the emailed link may be opened by a scanner)."""
    state = await pledges.state(pledge_id)
    values = submission_values(state.submission, state.submission_version)
    return _revise_page(request, state, link.text, values, FieldErrors())


@router.post("/pledges/{pledge_id}/revise", response_class=HTMLResponse)
async def revise(
    pledge_id: str, request: Request, owner: ManageForm, form: PostedForm, pledges: TemporalDep
) -> Response:
    values = FormValues.of(form)
    if _another_deliverable_asked(values):
        return _revise_page(request, await pledges.state(pledge_id), owner.text, values, FieldErrors())
    parsed = read_submission(values)
    if parsed.model is None:
        return _revise_page(request, await pledges.state(pledge_id), owner.text, values, parsed.errors, 422)
    version = values.get("version")
    expected = int(version) if version.isdigit() else None
    try:
        await pledges.revise(pledge_id, RevisionInput(submission=parsed.model, expected_version=expected))
    except ActionRefused as exc:
        state = await pledges.state(pledge_id)
        errors = FieldErrors()
        if exc.reason == Refusal.stale:
            # Someone revised it since this page was opened: keep what this person typed, show what changed,
            # and let them send it again on top of the current version.
            errors.add(None, Message(STALE, {"version": state.submission_version}))
            values.single["version"] = str(state.submission_version)
            return _revise_page(request, state, owner.text, values, errors, 412, changed_since=state)
        refused = pledge_problem(exc)
        errors.add(None, refused.detail)
        return _revise_page(request, state, owner.text, values, errors, refused.status)
    return _back_to_manage(request, pledge_id, owner.text, "revised")


STALE = N_(
    "The pledge was revised by someone else while you were editing: version %(version)s is now current. "
    "What changed is shown below; your own changes are kept in the form. Check them and send again."
)
