"""Signed, expiring, single-purpose tokens scoped to one pledge (docs/api.md §4).

A token carries the pledge id, its purpose, the pledge's token version (bumping the version in the
registry revokes every earlier token) and, for report links, the reporting cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Purpose(StrEnum):
    manage = "manage"
    report = "report"
    # Nothing issues these yet: the one-click List-Unsubscribe links of reminder mail will (issue #9).
    unsubscribe = "unsubscribe"


class TokenError(Exception):
    """The token is malformed, forged, expired, revoked or for something else."""


@dataclass(frozen=True)
class TokenClaims:
    pledge_id: str
    purpose: Purpose
    version: int
    cycle: int | None = None


def _serializer(secret: bytes, purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"pledgeflow-{purpose.value}")


def issue(secret: bytes, claims: TokenClaims) -> str:
    payload = {"p": claims.pledge_id, "v": claims.version, "c": claims.cycle}
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
    return TokenClaims(pledge_id=payload["p"], purpose=purpose, version=int(payload["v"]), cycle=payload.get("c"))
