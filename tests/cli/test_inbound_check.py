"""Issue 9, acceptance 3: ``pledgeflow inbound check`` prints one JSON line per message of a folder of .eml files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.cli.conftest import PLEDGEFLOW, clean_env
from tests.inbound.replies import PUBLISHED_TEXT, gmail_reply, out_of_office

CORPUS = Path(__file__).parents[1] / "inbound" / "corpus"


def test_check_prints_what_the_receiver_would_make_of_each_message(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "a-reply.eml").write_bytes(gmail_reply("reply+abc@inbound.pledgeflow.localhost").as_bytes())
    (folder / "b-away.eml").write_bytes(out_of_office("reply+abc@inbound.pledgeflow.localhost").as_bytes())
    shutil.copy(CORPUS / "machine" / "sisimai-set-of-emails" / "rfc3464-01.eml", folder / "c-bounce.eml")
    result = subprocess.run(  # noqa: S603  (our own console script)
        [PLEDGEFLOW, "inbound", "check", str(folder)],
        cwd=tmp_path,
        env=clean_env(home=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {"file": str(folder / "a-reply.eml"), "auto_reply": None, "bounce": None, "text": PUBLISHED_TEXT},
        {
            "file": str(folder / "b-away.eml"),
            "auto_reply": "Auto-Submitted: auto-replied",
            "bounce": None,
            "text": None,
        },
        {
            "file": str(folder / "c-bounce.eml"),
            "auto_reply": "multipart/report: a delivery status notification (RFC 3464)",
            "bounce": {"recipient": "userunknown@bouncehammer.jp", "status": "5.1.1", "action": "failed"},
            "text": None,
        },
    ]
    assert not (tmp_path / "home").exists(), "check keeps nothing"
