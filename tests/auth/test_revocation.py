"""The token version in force: the registry row's, and 1 before the registry has the row."""

from __future__ import annotations

import uuid

from pledgeflow.auth.revocation import current_token_version
from pledgeflow.core.db import session_for
from tests.factories import registry_row


def test_the_rows_version_is_in_force_and_1_before_there_is_a_row(database_url: str) -> None:
    revoked, unknown = (f"PF-{uuid.uuid4().hex[:7].upper()}" for _ in range(2))
    with session_for(database_url) as session:
        session.add(registry_row(revoked, "published", token_version=3))
        session.commit()
        assert current_token_version(session, revoked) == 3
        assert current_token_version(session, unknown) == 1
