"""``pledgeflow dev`` as a subprocess: its ports, and the processes it starts and must stop."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import clean_env
from tests.conftest import listening_port


@dataclass
class DevPorts:
    api: int
    temporal: int
    temporal_ui: int
    smtp: int
    inbound: int

    def env(self, home: Path) -> dict[str, str]:
        return clean_env(
            home=str(home),
            api_port=str(self.api),
            temporal_address=f"localhost:{self.temporal}",
            temporal_ui_port=str(self.temporal_ui),
            smtp_port=str(self.smtp),
            inbound_port=str(self.inbound),
        )


@pytest.fixture
def dev_ports() -> DevPorts:
    ports: list[int] = []
    while len(ports) < 5:
        if (port := listening_port()) not in ports:
            ports.append(port)
    return DevPorts(*ports)


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...), read from /proc."""
    parents = {int(entry.name): _ppid(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit()}
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed at the end if the test failed before stopping them."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
