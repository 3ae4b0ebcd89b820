"""``pledgeflow ops revoke-tokens PF-...``: every link and reply address ever sent for a pledge stops working.

For a running pledge this goes through its workflow (the ``renew_links`` update), which raises the
registry's token version and emails the focal point a fresh manage link. A closed pledge's workflow has
ended: its token version is raised here, and no email goes out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pledgeflow.cli.ops import console, run_with_client

if TYPE_CHECKING:
    from pledgeflow.core.settings import Settings
    from pledgeflow.temporal.pledge_client import PledgeClient


def revoke_tokens_command(
    pledge_id: Annotated[str, typer.Argument(help="The pledge id, e.g. PF-7K3M9QX.")],
    staff: Annotated[str, typer.Option(help="The operator's name, for the pledge's staff timeline.")],
) -> None:
    """Revoke every link of a pledge (a leaked link, say); the pledger is emailed a fresh one."""
    from pledgeflow.auth.revocation import NotInRegistry, revoke_tokens
    from pledgeflow.core.db import session_for
    from pledgeflow.temporal.pledge_client import PledgeClosed, PledgeError
    from workflows.state import LinksRenewalInput

    async def job(pledges: PledgeClient, settings: Settings) -> str:
        try:
            result = await pledges.renew_links(pledge_id, LinksRenewalInput(staff=staff))
        except PledgeClosed:
            with session_for(settings.database_url) as session:
                try:
                    version = revoke_tokens(session, pledge_id)
                except NotInRegistry:
                    return f"{pledge_id}: not in the registry"
            return f"{pledge_id}: closed; every earlier link revoked (token version {version}), no email sent"
        except PledgeError as exc:
            typer.secho(f"{pledge_id}: {exc}", fg="red", err=True)
            raise typer.Exit(1) from None
        return f"{pledge_id}: {result.message}"

    console().print(run_with_client(job))
