"""Reading the lifecycle policy (docs/lifecycle.md §14) and the staff addresses from settings, for the workflow.

The workflow calls this at start and at each new reporting cycle, so an edited policy file applies to
running pledges from their next cycle. A file that no longer parses fails the activity, which retries
with the reason shown in the Temporal UI until an operator fixes the file.
"""

from __future__ import annotations

from temporalio import activity

from pledgeflow.core.settings import Settings
from workflows.policy import LoadedPolicy, StaffContacts, load_policy


class PolicyActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def current(self) -> LoadedPolicy:
        return LoadedPolicy(
            policy=load_policy(self.settings.policy, self.settings.policy_file),
            staff=StaffContacts(
                vetting_team=self.settings.vetting_team_email,
                vetting_lead=self.settings.vetting_lead_email,
                secretariat=self.settings.secretariat_email,
            ),
        )

    @activity.defn(name="load_policy", no_thread_cancel_exception=True)  # reads a file: nothing to interrupt
    def load_policy(self) -> LoadedPolicy:
        return self.current()
