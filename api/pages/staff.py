"""Staff pages: log in with a staff key, the review queue, a submission in full with the decision form.

The queue is the API's own read (pledgeflow.registry.review_queue: longest waiting first); a decision goes
to the workflow through the same client as ``POST /api/v1/pledges/{id}/decisions``. Vetters (and admins)
decide; any staff member may read a pledge in full, as in the API.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from api.deps import SessionDep, SettingsDep, TemporalDep, client_address, count_against, registry_reachable
from api.pages import labels
from api.pages import staff_session as sessions
from api.pages.access import PostedForm
from api.pages.changes import submission_changes
from api.pages.forms import FieldErrors, FormValues, Message, form_errors
from api.pages.rendering import guard_of, page_url, redirect, render, settings_of
from api.pages.routing import page_router
from api.pages.staff_session import StaffSession
from api.problems import pledge_problem
from pledgeflow.auth.staff_keys import authenticate
from pledgeflow.core import ids
from pledgeflow.core.models import Pledge
from pledgeflow.i18n import N_
from pledgeflow.registry.pledge_history import with_whole_history
from pledgeflow.registry.review_queue import pledges_in_review
from pledgeflow.temporal.pledge_client import PledgeError
from workflows.state import Action, Decision, DecisionInput, EventKind, PledgeState, workflow_id

router = page_router("pages: staff")

QUEUE_SHOWN = 200
_PLEDGE_ID = re.compile(ids.PATTERN)
DECIDED = {
    Decision.approve: N_("“%(title)s” (%(id)s) approved."),
    Decision.reject: N_("“%(title)s” (%(id)s) rejected."),
    Decision.request_changes: N_("“%(title)s” (%(id)s) sent back for changes."),
}


@router.get("/staff/login", response_class=HTMLResponse, name="staff_login_page")
def login_form(request: Request) -> Response:
    return render(request, "staff_login.html", errors=FieldErrors(), values=FormValues())


@router.post("/staff/login", response_class=HTMLResponse)
async def login(request: Request, form: PostedForm, settings: SettingsDep, session: SessionDep) -> Response:
    count_against(request, "staff sign-ins per address", client_address(request))
    key = FormValues.of(form).get("key").strip()
    with registry_reachable():
        account = authenticate(session, key) if key else None
    if account is None:
        errors = FieldErrors()
        errors.add(
            "key",
            Message(N_("This staff key is not known or no longer active.") if key else N_("Enter your staff key.")),
        )
        # The key is never echoed back into the page.
        return render(request, "staff_login.html", status_code=401, errors=errors, values=FormValues())
    response = redirect(page_url(request, "staff_queue_page"))
    sessions.start(request, response, session, account)
    return response


@router.post("/staff/logout", response_class=HTMLResponse)
async def logout(request: Request, session: SessionDep) -> Response:
    """Ends the session on the server: the cookie, kept or copied, opens nothing afterwards."""
    live = sessions.live_session(request, session)
    guard_of(request).check(request, await request.form(), live)
    response = redirect(page_url(request, "staff_login_page", {"logged_out": "1"}))
    sessions.end(request, response, session)
    return response


@router.get("/staff/queue", response_class=HTMLResponse, name="staff_queue_page")
def queue(
    request: Request,
    staff: StaffSession,
    session: SessionDep,
    start: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The queue, QUEUE_SHOWN pledges a page; ``start`` skips that many of the longest waiting."""
    sessions.require_vetter(staff)
    with registry_reachable():
        shown = pledges_in_review(session, QUEUE_SHOWN, start)
        decided_id = request.query_params.get("decided", "")
        decision = request.query_params.get("decision", "")
        notice = None
        if _PLEDGE_ID.match(decided_id) and decision in {choice.value for choice in Decision}:
            decided = session.get(Pledge, decided_id)
            title = decided.title if decided is not None else decided_id
            notice = Message(DECIDED[Decision(decision)], {"title": title, "id": decided_id})
    following = start + QUEUE_SHOWN
    return render(
        request,
        "staff_queue.html",
        items=shown.items,
        notice=notice,
        total=shown.total,
        first=start + 1,
        last=start + len(shown.items),
        first_url=page_url(request, "staff_queue_page") if start else None,
        next_url=page_url(request, "staff_queue_page", {"start": str(following)}) if following < shown.total else None,
    )


def _decision_page(
    request: Request,
    session: Session,
    carried: PledgeState,
    staff_can_decide: bool,
    errors: FieldErrors | None = None,
    values: FormValues | None = None,
    status_code: int = 200,
) -> Response:
    state = with_whole_history(session, carried)
    previous = state.previous_submission
    round_started = state.review_started_at
    chased = {
        event.kind
        for event in state.timeline
        if event.kind in (EventKind.review_overdue, EventKind.review_escalated)
        and (round_started is None or event.at >= round_started)
    }
    return render(
        request,
        "staff_pledge.html",
        status_code=status_code,
        state=state,
        submission=state.submission,
        can_decide=staff_can_decide and Action.decide in state.allowed_actions,
        errors=errors or FieldErrors(),
        values=values or FormValues(),
        badge=labels.badge(state.status.value, state.closure_reason.value if state.closure_reason else None),
        changes=submission_changes(previous, state.submission) if previous is not None else None,
        review_overdue=EventKind.review_overdue in chased,
        review_escalated=EventKind.review_escalated in chased,
        workflow_url=settings_of(request).workflow_ui_url(workflow_id(state.pledge_id)),
    )


@router.get("/staff/pledges/{pledge_id}", response_class=HTMLResponse, name="staff_pledge_page")
async def pledge(
    pledge_id: str, request: Request, staff: StaffSession, session: SessionDep, pledges: TemporalDep
) -> Response:
    state = await pledges.state(pledge_id)
    return _decision_page(request, session, state, sessions.can_decide(staff))


@router.post("/staff/pledges/{pledge_id}/decision", response_class=HTMLResponse, name="staff_decision_form")
async def decide(
    pledge_id: str,
    request: Request,
    staff: StaffSession,
    form: PostedForm,
    session: SessionDep,
    pledges: TemporalDep,
) -> Response:
    sessions.require_vetter(staff)
    values = FormValues.of(form)
    try:
        decision = DecisionInput.model_validate(
            {"decision": values.get("decision"), "note": values.text("note"), "staff": staff.name}
        )
        await pledges.decide(pledge_id, decision)
    except ValidationError as exc:
        errors, status_code = form_errors(exc), 422
    except PledgeError as exc:
        refused = pledge_problem(exc)
        if refused.status not in (403, 409, 422):
            raise
        errors, status_code = FieldErrors(), refused.status
        # The workflow's refusals name the note when it is the problem ("a note is required ...").
        errors.add("note" if refused.status == 422 and "note" in refused.detail.lower() else None, refused.detail)
    else:
        query = {"decided": pledge_id, "decision": decision.decision.value}
        return redirect(page_url(request, "staff_queue_page", query))
    state = await pledges.state(pledge_id)
    return _decision_page(request, session, state, True, errors, values, status_code=status_code)
