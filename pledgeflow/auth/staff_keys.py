"""Staff accounts: keys shown once, stored as a salted hash, each with one role."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlmodel import Session, select

from pledgeflow.auth.roles import Role as Role  # re-exported: the API and pages take it from here
from pledgeflow.core.models import StaffAccount, utcnow

# Every staff key starts so, which is how a bearer credential is told apart from a pledge's token.
KEY_PREFIX = "pfs_"


class StaffExists(Exception):
    pass


def _hash(secret_part: str, salt: str) -> str:
    return hashlib.scrypt(secret_part.encode(), salt=salt.encode(), n=2**12, r=8, p=1).hex()


def add_staff(session: Session, name: str, role: Role) -> str:
    """Create the account and return its key; only the hash is kept."""
    if session.exec(select(StaffAccount).where(StaffAccount.name == name)).first():
        raise StaffExists(f"staff member {name!r} already exists")
    prefix = secrets.token_hex(4)
    secret_part = secrets.token_urlsafe(24)
    session.add(
        StaffAccount(
            name=name, role=role.value, key_prefix=prefix, key_hash=_hash(secret_part, prefix), created_at=utcnow()
        )
    )
    session.commit()
    return f"{KEY_PREFIX}{prefix}_{secret_part}"


def authenticate(session: Session, key: str) -> StaffAccount | None:
    """The active account this key belongs to, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, _, secret_part = key.removeprefix(KEY_PREFIX).partition("_")
    for account in session.exec(select(StaffAccount).where(StaffAccount.key_prefix == prefix)):
        if account.active and hmac.compare_digest(account.key_hash, _hash(secret_part, prefix)):
            return account
    return None
