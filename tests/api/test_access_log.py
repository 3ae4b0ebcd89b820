"""Access logs redact tokens (issue 13): `pledgeflow api`, a real uvicorn process, logs every request line;
an emailed link's ``?token=...`` (valid for a year) must not land in that log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from api.access_log import redact
from tests.conftest import listening_port

PLEDGEFLOW = str(Path(sys.executable).parent / "pledgeflow")
SECRET = "eyJwIjoiUEYtN0szTTlRWCIsInYiOjF9.aBcDeF.secret-signature-part"


def test_redact_keeps_the_line_readable_and_drops_every_token() -> None:
    assert redact(f"/pledges/PF-7K3M9QX/report?token={SECRET}&lang=fr") == (
        "/pledges/PF-7K3M9QX/report?token=[redacted]&lang=fr"
    )
    assert redact(f"/x?lang=fr&TOKEN={SECRET}") == "/x?lang=fr&TOKEN=[redacted]"
    assert redact("/registry?q=token%3Dnot-a-param") == "/registry?q=token%3Dnot-a-param"


async def test_pledgeflow_api_logs_the_request_without_the_token(tmp_path: Path, sqlite_url: str) -> None:
    port = listening_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PLEDGEFLOW_")}
    env.update(
        PLEDGEFLOW_HOME=str(tmp_path), PLEDGEFLOW_DATABASE_URL=sqlite_url, PLEDGEFLOW_SECRET_KEY="access-log-test"
    )
    log = tmp_path / "api.log"
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: S603, ASYNC220 - our console script, running for the whole test
            [PLEDGEFLOW, "api", "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                async with asyncio.timeout(60):
                    while True:
                        try:
                            await http.get("/healthz")
                            break
                        except httpx.TransportError:
                            await asyncio.sleep(0.2)
                answer = await http.get("/pledges/PF-7K3M9QX/report", params={"token": SECRET})
                assert answer.status_code == 401
            async with asyncio.timeout(20):
                while "/pledges/PF-7K3M9QX/report" not in log.read_text():
                    await asyncio.sleep(0.1)
        finally:
            server.terminate()
            server.wait(timeout=20)
    written = log.read_text()
    assert "GET /pledges/PF-7K3M9QX/report?token=[redacted] HTTP/1.1" in written
    assert "secret-signature-part" not in written
