"""`pledgeflow staff list|deactivate|rotate-key`: what an administrator does to accounts, and what follows for
the keys and the browser sessions."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from typer.testing import CliRunner, Result

from pledgeflow.auth.staff_keys import authenticate
from pledgeflow.auth.staff_sessions import Lifetime, live_session, open_session
from pledgeflow.cli.main import app
from pledgeflow.core.db import session_for
from tests.cli.conftest import clean_env

FOREVER = Lifetime(idle=dt.timedelta(days=1), absolute=dt.timedelta(days=1))


def staff(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["staff", *args], env={**clean_env(database_url=database_url), "COLUMNS": "200"})


def test_list_shows_every_account_without_its_key(database_url: str) -> None:
    name = f"Ana Lima {uuid.uuid4().hex[:6]}"
    key = staff(database_url, "add", name, "--role", "operator").stdout.strip()

    listed = staff(database_url, "list")

    assert listed.exit_code == 0, listed.output
    [line] = [line for line in listed.output.splitlines() if name in line]
    assert re.search(r"operator\s+│\s+yes\s+│\s+pfs_[0-9a-f]{8}_…", line), line
    assert key.split("_", 2)[2] not in listed.output


def test_deactivate_refuses_the_key_and_ends_the_accounts_sessions(database_url: str) -> None:
    name = f"Leaving {uuid.uuid4().hex[:6]}"
    key = staff(database_url, "add", name).stdout.strip()
    with session_for(database_url) as session:
        account = authenticate(session, key)
        assert account is not None
        session_id, _ = open_session(session, account)

    result = staff(database_url, "deactivate", name)

    assert result.exit_code == 0, result.output
    assert "1 open session(s) ended" in result.output
    with session_for(database_url) as session:
        assert authenticate(session, key) is None
        assert live_session(session, session_id, FOREVER) is None
    assert staff(database_url, "deactivate", "Nobody at all").exit_code == 1


def test_rotate_key_prints_a_new_key_once_and_the_old_one_stops_working(database_url: str) -> None:
    name = f"Rotating {uuid.uuid4().hex[:6]}"
    old = staff(database_url, "add", name, "--role", "admin").stdout.strip()
    with session_for(database_url) as session:
        account = authenticate(session, old)
        assert account is not None
        session_id, _ = open_session(session, account)

    result = staff(database_url, "rotate-key", name)

    assert result.exit_code == 0, result.output
    [new] = result.stdout.splitlines()
    assert re.fullmatch(r"pfs_[0-9a-f]{8}_[A-Za-z0-9_-]{32}", new) and new != old
    with session_for(database_url) as session:
        assert authenticate(session, old) is None
        rotated = authenticate(session, new)
        assert rotated is not None and rotated.name == name and rotated.role == "admin"
        assert live_session(session, session_id, FOREVER) is None
