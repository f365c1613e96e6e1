"""The customer's rights, by an operator: `ot-admin accounts export`, `ot-admin erase` and
`ot-admin retention run`. Each act is written to the audit trail as the operator's."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.admin.context import context_from, run
from ot.admin.help import AdminTyper
from ot.admin.output import plural, progress_bar
from ot.errors import InvalidInput
from ot.ingest.visitors import visitor_id_from_client_id
from ot.private_files import open_private_for_writing
from ot.rights.erasure import ErasureReport, erase_visitor
from ot.rights.export import write_export
from ot.rights.housekeeping import HousekeepingReport, run_housekeeping
from ot.security.secrets import load_or_create_secrets
from ot.sites.store import get_site

retention_app = AdminTyper(help="Per-site retention of hits.", no_args_is_help=True)


def export_command(
    ctx: typer.Context,
    account_id: int = typer.Argument(..., help="The account's id."),
    out: Path = typer.Option(..., "--out", metavar="FILE", help="The zip file to write."),
) -> None:
    """Export everything held about an account, as a zip.

    The zip holds account.json and the hits as CSV files.

    \b
    Example:
      ot-admin accounts export 3 --out account-3.zip
    """
    context = context_from(ctx)

    async def action() -> dict[str, int]:
        try:
            async with context.engine() as engine:
                with open_private_for_writing(out) as archive:
                    return await write_export(
                        engine, context.cipher(), account_id, archive, actor=context.actor
                    )
        except BaseException:
            out.unlink(missing_ok=True)  # never leave half an export behind
            raise

    counts = run(action)
    sites, hits = plural(counts["sites"], "site"), plural(counts["hits"], "hit")
    typer.echo(f"exported {sites} and {hits} to {out}")


def erase_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="The site's id or domain."),
    visitor_id: int | None = typer.Option(None, "--visitor-id", help="Stored visitor id."),
    client_id: str | None = typer.Option(None, "--client-id", help="Tracker's first-party id."),
    ip: str | None = typer.Option(None, "--ip", help="The visitor's IP address."),
) -> None:
    """Erase one visitor's hits and visits from a site.

    On the customer's request; audited.

    \b
    Example:
      ot-admin erase example.com --ip 203.0.113.9
    """
    context = context_from(ctx)
    settings = context.settings

    async def action() -> ErasureReport:
        if sum(value is not None for value in (visitor_id, client_id, ip)) != 1:
            raise InvalidInput("give exactly one of --visitor-id, --client-id, --ip")
        async with context.engine(for_writes=True) as engine:
            async with AsyncSession(engine) as session:
                found = await get_site(session, site)
            assert found.id is not None
            visitor_ids = {visitor_id} if visitor_id is not None else None
            if client_id is not None:
                key = load_or_create_secrets(settings.data_dir).visitor_key
                visitor_ids = {visitor_id_from_client_id(key, found.id, client_id)}
            return await erase_visitor(
                engine,
                context.cipher(),
                found,
                visitor_ids=visitor_ids,
                ip=ip,
                actor=context.actor,
                by_client_id=client_id is not None,
            )

    report = run(action)
    typer.echo(
        f"erased {plural(report.hits, 'hit')} in {plural(report.visits, 'visit')}; "
        f"{plural(report.days_to_roll_again, 'day')} will be rolled up again"
    )
    for note in report.notes:
        typer.echo(f"note: {note}")


@retention_app.command("run")
def retention_run_command(ctx: typer.Context) -> None:
    """Delete hits past retention and purge deleted accounts.

    Hits past each site's retention, and the accounts whose deletion grace period is over (`ot
    serve` does this every hour).

    \b
    Example:
      ot-admin retention run
    """
    context = context_from(ctx)

    async def action() -> HousekeepingReport:
        async with context.engine(for_writes=True) as engine:
            # The bar is gone before anything else is said (an error, a warning).
            with progress_bar("applying retention", unit="sites") as progress:
                return await run_housekeeping(engine, context.settings, progress)

    report = run(action)
    for site in report.retention.sites:
        typer.echo(
            f"site {site.site_id}: deleted {plural(site.hits, 'hit')}, "
            f"{plural(site.visits, 'visit')}, {plural(site.rollup_rows, 'rollup row')} "
            "past its retention"
        )
    typer.echo(f"purged {plural(len(report.purged_accounts), 'deleted account')}")
