"""Page routes answer in HTML, whatever goes wrong: the API's problems become readable error pages.

The shared dependencies raise :class:`ProblemError` (401, 403, 503, ...) and the pledge client its
:class:`PledgeError` (404, 409, 503, ...) for the JSON API; a page route renders the same status and
detail as a page instead, keeping ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from api.pages.rendering import page_url, redirect, render
from api.problems import TITLES, ProblemError, pledge_problem
from pledgeflow.i18n import N_
from pledgeflow.temporal.pledge_client import PledgeError

ERROR_ADVICE = {
    401: N_("Your link or key is not valid (any more). Use the newest link you were emailed."),
    403: N_("You cannot do this here."),
    404: N_("There is nothing at this address."),
    409: N_("This cannot be done at the pledge's current stage."),
    413: N_("What was sent is too large."),
    422: N_("Something in the request was not valid."),
    429: N_("Too many attempts from here. Please wait a while before trying again."),
    503: N_("The service is busy or briefly unavailable. Please try again in a minute."),
}
# The titles of api.problems.TITLES, for the catalogues: error pages show them translated.
_TITLE_WORDS = (
    N_("Bad request"),
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("Not found"),
    N_("Conflict"),
    N_("Precondition failed"),
    N_("Invalid input"),
    N_("Precondition required"),
    N_("Service unavailable"),
    N_("Error"),
)


class LoginRequired(Exception):
    """No valid staff session: send the browser to the login page."""


def error_page(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    response = render(
        request,
        "error.html",
        status_code=status,
        title=TITLES.get(status, "Error"),
        detail=detail,
        advice=ERROR_ADVICE.get(status, ""),
    )
    for name, value in (headers or {}).items():
        if name.lower() != "www-authenticate":  # a page is not answered with a Bearer challenge
            response.headers[name] = value
    return response


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ProblemError as exc:
                return error_page(request, exc.status, exc.detail, exc.headers)
            except PledgeError as exc:
                problem = pledge_problem(exc)
                return error_page(request, problem.status, problem.detail, problem.headers)
            except RequestValidationError as exc:
                fields = ", ".join(".".join(str(part) for part in error["loc"][1:]) for error in exc.errors())
                return error_page(request, 422, f"not a valid request ({fields})")
            except LoginRequired:
                return redirect(page_url(request, "staff_login_page"))

        return page_handler


def page_router(tag: str) -> APIRouter:
    """Pages stay out of the OpenAPI document: it describes the JSON API only."""
    return APIRouter(route_class=PageRoute, include_in_schema=False, tags=[tag])
