"""Reply-by-email tokens: the TOKEN in ``reply+TOKEN@<inbound domain>`` (docs/email.md §5).

An email local part holds at most 64 characters and mail systems may change its case, so these are not
the itsdangerous tokens of links: they are lowercase base32 of the pledge id, the reporting cycle, the
pledge's token version, the day of issue and a truncated HMAC. Bumping the pledge's token version in the
registry revokes them like every other token.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import struct
from dataclasses import dataclass

from pledgeflow.auth.tokens import TokenError

PREFIX = "reply+"
MAX_LOCAL_PART = 64
_MAC_BYTES = 10  # 80 bits: forging one by guessing is out of reach over SMTP
_EPOCH = dt.date(2020, 1, 1)
_FIXED = struct.Struct(">HHH")  # cycle, token version, day of issue (days since _EPOCH)


@dataclass(frozen=True)
class ReplyClaims:
    pledge_id: str
    cycle: int
    version: int
    issued: dt.date


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"pledgeflow-reply:" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def issue(secret: bytes, pledge_id: str, cycle: int, version: int, today: dt.date | None = None) -> str:
    day = ((today or dt.datetime.now(dt.UTC).date()) - _EPOCH).days
    pledge = pledge_id.encode("ascii")
    payload = bytes([len(pledge)]) + pledge + _FIXED.pack(cycle, version, day)
    token = base64.b32encode(payload + _mac(secret, payload)).decode().rstrip("=").lower()
    if len(PREFIX) + len(token) > MAX_LOCAL_PART:
        raise ValueError(f"pledge id {pledge_id!r} is too long for a reply address")
    return token


def verify(secret: bytes, token: str, max_age_days: int, today: dt.date | None = None) -> ReplyClaims:
    """The claims of a valid token; raises :class:`TokenError` with the reason otherwise.

    The caller still compares ``version`` with the pledge's current token version.
    """
    text = token.strip().upper()
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("token invalid") from exc
    if len(raw) < 1 + _FIXED.size + _MAC_BYTES or raw[0] + 1 + _FIXED.size + _MAC_BYTES != len(raw):
        raise TokenError("token invalid")
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise TokenError("token invalid")
    length = payload[0]
    cycle, version, day = _FIXED.unpack(payload[1 + length :])
    issued = _EPOCH + dt.timedelta(days=day)
    age = ((today or dt.datetime.now(dt.UTC).date()) - issued).days
    if age > max_age_days:
        raise TokenError("token expired")
    return ReplyClaims(pledge_id=payload[1 : 1 + length].decode("ascii"), cycle=cycle, version=version, issued=issued)


def reply_address(token: str, domain: str) -> str:
    return f"{PREFIX}{token}@{domain}"


def token_in(address: str, domain: str) -> str | None:
    """The token of a ``reply+TOKEN@domain`` address, or None for any other address."""
    local, _, address_domain = address.strip().strip("<>").rpartition("@")
    if address_domain.lower() != domain.lower() or not local.lower().startswith(PREFIX):
        return None
    return local[len(PREFIX) :]
