"""Issue 9, acceptance 2: a report by email, from the pledger's mail server to the public registry.

The real workflow (time-skipping server) sends the report request through the real send_email to an
aiosmtpd sink; the pledger replies to its Reply-To the way Gmail writes a reply (a greeting, two wrapped
paragraphs naming the backup contact, a sign-off with the focal point's name, title and phone number, the
request quoted below), handed over SMTP to the real receiver. The public registry page and the public API
show the report without greeting, signature or any contact's name; the "report received" email says what
was taken as the report and links to the form, whose token adds a correction to that cycle's report.
"""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests.conftest import SmtpSink, make_settings
from tests.factories import open_ended, report_data
from tests.inbound.conftest import real_mail
from tests.inbound.replies import REQUEST_LINES, SENDER
from tests.workflows.driver import HOUR
from workflows.state import PledgeStatus

GMAIL_TEXT = """Dear Pledgeflow team,

We connected 230 rural schools to broadband this year and trained
1,100 teachers in digital skills with the Ministry of ICT.

Peter Mwangi visited 40 of the schools in November; the audit follows in March.

Best regards,
Amina Otieno
Director, Connect Africa Foundation
+254 20 123 4567
"""
PUBLISHED = (
    "We connected 230 rural schools to broadband this year and trained 1,100 teachers in digital skills with "
    "the Ministry of ICT.\n\n[name withheld] visited 40 of the schools in November; the audit follows in March."
)
NEVER_PUBLIC = ["Dear", "Best regards", "Amina", "Otieno", "Peter", "Mwangi", "Director", "+254", "123 4567"]


def gmail_reply(request: EmailMessage) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = SENDER
    reply["To"] = str(request["Reply-To"])
    reply["Subject"] = f"Re: {request['Subject']}"
    reply["Message-ID"] = "<CAF7k3m9qx0report@mail.gmail.com>"
    reply["In-Reply-To"] = reply["References"] = str(request["Message-ID"])
    quoted = "\n".join(f"> {line}".rstrip() for line in REQUEST_LINES)
    reply.set_content(
        f"{GMAIL_TEXT}\nOn Mon, 14 Mar 2027 at 09:00, Pledgeflow <no-reply@pledgeflow.localhost> wrote:\n\n{quoted}\n"
    )
    return reply


async def kind_arrives(sink: SmtpSink, kind: str) -> EmailMessage:
    async with asyncio.timeout(20):
        while not (found := [m for m in sink.messages if m["X-Pledgeflow-Kind"] == kind]):
            await asyncio.sleep(0.05)
    return found[0]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def test_an_emailed_report_is_public_without_greeting_signature_or_names_and_its_receipt_lets_it_be_corrected(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    settings = make_settings(tmp_path, sqlite_url, smtp_sink)
    async with real_mail(env, settings) as (pledges, inbound):
        pledge = await pledges.published(open_ended())
        due = (await pledge.state()).cycle_due_at
        assert due is not None
        await pledges.skip_to(due + HOUR)
        request = await kind_arrives(smtp_sink, "report_request")

        reply = gmail_reply(request)
        _, answer = await aiosmtplib.send(
            reply,
            sender="amina@connect-africa.example",
            recipients=[str(request["Reply-To"])],
            hostname=inbound.host,
            port=inbound.port,
        )
        assert "accepted: counted as the report for cycle 1" in answer
        state = await pledge.wait_for(lambda s: s.cycle == 2)
        assert state.status == PledgeStatus.published
        assert [(r.source, r.report.narrative) for r in state.reports] == [("email", PUBLISHED)]

        transport = httpx.ASGITransport(app=create_app(settings, env.client))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            page = await http.get(f"/registry/{pledge.id}")
            assert page.status_code == 200
            assert "We connected 230 rural schools to broadband this year and trained 1,100 teachers" in page.text
            assert "[name withheld] visited 40 of the schools in November" in page.text
            public = await http.get(f"/api/v1/registry/pledges/{pledge.id}")
            assert [report["narrative"] for report in public.json()["reports"]] == [PUBLISHED]
            for never in NEVER_PUBLIC:
                assert never not in page.text, never
                assert never not in public.text, never

            # The receipt quotes what was taken as the report and links to the form, to correct it.
            receipt = await kind_arrives(smtp_sink, "report_received")
            receipt_text = text_of(receipt)
            assert "This is what we took as your report" in receipt_text
            assert (
                "> [name withheld] visited 40 of the schools in November; the audit follows in March." in receipt_text
            )
            found = re.search(
                rf"{re.escape(settings.public_base_url)}(/pledges/{pledge.id}/report)\?token=(\S+)", receipt_text
            )
            assert found is not None
            form_path, token = found.groups()
            form = await http.get(form_path, params={"token": token})
            assert form.status_code == 200 and "<form" in form.text
            correction = report_data(narrative="Correction: 240 schools, not 230; the audit found ten more.")
            added = await http.post(
                f"/api/v1/pledges/{pledge.id}/reports", json=correction, headers={"Authorization": f"Bearer {token}"}
            )
            assert added.status_code == 201, added.text
            assert added.json()["message"] == "Added to the report for cycle 1."
            await pledge.settled()
            public = await http.get(f"/api/v1/registry/pledges/{pledge.id}")
            assert sorted(report["narrative"] for report in public.json()["reports"]) == sorted(
                [PUBLISHED, correction["narrative"]]
            )
