"""Render three pledger emails and photograph their HTML part in headless Chromium (issue 4).

    .venv/bin/python docs/make_email_screenshots.py        # writes docs/email-*.png

The messages go through the real renderer (the same code the send_email activity uses), with the data a
Partner2Connect-style pledge would carry; only the links point at a local dev server.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from activities.email_render import EmailRenderer
from pledgeflow.core.settings import Settings
from workflows.emails import EmailKind, EmailRequest, Recipient

DOCS = Path(__file__).parent
CHROMIUM = "/usr/bin/chromium"
PLEDGE = {"title": "Connecting 500 rural schools in Kenya by 2027", "organization": "Connect Africa Foundation"}
EXAMPLES: dict[str, tuple[EmailKind, dict[str, object]]] = {
    "email-report-request.png": (EmailKind.report_request, {"cycle": 1, "deadline": "2027-04-28T09:00:00+00:00"}),
    "email-reminder-2.png": (EmailKind.reminder_2, {"cycle": 1, "deadline": "2027-04-28T09:00:00+00:00"}),
    "email-published.png": (EmailKind.published, {"first_report_due": "2027-03-14T09:00:00+00:00"}),
}


def render(renderer: EmailRenderer, kind: EmailKind, context: dict[str, object]) -> str:
    request = EmailRequest(
        pledge_id="PF-7K3M9QX",
        cycle=1,
        kind=kind,
        recipient=Recipient(email="amina@connect-africa.example", name="Amina Otieno", role="focal_point"),
        context={**PLEDGE, **context},
    )
    html = renderer.render(request).get_body(("html",))
    assert html is not None
    return str(html.get_content())


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            home=Path(scratch),
            secret_key="screenshots-only",  # noqa: S106 - signs nothing real
            public_base_url="http://localhost:8000",
        )
        renderer = EmailRenderer(settings)
        for name, (kind, context) in EXAMPLES.items():
            page = Path(scratch) / f"{kind.value}.html"
            page.write_text(render(renderer, kind, context))
            subprocess.run(  # noqa: S603 - fixed binary, arguments built here
                [
                    CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    f"--screenshot={DOCS / name}",
                    "--window-size=760,1080",
                    page.as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            print(f"wrote {DOCS / name}")


if __name__ == "__main__":
    main()
