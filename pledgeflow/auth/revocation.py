"""Revoking a pledge's tokens: every token carries the pledge's token version, and only tokens of the
version in force are honoured. Bumping ``Pledge.token_version`` revokes every link and reply address
issued before; ``pledgeflow ops revoke-tokens`` (issue #13) is what bumps it.
"""

from __future__ import annotations

from sqlmodel import Session

from pledgeflow.core.models import Pledge


def current_token_version(session: Session, pledge_id: str) -> int:
    """The version every valid token of the pledge carries now."""
    row = session.get(Pledge, pledge_id)
    # Until the registry has the pledge's row, nothing can have bumped it: only version 1 exists.
    return row.token_version if row is not None else 1
