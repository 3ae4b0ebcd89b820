"""Pledge ids: short, URL-safe, quotable on the phone (``PF-7K3M9Q``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# No 0/O, 1/I/L, U: nothing to mishear or misread.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 7
PATTERN = rf"^PF-[{ALPHABET}]{{{LENGTH}}}$"


def new_pledge_id() -> str:
    return "PF-" + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def pledge_id_for_key(idempotency_key: str, secret: bytes, attempt: int = 0) -> str:
    """The id a submission with this ``Idempotency-Key`` always gets (``attempt`` steps past collisions)."""
    digest = hmac.new(secret, f"{attempt}:{idempotency_key}".encode(), hashlib.sha256).digest()
    return "PF-" + "".join(ALPHABET[byte % len(ALPHABET)] for byte in digest[:LENGTH])
