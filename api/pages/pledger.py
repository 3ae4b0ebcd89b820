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

from api.deps import SessionDep, SettingsDep, TemporalDep, count_submission, keyed_retry_version
from api.pages import labels
from api.pages.access import ManageForm, ManageLink, PostedForm, ReportForm, ReportLink
from api.pages.form_models import (
    DELIVERABLE_ROWS,
    MAX_DELIVERABLE_ROWS,
    PARTNER_ROWS,
    REPORT_PARTNER_ROWS,
    read_report,
    read_submission,
    row_count,
)
from api.pages.forms import FieldErrors, FormValues, field_errors, validation_errors
from api.pages.rendering import page_url, redirect, render
from api.pages.routing import page_router
from api.problems import pledge_problem
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue
from pledgeflow.core import links
from pledgeflow.temporal.pledge_client import PledgeError
from workflows.state import (
    Action,
    ExtensionRequestInput,
    PledgeState,
    ReportInput,
    WithdrawalInput,
)

router = page_router("pages: pledger")

NOTICES = {
    "extension-requested": "Your request for an extension was sent to the secretariat.",
    "withdrawn": "Your pledge has been withdrawn. It stays in the registry, marked withdrawn.",
}


# --- Submission -----------------------------------------------------------------------------------


def _submission_page(request: Request, values: FormValues, errors: FieldErrors, status_code: int = 200) -> Response:
    return render(
        request,
        "submit_form.html",
        status_code=status_code,
        values=values,
        errors=errors,
        deliverable_rows=row_count(values, "deliverable_rows", DELIVERABLE_ROWS, MAX_DELIVERABLE_ROWS),
        max_deliverable_rows=MAX_DELIVERABLE_ROWS,
        partner_rows=PARTNER_ROWS,
        # One key per filled-in form: a double click or a resent POST maps to the same pledge.
        idempotency_key=values.get("idempotency_key") or secrets.token_urlsafe(16),
    )


@router.get("/submit", response_class=HTMLResponse)
def submission_form(request: Request) -> Response:
    return _submission_page(request, FormValues(), FieldErrors())


@router.post("/submit", response_class=HTMLResponse)
async def submit(
    request: Request, form: PostedForm, pledges: TemporalDep, settings: SettingsDep, session: SessionDep
) -> Response:
    values = FormValues.of(form)
    if values.get("add_deliverable"):
        rows = row_count(values, "deliverable_rows", DELIVERABLE_ROWS, MAX_DELIVERABLE_ROWS)
        values.single["deliverable_rows"] = str(min(rows + 1, MAX_DELIVERABLE_ROWS))
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
    state: PledgeState,
    token: str,
    errors: FieldErrors | None = None,
    values: FormValues | None = None,
    status_code: int = 200,
) -> Response:
    notice = NOTICES.get(request.query_params.get("done", ""))
    return render(
        request,
        "manage.html",
        status_code=status_code,
        state=state,
        token=token,
        notice=notice,
        errors=errors or FieldErrors(),
        values=values or FormValues(),
        badge=labels.badge(state.status.value, state.closure_reason.value if state.closure_reason else None),
        can_report=Action.report in state.allowed_actions,
        can_ask_extension=Action.request_extension in state.allowed_actions,
        can_withdraw=Action.withdraw in state.allowed_actions,
        report_url=page_url(request, "report_page", {"token": token}, pledge_id=state.pledge_id),
    )


def _back_to_manage(request: Request, pledge_id: str, token: str, notice: str) -> Response:
    return redirect(page_url(request, "manage_page", {"token": token, "done": notice}, pledge_id=pledge_id))


@router.get("/pledges/{pledge_id}", response_class=HTMLResponse, name="manage_page")
async def manage(pledge_id: str, request: Request, link: ManageLink, pledges: TemporalDep) -> Response:
    return _manage_page(request, await pledges.state(pledge_id), link.text)


@router.post("/pledges/{pledge_id}/extension-request", response_class=HTMLResponse, name="extension_request_form")
async def request_extension(
    pledge_id: str, request: Request, owner: ManageForm, form: PostedForm, pledges: TemporalDep
) -> Response:
    values = FormValues.of(form)
    errors = FieldErrors()
    try:
        request_input = ExtensionRequestInput(reason=values.get("reason").strip())
        await pledges.request_extension(pledge_id, request_input)
    except ValidationError as exc:
        errors = field_errors(validation_errors(exc))
    except PledgeError as exc:
        refused = pledge_problem(exc)
        if refused.status not in (409, 422):
            raise
        errors.add("reason", refused.detail)
    if errors:
        return _manage_page(request, await pledges.state(pledge_id), owner.text, errors, values, status_code=422)
    return _back_to_manage(request, pledge_id, owner.text, "extension-requested")


@router.get("/pledges/{pledge_id}/withdraw", response_class=HTMLResponse, name="withdraw_page")
async def withdraw_confirmation(pledge_id: str, request: Request, link: ManageLink, pledges: TemporalDep) -> Response:
    state = await pledges.state(pledge_id)
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
        errors, status_code = field_errors(validation_errors(exc)), 422
    except PledgeError as exc:
        refused = pledge_problem(exc)
        if refused.status != 409:
            raise
        errors, status_code = FieldErrors(), 409
        errors.add(None, refused.detail)
    else:
        return _back_to_manage(request, pledge_id, owner.text, "withdrawn")
    state = await pledges.state(pledge_id)
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
    state: PledgeState,
    claims: TokenClaims,
    token: str,
    values: FormValues,
    errors: FieldErrors,
    status_code: int = 200,
) -> Response:
    cycle = claims.cycle if claims.cycle is not None else state.cycle
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
async def report_form(pledge_id: str, request: Request, link: ReportLink, pledges: TemporalDep) -> Response:
    """Only renders: a mail scanner opening the link must not file anything."""
    state = await pledges.state(pledge_id)
    return _report_page(request, state, link.claims, link.text, FormValues(), FieldErrors())


@router.post("/pledges/{pledge_id}/report", response_class=HTMLResponse)
async def submit_report(
    pledge_id: str,
    request: Request,
    author: ReportForm,
    form: PostedForm,
    pledges: TemporalDep,
    settings: SettingsDep,
) -> Response:
    claims, values = author.claims, FormValues.of(form)
    state = await pledges.state(pledge_id)
    parsed = read_report(values, [deliverable.title for deliverable in state.submission.deliverables])
    if parsed.model is None:
        return _report_page(request, state, claims, author.text, values, parsed.errors, status_code=422)
    try:
        result = await pledges.report(pledge_id, ReportInput(report=parsed.model, source="form", cycle=claims.cycle))
    except PledgeError as exc:
        refused = pledge_problem(exc)
        if refused.status not in (409, 422):
            raise
        errors = FieldErrors()
        errors.add(None, refused.detail)
        return _report_page(request, state, claims, author.text, values, errors, status_code=refused.status)
    return render(
        request,
        "report_done.html",
        state=state,
        result=result,
        badge=labels.badge(result.status.value),
        public_url=links.pledge_page(settings.public_base_url, pledge_id),
    )
