"""The inbound email webhook: a mail provider posts the raw MIME of a reply, exactly as received.

Authentication is a shared secret in the ``X-Pledgeflow-Secret`` header (``PLEDGEFLOW_INBOUND_WEBHOOK_SECRET``).
Status codes, chosen so a provider's usual retry rule (retry on 5xx, give up on 4xx) does the right thing:
- 200: processed; the body says the outcome (accepted, duplicate, auto_reply, too_short, pledge_closed).
- 401: no or wrong secret.
- 413: larger than the receiver accepts; 422: empty, or no ``reply+TOKEN@`` recipient with a valid token.
- 429: more calls from this address than ``PLEDGEFLOW_RATE_LIMIT_INBOUND_WEBHOOK`` allows (with ``Retry-After``;
  the provider retries later, so nothing is lost).
- 503: no secret configured yet (the provider keeps the mail and retries, so nothing is lost while an
  operator sets it), or Temporal / the database unreachable (with ``Retry-After``).
"""

from __future__ import annotations

import hmac
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from api.deps import SettingsDep, TemporalDep, client_address, count_against, registry_reachable
from api.problems import ProblemError, responses, unavailable
from pledgeflow.inbound.receiver import (
    MAX_MESSAGE_BYTES,
    MessageRefused,
    ReplyProcessor,
    ReplyRefused,
    TryLater,
    header_recipients,
)

router = APIRouter(prefix="/api/v1/inbound", tags=["inbound"])


class InboundReceipt(BaseModel):
    outcome: str
    message_id: str
    pledge_id: str
    detail: str


_RAW_MIME = {"requestBody": {"required": True, "content": {"message/rfc822": {"schema": {"type": "string"}}}}}


@router.post(
    "/email",
    responses={
        **responses(401, 422, 429, 503),
        413: {"description": "Message too large", "content": {"application/problem+json": {}}},
    },
    openapi_extra=_RAW_MIME,
)
async def receive_email(
    request: Request,
    settings: SettingsDep,
    pledges: TemporalDep,
    secret: Annotated[str | None, Header(alias="X-Pledgeflow-Secret", max_length=500)] = None,
) -> InboundReceipt:
    """A reply to a report request, as raw MIME: kept, deduplicated, and counted as a report when it is one."""
    count_against(request, "inbound webhook calls per address", client_address(request))
    expected = settings.inbound_webhook_secret
    if not expected:
        raise ProblemError(503, "the inbound webhook is not configured: set PLEDGEFLOW_INBOUND_WEBHOOK_SECRET")
    if secret is None or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise ProblemError(401, "a valid X-Pledgeflow-Secret header is required")
    raw = await request.body()
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProblemError(413, f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
    if not raw.strip():
        raise ProblemError(422, "the body must be the raw MIME message")
    # The headers alone name the recipients: the parts, however deep they nest, are the processor's to read.
    message: EmailMessage = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    processor = ReplyProcessor(settings, pledges)
    try:
        with registry_reachable():
            result = await processor.process(raw, header_recipients(message), envelope_sender=None)
    except ReplyRefused as exc:
        raise ProblemError(422, f"no reply address with a valid token: {exc}") from exc
    except MessageRefused as exc:
        raise ProblemError(422, str(exc)) from exc
    except TryLater as exc:
        raise unavailable("Temporal") from exc
    return InboundReceipt(
        outcome=result.outcome.value, message_id=result.message_id, pledge_id=result.pledge_id, detail=result.detail
    )
