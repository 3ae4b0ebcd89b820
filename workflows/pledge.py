"""The pledge lifecycle (SPEC 5) as one long-lived workflow: submission, vetting, publication, cycles, closure."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pledgeflow.temporal import COUNTRIES, NEXT_DEADLINE, ORGANIZATION, SDGS, STATUS
    from workflows.emails import EmailKind, EmailRequest, Recipient
    from workflows.projection import PledgeProjection
    from workflows.state import (
        QUERY_STATE,
        WORKFLOW_TYPE,
        PledgeState,
        PledgeStatus,
        StartInput,
        TimelineEvent,
    )

PROJECTION_TIMEOUT = timedelta(minutes=1)
EMAIL_TIMEOUT = timedelta(minutes=2)


@workflow.defn(name=WORKFLOW_TYPE)
class PledgeWorkflow:
    @workflow.init
    def __init__(self, start: StartInput) -> None:
        if start.state is not None:
            self.state = start.state
        else:
            assert start.submission is not None
            self.state = PledgeState(
                pledge_id=start.pledge_id,
                submission=start.submission,
                submitted_at=workflow.now(),
                idempotency_key=start.idempotency_key,
                email_task_queue=start.email_task_queue,
            )
        self._projected_seq = max((event.seq for event in self.state.timeline), default=0)

    @workflow.query(name=QUERY_STATE)
    def query_state(self) -> PledgeState:
        return self.state

    @workflow.run
    async def run(self, start: StartInput) -> PledgeState:
        if start.state is None:
            await self._submit()
        await workflow.wait_condition(lambda: self.state.status == PledgeStatus.closed)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    async def _submit(self) -> None:
        self._record("pledger", "submitted", "Pledge submitted for review.")
        await self._project()
        focal = self.state.submission.focal_point
        await self._email(
            EmailKind.submission_received, Recipient(email=focal.email, name=focal.name, role="focal_point")
        )

    def _record(self, actor: str, kind: str, message: str, public: bool = True) -> None:
        self.state.timeline.append(
            TimelineEvent(
                seq=len(self.state.timeline) + 1,
                at=workflow.now(),
                actor=actor,
                kind=kind,
                message=message,
                status=self.state.status,
                public=public,
            )
        )
        submission = self.state.submission
        workflow.upsert_search_attributes(
            [
                STATUS.value_set(self.state.status.value),
                ORGANIZATION.value_set(submission.organization.name),
                SDGS.value_set([str(sdg) for sdg in submission.sdgs]),
                COUNTRIES.value_set(submission.countries),
                *(
                    [NEXT_DEADLINE.value_set(self.state.next_deadline)]
                    if self.state.next_deadline
                    else [NEXT_DEADLINE.value_unset()]
                ),
            ]
        )

    async def _project(self) -> None:
        projection = PledgeProjection.of(self.state, events_after_seq=self._projected_seq)
        await workflow.execute_activity(
            "project_pledge",
            projection,
            start_to_close_timeout=PROJECTION_TIMEOUT,
            summary=f"record '{self.state.timeline[-1].kind}' in the registry",
        )
        self._projected_seq = self.state.timeline[-1].seq

    async def _email(self, kind: EmailKind, recipient: Recipient) -> None:
        submission = self.state.submission
        request = EmailRequest(
            pledge_id=self.state.pledge_id,
            cycle=self.state.cycle,
            kind=kind,
            recipient=recipient,
            context={"title": submission.title, "organization": submission.organization.name, "review_days": 7},
        )
        await workflow.execute_activity(
            "send_email",
            request,
            task_queue=self.state.email_task_queue,
            start_to_close_timeout=EMAIL_TIMEOUT,
            summary=f"{kind.value.replace('_', ' ')} email to {recipient.role.replace('_', ' ')}",
        )
        self.state.last_email = f"{kind.value} to {recipient.role}"
