"""The public URLs Pledgeflow hands out, in one place so emails, API and pages agree."""

from __future__ import annotations


def pledge_page(base: str, pledge_id: str) -> str:
    """The public registry page."""
    return f"{base.rstrip('/')}/registry/{pledge_id}"


def manage_page(base: str, pledge_id: str, manage_token: str) -> str:
    """The pledger's own page (status, timeline, actions), behind a manage token."""
    return f"{base.rstrip('/')}/pledges/{pledge_id}?token={manage_token}"


def revise_page(base: str, pledge_id: str, manage_token: str) -> str:
    """The revise page: the submission prefilled, while the vetting team asks for changes."""
    return f"{base.rstrip('/')}/pledges/{pledge_id}/revise?token={manage_token}"


def report_form(base: str, pledge_id: str, report_token: str) -> str:
    """The report form behind the emailed link; GET renders, only POST acts."""
    return f"{base.rstrip('/')}/pledges/{pledge_id}/report?token={report_token}"


def unsubscribe_link(base: str, pledge_id: str, unsubscribe_token: str) -> str:
    """The one-click List-Unsubscribe URL of reminder mail (RFC 8058); GET renders, only POST acts."""
    return f"{base.rstrip('/')}/pledges/{pledge_id}/unsubscribe?token={unsubscribe_token}"


def review_page(base: str, pledge_id: str) -> str:
    """The staff decision page (behind the staff login), where review emails send the vetting team."""
    return f"{base.rstrip('/')}/staff/pledges/{pledge_id}"


def api_pledge(base: str, pledge_id: str) -> str:
    return f"{base.rstrip('/')}/api/v1/pledges/{pledge_id}"
