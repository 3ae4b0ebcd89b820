"""The child process ``pledgeflow dev`` starts dies with it, even when the parent is SIGKILLed."""

from __future__ import annotations

import subprocess
import sys
import time

from pledgeflow.devstack.runner import spawn_child, stop_child
from tests.devstack.conftest import running

PARENT = """
import subprocess, sys, time
from pledgeflow.devstack.runner import spawn_child
child = spawn_child(["sleep", "300"], subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(300)
"""


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_sigkilled_parent_takes_its_child_along() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert running(child_pid)
        parent.kill()
        parent.wait()
        assert wait_gone(child_pid), "the child outlived its SIGKILLed parent"
    finally:
        parent.kill()


def test_stop_child_stops_the_whole_process_group() -> None:
    # A shell that ignores SIGTERM and has a grandchild: both must still go.
    child = spawn_child(["sh", "-c", "trap '' TERM; sleep 300 & echo $!; wait"], subprocess.PIPE)
    assert child.stdout is not None
    grandchild_pid = int(child.stdout.readline())
    assert running(grandchild_pid)
    stop_child(child, timeout=1)
    assert child.returncode is not None
    assert wait_gone(grandchild_pid)
