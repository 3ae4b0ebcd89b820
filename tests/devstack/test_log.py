"""When the Temporal dev server dies, `pledgeflow dev` shows the cause, not only the stack trace after it."""

from __future__ import annotations

from pathlib import Path

from pledgeflow.devstack.runner import _tail


def test_the_cause_is_shown_before_the_stack_trace(tmp_path: Path) -> None:
    log = tmp_path / "temporal.log"
    cause = 'level=ERROR msg="Failed to start gRPC listener" error="bind: address already in use"'
    trace = [f"\t/home/runner/work/cli/frame{i}.go:{i}" for i in range(40)]
    log.write_text("\n".join(["level=INFO msg=starting", cause, "panic: runtime error", *trace]))
    shown = _tail(log).splitlines()
    assert shown[0] == cause
    assert shown[-1] == trace[-1]
