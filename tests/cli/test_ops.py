"""`pledgeflow ops` as an operator runs it, against pledges on the dev server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from activities.email import EmailActivities
from pledgeflow.cli.main import app
from pledgeflow.core.db import upgrade
from pledgeflow.core.settings import Settings
from tests.conftest import free_port
from tests.factories import make_report, open_ended
from tests.workflows.conftest import fast_first_cycle_settings, run_pledge_worker
from tests.workflows.driver import Mailbox
from workflows.emails import EmailKind
from workflows.state import ClosureReason, PledgeStatus


async def ops(settings: Settings, dev_env: WorkflowEnvironment, *args: str) -> Result:
    env = {
        "PLEDGEFLOW_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "PLEDGEFLOW_TASK_QUEUE": settings.task_queue,
        "PLEDGEFLOW_DATABASE_URL": settings.database_url,
        "COLUMNS": "200",
    }
    # The command runs its own event loop (asyncio.run), so it gets a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, app, ["ops", *args], env=env)


async def test_operator_lists_extends_shows_and_closes(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    settings = fast_first_cycle_settings(tmp_path, sqlite_url)
    async with run_pledge_worker(dev_env, settings, Mailbox()) as pledges:
        due = await pledges.published(open_ended())
        waiting = await pledges.submit(open_ended(title="Digital skills for 10,000 women in Peru"))
        await due.wait_for(lambda state: state.status == PledgeStatus.report_due)

        async with asyncio.timeout(20):  # visibility is eventually consistent
            while due.id not in (listed := await ops(settings, dev_env, "list", "--status", "report_due")).output:
                await asyncio.sleep(0.3)
        assert listed.exit_code == 0
        assert waiting.id not in listed.output and "1 pledge(s)" in listed.output

        extended = await ops(
            settings, dev_env, "extend-all", "--days", "10", "--reason", "Form outage", "--staff", "omar"
        )
        assert extended.exit_code == 0, extended.output
        assert "extended 1, refused 0, failed 0" in extended.output
        assert (await due.state()).extension_days == 10

        shown = await ops(settings, dev_env, "show", due.id)
        assert shown.exit_code == 0
        assert "Extension of 10 days granted (Form outage)" in shown.output
        assert "Pledge submitted for review." in shown.output, "the run before publication's line, from the registry"
        assert (
            "status: report_due, since " in shown.output and ": the report for cycle 1 was asked for on" in shown.output
        )
        assert "may be done now: report, request_extension, grant_extension, withdraw, close" in shown.output
        assert "report request for cycle 1" in shown.output and "taken" in shown.output  # the ladder, step by step

        resent = await ops(settings, dev_env, "resend", due.id, "--staff", "omar")
        assert resent.exit_code == 0, resent.output
        assert f"{due.id}: Email extension granted queued again for the focal point." in resent.output
        nothing = await ops(settings, dev_env, "resend", waiting.id, "--kind", "reminder_1", "--staff", "omar")
        assert nothing.exit_code == 1
        assert "no reminder_1 email was sent in the current cycle" in nothing.output

        closed = await ops(settings, dev_env, "close", waiting.id, "--reason", "Duplicate entry", "--staff", "omar")
        assert closed.exit_code == 0, closed.output
        state = await waiting.status_is(PledgeStatus.closed)
        assert state.closure_reason == ClosureReason.removed

        again = await ops(settings, dev_env, "close", waiting.id, "--reason", "Duplicate entry", "--staff", "omar")
        assert again.exit_code == 1


async def test_list_has_one_row_per_pledge_whatever_its_runs(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    settings = fast_first_cycle_settings(tmp_path, sqlite_url)
    async with run_pledge_worker(dev_env, settings, Mailbox()) as pledges:
        # Published, reported and in its second cycle: three runs, two of them continued as new.
        reported = await pledges.published(open_ended(title="Three runs already"))
        await reported.wait_for(lambda state: state.status == PledgeStatus.report_due)
        await reported.report(make_report())
        await reported.wait_for(lambda state: state.cycle == 2)
        waiting = await pledges.submit(
            open_ended(organization={"name": "Aardvark Trust", "type": "ngo", "country": "KEN"})
        )
        closed = await pledges.published(open_ended())
        await closed.withdraw("Merged.")
        await closed.status_is(PledgeStatus.closed)
        assert len(await reported.run_ids()) == 3

        async with asyncio.timeout(20):  # visibility is eventually consistent
            while len(rows := json.loads((await ops(settings, dev_env, "list", "--json")).output)) < 2:
                await asyncio.sleep(0.3)
        assert sorted(row["id"] for row in rows) == sorted([reported.id, waiting.id]), "one row each, open ones"
        by_id = {row["id"]: row for row in rows}
        assert by_id[reported.id]["status"] in ("published", "report_due")
        assert by_id[waiting.id] == {
            "id": waiting.id,
            "status": "in_review",
            "next_deadline": by_id[waiting.id]["next_deadline"],
            "missed_cycles": 0,
            "organization": "Aardvark Trust",
        }
        by_name = json.loads((await ops(settings, dev_env, "list", "--json", "--sort", "organization")).output)
        assert by_name[0]["id"] == waiting.id

        async with asyncio.timeout(20):
            while closed.id not in (listed := await ops(settings, dev_env, "list", "--status", "closed")).output:
                await asyncio.sleep(0.3)
        assert "1 pledge(s)" in listed.output


async def test_revoke_tokens_renews_a_running_pledges_links_and_revokes_a_closed_ones(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    settings = fast_first_cycle_settings(tmp_path, sqlite_url)
    mailbox = Mailbox()
    async with run_pledge_worker(dev_env, settings, mailbox) as pledges:
        running = await pledges.submit(open_ended())
        closed = await pledges.submit(open_ended(title="Clean water for 40 schools in Malawi"))
        await closed.withdraw("Programme cancelled")
        await closed.handle.result()

        renewed = await ops(settings, dev_env, "revoke-tokens", running.id, "--staff", "Omar")
        revoked = await ops(settings, dev_env, "revoke-tokens", closed.id, "--staff", "Omar")
        state = await running.settled()

    assert renewed.exit_code == 0, renewed.output
    assert "a new link was emailed" in renewed.output
    assert [s.to for s in running.emails(EmailKind.links_renewed)] == ["focal_point"]
    assert state.timeline[-1].message.startswith("Links renewed by an operator")
    assert revoked.exit_code == 0, revoked.output
    assert "closed; every earlier link revoked (token version 2), no email sent" in " ".join(revoked.output.split())
    rows = [running.registry_row(), closed.registry_row()]
    assert [row.token_version for row in rows if row is not None] == [2, 2]


class RefusingOne:
    """An SMTP server that refuses one mailbox for good (550) until told otherwise, and keeps what it takes."""

    def __init__(self, refused: str) -> None:
        self.refused: str | None = refused
        self.delivered: list[EmailMessage] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address == self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.delivered.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 Message accepted"


async def test_failed_emails_are_listed_and_resent_through_the_workflow(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'registry.db'}"  # of its own: --all sees every failed email in it
    upgrade(sqlite_url)
    submission = open_ended()
    server = RefusingOne(submission.focal_point.email)
    port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = fast_first_cycle_settings(tmp_path, sqlite_url).model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": port}
        )
        mail = EmailActivities(settings)
        async with run_pledge_worker(dev_env, settings, Mailbox(), send_email=mail.send_email) as pledges:
            pledge = await pledges.submit(submission)
            await pledge.wait_for(lambda state: any(e.kind == "email_failed" for e in state.timeline))

            listed = await ops(settings, dev_env, "failed-emails", "--json")
            assert listed.exit_code == 0, listed.output
            [failed] = [row for row in json.loads(listed.output) if row["pledge_id"] == pledge.id]
            assert (failed["kind"], failed["recipient"], failed["state"]) == (
                "submission_received",
                submission.focal_point.email,
                "failed",
            )
            assert failed["last_error"] == "550 5.1.1 mailbox unavailable"
            table = await ops(settings, dev_env, "failed-emails", pledge.id)
            assert "submission_received" in table.output and "1 email(s) need an operator" in table.output

            server.refused = None  # the pledger fixed the mailbox
            resent = await ops(settings, dev_env, "resend-failed", pledge.id, "--staff", "omar")
            assert resent.exit_code == 0, resent.output
            assert "Email submission received queued again for the focal point." in resent.output
            state = await pledge.wait_for(lambda state: any(e.kind == "email_resent" for e in state.timeline))
            assert state.status == PledgeStatus.in_review
            async with asyncio.timeout(20):
                while not any(m["X-Pledgeflow-Kind"] == "submission_received" for m in server.delivered):
                    await asyncio.sleep(0.1)

            left = await ops(settings, dev_env, "failed-emails", pledge.id)
            assert "0 email(s) need an operator" in left.output
            again = await ops(settings, dev_env, "resend-failed", "--all", "--staff", "omar")
            assert again.exit_code == 0 and "resent 0, refused 0" in again.output
            both = await ops(settings, dev_env, "resend-failed", pledge.id, "--all", "--staff", "omar")
            assert both.exit_code == 2
    finally:
        controller.stop()
    received = [m for m in server.delivered if m["X-Pledgeflow-Kind"] == "submission_received"]
    assert len(received) == 1  # resent once, to the focal point
