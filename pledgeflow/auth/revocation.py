"""Revoking a pledge's tokens: every token carries the pledge's token version, and only tokens of the
version in force are honoured. Bumping ``Pledge.token_version`` revokes every link and reply address
issued before; ``pledgeflow ops revoke-tokens`` bumps it (through the pledge's workflow, which then emails
the pledger a fresh link, or here directly for a pledge whose workflow has ended).
"""

from __future__ import annotations

from sqlmodel import Session

from pledgeflow.core.models import Pledge, utcnow


class NotInRegistry(LookupError):
    """The registry has no row for this pledge (yet), so it has no tokens to revoke."""


def current_token_version(session: Session, pledge_id: str) -> int:
    """The version every valid token of the pledge carries now."""
    row = session.get(Pledge, pledge_id)
    # Until the registry has the pledge's row, nothing can have bumped it: only version 1 exists.
    return row.token_version if row is not None else 1


def revoke_tokens(session: Session, pledge_id: str) -> int:
    """Raise the pledge's token version (committed) and return the new one: every earlier token is refused."""
    row = session.get(Pledge, pledge_id, with_for_update=True)
    if row is None:
        raise NotInRegistry(pledge_id)
    row.token_version += 1
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
    return row.token_version
