"""Staff keys: shown once, recognised by their prefix, and only the whole key of an active account opens."""

from __future__ import annotations

import uuid

from pledgeflow.auth.staff_keys import KEY_PREFIX, Role, add_staff, authenticate
from pledgeflow.core.db import session_for
from pledgeflow.core.models import StaffAccount


def test_only_the_whole_key_of_an_active_account_opens(database_url: str) -> None:
    name = f"Vera {uuid.uuid4().hex[:6]}"
    with session_for(database_url) as session:
        key = add_staff(session, name, Role.vetter)
        assert key.startswith(KEY_PREFIX)
        account = authenticate(session, key)
        assert account is not None and (account.name, account.role) == (name, "vetter")

        changed = key[:-1] + ("A" if key[-1] != "A" else "B")
        assert authenticate(session, changed) is None
        assert authenticate(session, key.removeprefix(KEY_PREFIX)) is None
        assert authenticate(session, key.rsplit("_", 1)[0]) is None

        stored = session.get(StaffAccount, account.id)
        assert stored is not None and key not in stored.key_hash
        stored.active = False
        session.add(stored)
        session.commit()
        assert authenticate(session, key) is None
