"""Idempotency-Key as in the IETF draft (draft-ietf-httpapi-idempotency-key-header): a retry of a request
carries the key of the first, and is answered as the first was, never applied twice.

- A submission's key names its pledge (pledgeflow.core.ids) and is bound to a fingerprint of the body: the
  same key with another body is refused (422), so a key is no credential for someone else's pledge, and
  a keyed retry never hands out a token once the pledge's tokens were revoked (409).
- An action's key becomes the id of the workflow update that carries it: the key, scoped by an HMAC to the
  pledge and the caller, then a dot, then a fingerprint of the action and its body. Temporal answers a
  repeated update id with the first outcome; the workflow remembers the ids it applied across
  continue-as-new and refuses a known key with another fingerprint (workflows.rules.key_reuse_refusal).
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel


class LinksRevoked(Exception):
    """A keyed retry of a submission whose tokens were revoked: its answer would carry a revoked link."""


def action_update_id(
    secret: bytes, key: str | None, pledge_id: str, caller: str, action: str, body: BaseModel
) -> str | None:
    """The update id of an action sent with ``key``, or None without one (the client then draws a fresh id)."""
    if not key:
        return None
    scope = hmac.new(secret, f"{pledge_id}\n{caller}\n{key}".encode(), hashlib.sha256).hexdigest()[:32]
    fingerprint = hashlib.sha256(f"{action}\n{body.model_dump_json()}".encode()).hexdigest()[:32]
    return f"{scope}.{fingerprint}"


def check_not_revoked(token_version: int, keyed: bool) -> None:
    """A keyed retry answers with a manage token only while the pledge's first tokens are in force."""
    if keyed and token_version != 1:
        raise LinksRevoked
