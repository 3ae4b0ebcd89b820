"""Staff accounts: keys shown once, stored as a salted hash, each with one role; deactivated or given a new key
by ``pledgeflow staff``, which ends the account's browser sessions at once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

from sqlmodel import Session, col, select

from pledgeflow.auth.roles import Role as Role  # re-exported: the API and pages take it from here
from pledgeflow.auth.staff_sessions import end_all
from pledgeflow.core.models import StaffAccount, utcnow

# Every staff key starts so, which is how a bearer credential is told apart from a pledge's token.
KEY_PREFIX = "pfs_"


# pfs_<8 hex>_<32 url-safe characters>; anything else is no key, and never reaches the database.
_KEY = re.compile(rf"^{re.escape(KEY_PREFIX)}([0-9a-f]{{8}})_([A-Za-z0-9_-]{{20,64}})$")


class StaffExists(Exception):
    pass


class NoSuchStaff(LookupError):
    pass


def _hash(secret_part: str, salt: str) -> str:
    return hashlib.scrypt(secret_part.encode(), salt=salt.encode(), n=2**12, r=8, p=1).hex()


def _new_key() -> tuple[str, str, str]:
    """(prefix, hash, the key itself)."""
    prefix = secrets.token_hex(4)
    secret_part = secrets.token_urlsafe(24)
    return prefix, _hash(secret_part, prefix), f"{KEY_PREFIX}{prefix}_{secret_part}"


def add_staff(session: Session, name: str, role: Role) -> str:
    """Create the account and return its key; only the hash is kept."""
    if session.exec(select(StaffAccount).where(StaffAccount.name == name)).first():
        raise StaffExists(f"staff member {name!r} already exists")
    prefix, key_hash, key = _new_key()
    session.add(StaffAccount(name=name, role=role.value, key_prefix=prefix, key_hash=key_hash, created_at=utcnow()))
    session.commit()
    return key


def list_staff(session: Session) -> Sequence[StaffAccount]:
    return session.exec(select(StaffAccount).order_by(col(StaffAccount.name))).all()


def _account(session: Session, name: str) -> StaffAccount:
    account = session.exec(select(StaffAccount).where(StaffAccount.name == name)).first()
    if account is None:
        raise NoSuchStaff(f"no staff member {name!r}")
    return account


def deactivate(session: Session, name: str) -> int:
    """Refuse the account's key from now on and end its sessions; how many sessions were open."""
    account = _account(session, name)
    account.active = False
    session.add(account)
    session.commit()
    assert account.id is not None
    return end_all(session, account.id)


def rotate_key(session: Session, name: str) -> str:
    """Give the account a new key (returned once); the old key and the account's sessions stop working."""
    account = _account(session, name)
    account.key_prefix, account.key_hash, key = _new_key()
    session.add(account)
    session.commit()
    assert account.id is not None
    end_all(session, account.id)
    return key


def authenticate(session: Session, key: str) -> StaffAccount | None:
    """The active account this key belongs to, or None."""
    match = _KEY.match(key)
    if match is None:
        return None
    prefix, secret_part = match.groups()
    for account in session.exec(select(StaffAccount).where(StaffAccount.key_prefix == prefix)):
        if account.active and hmac.compare_digest(account.key_hash, _hash(secret_part, prefix)):
            return account
    return None
