"""Recorded histories of running pledges replay against today's workflow code (docs/lifecycle.md §16).

A change to the workflow that would break a pledge already running fails here. Such a change goes
behind ``workflow.patched``; the histories are recorded again (tests/workflows/histories.py) only
alongside the old ones, never instead of them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from pledgeflow.temporal.worker import workflow_runner
from tests.workflows.histories import HISTORIES, recording
from workflows.pledge import PledgeWorkflow

RECORDED = sorted(HISTORIES.glob("*.json"))
SCENARIOS = {
    "revision_rounds",
    "revision_in_french",
    "overdue_reinstated",
    "delisted",
    "email_reply",
    "final_report_completed",
    "final_report_missing",
    "extension",
    "ten_years",
    "imported_delisted",
    "imported_report_due",
    "resend",
    "delisted_queued_then_sent",
    "stop_reminders_queued_then_sent",
    "resend_queued_then_sent_after_restart",
    "registry_behind_shown",
    "resend_after_continue_as_new",
    "resend_after_restart",
    "stop_reminders",
    "stop_reminders_after_restart",
    # issue 13: exclusive actions raced on the dev server, each recorded after a worker restart (the raced
    # updates resume a workflow the worker never cached); the published pairs race in the second run.
    "race_approve_reject",
    "race_approve_twice",
    "race_approve_withdraw",
    "race_two_reports",
    "race_report_withdraw",
    "race_extension_closure",
    "retried_report",
    "links_renewed",
    # issue 14: a pledge resumed by an action on a freshly started worker (nothing cached), on the dev server:
    # in vetting (approved, published, continued as new) and after continue-as-new (a report settles cycle 1).
    "resumed_in_review",
    "resumed_after_continue_as_new",
    # issue 14: non-reporting waited for a stalled final notice; a late run skipped a stale reminder.
    "stalled_final_notice",
    "late_run_without_stale_reminders",
    # issue 14: the report request to the focal point stalled; its reminders waited for it (14-mail-in-order).
    "request_stalled_before_its_reminders",
    # issue 14: ... and every later email of the pledge, to any address, waited for it (14-one-mail-queue).
    "request_stalled_before_anyone_s_mail",
    # issue 14: each sent email writes the last_email memo (14-mail-shown), so no task that took an email's
    # result ends empty: resumed on a fresh worker in vetting and after continue-as-new, and a race whose
    # updates reached a fresh worker together with both submission emails' results.
    "mail_shown_resumed_in_review",
    "mail_shown_resumed_after_continue_as_new",
    "mail_settled_in_a_race_after_restart",
    # issue 10: four yearly reports, each run carrying into the next only what the registry lacks, the newest
    # event and the recent update ids (10-carry-what-is-needed).
    "carried_what_is_needed",
    # issue 10: the projection and the policy read as local activities (10-local-activities): a review and a
    # published pledge resumed by an update on a fresh worker, also after continue-as-new; four carried cycles;
    # a registry refusing the projection ten times (the local activity's retries on timers); a report cycle
    # through overdue and back; a resend on a restarted worker.
    "local_resumed_in_review",
    "local_resumed_after_continue_as_new",
    "local_carried_what_is_needed",
    "local_registry_behind_shown",
    "local_overdue_reinstated",
    "local_resend_after_restart",
    # issue 10: a submission email the server was handed but never answered for, before and after its
    # unconfirmed outcome went on the staff timeline whatever the email (10-unconfirmed-shown).
    "unconfirmed_before_shown",
    "unconfirmed_submission_email",
    # Issue 10: every run takes today's changes under the baseline marker asked in its first activation
    # (workflows/changes.py): the pledge's page read while its policy was read (the query that moved the
    # local activity's result a task on); and, recorded again under the baseline, a review and a published
    # pledge resumed on a fresh worker, also after continue-as-new, a raced pair after a restart, four
    # carried cycles, a report cycle through overdue and back, resends and stopped reminders after a restart,
    # and ten years of one pledge.
    "policy_read_with_a_query",
    "baseline_resumed_in_review",
    "baseline_resumed_after_continue_as_new",
    "baseline_race_approve_twice",
    "baseline_carried_what_is_needed",
    "baseline_overdue_reinstated",
    "baseline_resend_after_restart",
    "baseline_stop_reminders_after_restart",
    "baseline_ten_years",
    # Issue 10: each projection carries its number, counted in the state across runs: a review and a published
    # pledge resumed on a fresh worker, the second also after continue-as-new.
    "numbered_resumed_in_review",
    "numbered_resumed_after_continue_as_new",
}


@pytest.mark.skipif(recording(), reason="the histories are being rewritten in this session")
def test_every_scenario_has_recorded_histories() -> None:
    assert {path.name.split(".")[0] for path in RECORDED} == SCENARIOS


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"pledge-{path.stem}", await asyncio.to_thread(path.read_text))
    replayer = Replayer(
        workflows=[PledgeWorkflow], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
