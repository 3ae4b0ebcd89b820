"""Signed, expiring, single-purpose tokens scoped to one pledge (docs/api.md §4).

A token carries the pledge id, its purpose, the pledge's token version (bumping the version in the
registry revokes every earlier token) and, for report links, the reporting cycle. An unsubscribe link's
token also names its recipient, as a keyed digest of the address: the link stops reminders to that one
contact, and the address itself stays out of URLs and the logs that keep them.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Purpose(StrEnum):
    manage = "manage"
    report = "report"
    unsubscribe = "unsubscribe"  # the one-click List-Unsubscribe link of reminder mail (docs/email.md §7)


class TokenError(Exception):
    """The token is malformed, forged, expired, revoked or for something else."""


@dataclass(frozen=True)
class TokenClaims:
    pledge_id: str
    purpose: Purpose
    version: int
    cycle: int | None = None
    recipient: str | None = None  # unsubscribe links: recipient_digest() of the address they are for


def recipient_digest(secret: bytes, address: str) -> str:
    """Names one recipient in a token without spelling out the address; case does not matter in addresses."""
    mac = hmac.new(secret, b"pledgeflow-recipient:" + address.strip().lower().encode(), hashlib.sha256)
    return mac.hexdigest()[:20]


def is_for(secret: bytes, claims: TokenClaims, address: str) -> bool:
    """The token names this recipient."""
    return claims.recipient is not None and hmac.compare_digest(claims.recipient, recipient_digest(secret, address))


def _serializer(secret: bytes, purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"pledgeflow-{purpose.value}")


def issue(secret: bytes, claims: TokenClaims) -> str:
    payload: dict[str, object] = {"p": claims.pledge_id, "v": claims.version, "c": claims.cycle}
    if claims.recipient is not None:
        payload["r"] = claims.recipient
    return _serializer(secret, claims.purpose).dumps(payload)


def verify(secret: bytes, token: str, purpose: Purpose, max_age_seconds: int) -> TokenClaims:
    """The claims of a valid token; raises :class:`TokenError` with the reason otherwise."""
    try:
        payload = _serializer(secret, purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise TokenError("token expired") from exc
    except BadSignature as exc:
        raise TokenError("token invalid") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("p"), str):
        raise TokenError("token invalid")
    recipient = payload.get("r")
    return TokenClaims(
        pledge_id=payload["p"],
        purpose=purpose,
        version=int(payload["v"]),
        cycle=payload.get("c"),
        recipient=recipient if isinstance(recipient, str) else None,
    )
