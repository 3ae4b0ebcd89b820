"""The ``pledgeflow`` command: settings validated at start by every command, staff keys shown once."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from pledgeflow.auth.staff_keys import authenticate
from pledgeflow.cli.main import app
from pledgeflow.core.db import session_for
from pledgeflow.core.models import StaffAccount
from tests.cli.conftest import PLEDGEFLOW, clean_env

COMMANDS = [["dev"], ["api"], ["worker"], ["inbound"], ["db", "upgrade"], ["staff", "add", "Ana Lima"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_malformed_database_url_stops_every_command_with_one_line_naming_it(
    tmp_path: Path, command: list[str]
) -> None:
    result = subprocess.run(  # noqa: S603  (our own console script)
        [PLEDGEFLOW, *command],
        cwd=tmp_path,
        env=clean_env(database_url="postgres//nobody@:nowhere", home=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("invalid configuration: PLEDGEFLOW_DATABASE_URL:")
    assert "not a database URL" in line
    assert result.stdout == ""
    assert not (tmp_path / "home").exists(), "something started before the settings were checked"


def test_an_unsupported_database_names_the_setting(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["db", "upgrade"], env=clean_env(database_url="mysql://root@localhost/pledges", home=str(tmp_path))
    )
    assert result.exit_code == 2
    assert "PLEDGEFLOW_DATABASE_URL: Value error, unsupported database 'mysql'" in result.output


def test_staff_add_prints_the_key_once_and_stores_only_a_hash(database_url: str) -> None:
    name = f"Ana Lima {uuid.uuid4().hex[:6]}"
    env = clean_env(database_url=database_url)
    result = CliRunner().invoke(app, ["staff", "add", name, "--role", "operator"], env=env)
    assert result.exit_code == 0, result.output
    [key] = result.stdout.splitlines()
    assert re.fullmatch(r"pfs_[0-9a-f]{8}_[A-Za-z0-9_-]{32}", key)

    with session_for(database_url) as session:
        [row] = session.exec(select(StaffAccount).where(StaffAccount.name == name)).all()
        assert row.role == "operator" and row.active
        secret = key.split("_", 2)[2]
        stored = [str(value) for value in row.model_dump().values()]
        assert not [value for value in stored if secret in value or key in value], "the key is stored in clear"
        assert row.key_hash and len(row.key_hash) == 128
        account = authenticate(session, key)
        assert account is not None and account.id == row.id

    again = CliRunner().invoke(app, ["staff", "add", name, "--role", "admin"], env=env)
    assert again.exit_code == 1
    assert f"staff member {name!r} already exists" in again.output
    assert "pfs_" not in again.output
    with session_for(database_url) as session:
        [row] = session.exec(select(StaffAccount).where(StaffAccount.name == name)).all()
        assert row.role == "operator"


def test_staff_add_refuses_an_unknown_role(sqlite_url: str) -> None:
    result = CliRunner().invoke(app, ["staff", "add", "Bo", "--role", "root"], env=clean_env(database_url=sqlite_url))
    assert result.exit_code == 2
    message = " ".join(result.output.replace("│", " ").split())
    assert "Invalid value for '--role': Value error, 'root' is not one of 'vetter', 'operator', 'admin'" in message


def test_help_names_every_part_of_the_stack() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("dev", "api", "worker", "inbound", "db", "staff"):
        assert re.search(rf"│ {command}\s", result.output), command
