"""RFC 9457 problem+json errors; every error the API gives goes through here."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import InternalError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from pledgeflow.temporal.pledge_client import (
    ActionPending,
    ActionRefused,
    IdempotencyKeyReused,
    NoPledgeIdLeft,
    PayloadTooLarge,
    PledgeClosed,
    PledgeError,
    PledgeNotFound,
    Refusal,
    TemporalUnavailable,
)
from workflows.state import PledgeStatus

PROBLEM_JSON = "application/problem+json"
TITLES = {
    202: "Accepted",
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    pledge_status: str | None = None


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem; ``extra`` lands in the body."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = Problem(title=TITLES.get(status, "Error"), status=status, detail=detail, **extra)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


async def send_problem(
    send: Send,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> None:
    """Answer with a problem from ASGI middleware, before (or instead of) any route."""
    fields = [FieldError.model_validate(error) for error in errors] if errors else None
    problem = Problem(title=TITLES.get(status, "Error"), status=status, detail=detail, errors=fields)
    body = json.dumps(problem.model_dump(exclude_none=True)).encode()
    raw = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# What a database says when it cannot do the work now (refusing connections, failing over, read-only:
# psycopg's ReadOnlySqlTransaction is an InternalError), as against a fault in the request or in our SQL.
DATABASE_OUTAGES = (OperationalError, InternalError)


def unavailable(what: str) -> ProblemError:
    return ProblemError(503, f"{what} is unreachable; try again shortly", headers={"Retry-After": "5"})


REFUSAL_STATUS = {Refusal.not_allowed: 409, Refusal.stale: 412, Refusal.invalid: 422, Refusal.forbidden: 403}


def pledge_problem(error: PledgeError) -> ProblemError:
    """What each answer of a pledge's workflow is over HTTP; a 409 says the status the pledge is in."""
    if isinstance(error, ActionRefused):
        if error.reason is Refusal.not_allowed and error.pledge_status:
            return ProblemError(409, error.message, pledge_status=error.pledge_status)
        return ProblemError(REFUSAL_STATUS[error.reason], error.message)
    if isinstance(error, PledgeClosed):
        return ProblemError(409, str(error), pledge_status=PledgeStatus.closed.value)
    if isinstance(error, PledgeNotFound):
        return ProblemError(404, str(error))
    if isinstance(error, TemporalUnavailable):
        return unavailable("Temporal")
    if isinstance(error, NoPledgeIdLeft):
        return ProblemError(503, str(error), headers={"Retry-After": "1"})
    if isinstance(error, ActionPending):
        # Accepted: it will be applied once; the same request again (same Idempotency-Key) gets its answer.
        return ProblemError(202, str(error), headers={"Retry-After": "5"})
    if isinstance(error, PayloadTooLarge):
        return ProblemError(413, str(error))
    if isinstance(error, IdempotencyKeyReused):
        return ProblemError(422, str(error), errors=[FieldError(field="Idempotency-Key", message=str(error))])
    # The workers did not take the call in time (nothing was applied), the workflow task is failing and being
    # retried, or the state could not be read: each passes soon.
    return ProblemError(503, str(error), headers={"Retry-After": "5"})


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.detail, exc.headers, **exc.extra)

    async def _database(_: Request, exc: Exception) -> JSONResponse:
        """Wherever a route meets a database outage it did not expect, it is a 503, never a 500."""
        problem = unavailable("the database")
        return problem_response(problem.status, problem.detail, problem.headers)

    for outage in DATABASE_OUTAGES:
        app.add_exception_handler(outage, _database)

    @app.exception_handler(PledgeError)
    async def _pledge(_: Request, exc: PledgeError) -> JSONResponse:
        problem = pledge_problem(exc)
        return problem_response(problem.status, problem.detail, problem.headers, **problem.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(field=_field_name(tuple(error["loc"])), message=str(error["msg"])) for error in exc.errors()
        ]
        summary = "; ".join(f"{error.field}: {error.message}" for error in errors)
        return problem_response(422, summary, errors=[error.model_dump() for error in errors])

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI answers a JSON body that is not UTF-8 with a bare 400 ("error parsing the body"), where
            # any other malformed JSON is a 422: it is invalid input all the same.
            error = FieldError(field="body", message="the body is not UTF-8 text, so it cannot be JSON")
            return problem_response(422, f"{error.field}: {error.message}", errors=[error.model_dump()])
        return problem_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    _document_problems(app)


_PROBLEM_HEADERS = {
    "401": {"WWW-Authenticate": {"description": "How to authenticate: Bearer.", "schema": {"type": "string"}}},
    "503": {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}},
    "429": {"Retry-After": {"description": "Seconds until the limit allows again.", "schema": {"type": "integer"}}},
}


def _document_problems(app: FastAPI) -> None:
    """Every error response in the OpenAPI document is what the API really sends: problem+json.

    FastAPI would otherwise also list ``application/json`` (and its own validation-error schema) for 422.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for code, response in operation.get("responses", {}).items():
                    if code.isdigit() and int(code) >= 400:
                        response["content"] = {PROBLEM_JSON: problem}
                        response["description"] = TITLES.get(int(code), response.get("description", "Error"))
                        if code in _PROBLEM_HEADERS:
                            response["headers"] = _PROBLEM_HEADERS[code]
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in components:
            definition = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(definition.pop("$defs", {}), Problem=definition)
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": TITLES[status], "content": {PROBLEM_JSON: {}}} for status in TITLES
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entry declaring these problem statuses."""
    return {status: PROBLEM_RESPONSES[status] for status in statuses}
