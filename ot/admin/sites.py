"""`ot-admin site`: the websites an account collects hits for."""

from __future__ import annotations

import json
from datetime import timedelta

import typer

from ot.admin.context import context_from, operator_actor, run
from ot.clock import utcnow
from ot.models import Site
from ot.privacy import DEFAULT_PRIVACY, IpPolicy, VisitorMode
from ot.sites.snippet import tracking_snippet
from ot.sites.store import add_site, delete_site, get_site, list_sites
from ot.stats.summary import SiteSummary, summarise_site

app = typer.Typer(help="Sites.", no_args_is_help=True)


@app.command("add")
def add_command(
    ctx: typer.Context,
    account: int = typer.Option(..., "--account", help="Id of the owning account."),
    domain: str = typer.Argument(..., help="The site's domain, e.g. example.com."),
    timezone: str = typer.Option("UTC", help="IANA time zone of the site's reports."),
    visitor_mode: VisitorMode = typer.Option(
        DEFAULT_PRIVACY.visitor_mode, help="cookie | cookieless."
    ),
    ip_policy: IpPolicy = typer.Option(DEFAULT_PRIVACY.ip_policy, help="full | truncated | none."),
    exclude_ip: list[str] = typer.Option([], help="IP or network never counted (repeatable)."),
    exclude_path: list[str] = typer.Option([], help="Path pattern never counted, e.g. /admin/*."),
    hash_routing: bool = typer.Option(False, help="Count URL fragments as pages (#/route)."),
    respect_do_not_track: bool = typer.Option(
        DEFAULT_PRIVACY.respect_do_not_track,
        help="Drop hits of browsers sending Do-Not-Track or Global Privacy Control.",
    ),
    retention_days: int | None = typer.Option(
        DEFAULT_PRIVACY.retention_days,
        help="Delete hits older than this many days (default: keep them).",
    ),
) -> None:
    """Add a site and print its tracking snippet."""
    context = context_from(ctx)

    async def action() -> Site:
        async with context.session() as session:
            added = await add_site(
                session,
                account,
                domain,
                timezone=timezone,
                visitor_mode=visitor_mode,
                ip_policy=ip_policy,
                excluded_ips=exclude_ip,
                excluded_paths=exclude_path,
                hash_routing=hash_routing,
                respect_do_not_track=respect_do_not_track,
                retention_days=retention_days,
                actor=operator_actor(),
            )
            return added

    site = run(action)
    typer.echo(f"site {site.id} ({site.domain}) added. Put this in every page's <head>:\n")
    typer.echo(tracking_snippet(site, context.settings))


@app.command("list")
def list_command(
    ctx: typer.Context,
    account: int | None = typer.Option(None, "--account", help="Only this account's sites."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List sites with their privacy settings."""
    context = context_from(ctx)

    async def action() -> list[Site]:
        async with context.session() as session:
            return await list_sites(session, account)

    sites = run(action)
    if as_json:
        typer.echo(json.dumps([site.model_dump(mode="json") for site in sites], indent=2))
        return
    typer.echo("id\taccount\tdomain\ttimezone\tvisitors\tip")
    for site in sites:
        typer.echo(
            f"{site.id}\t{site.account_id}\t{site.domain}\t{site.timezone}\t"
            f"{site.visitor_mode}\t{site.ip_policy}"
        )


@app.command("summary")
def summary_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="Site id or domain."),
    days: int = typer.Option(1, min=1, max=3660, help="How many days back to summarise."),
) -> None:
    """Visitors, visits, pageviews, bounce rate, top pages and sources of the last days."""
    context = context_from(ctx)

    async def action() -> tuple[Site, SiteSummary]:
        async with context.session() as session:
            found = await get_site(session, site)
            assert found.id is not None
            connection = await session.connection()
            since = utcnow() - timedelta(days=days)
            return found, await summarise_site(connection, found.id, since)

    found, summary = run(action)
    typer.echo(f"{found.domain}, last {days} day(s):")
    typer.echo(
        f"  visitors {summary.visitors}   visits {summary.visits}   "
        f"pageviews {summary.pageviews}   events {summary.events}"
    )
    typer.echo(
        f"  bounce rate {summary.bounce_rate} %   average visit {summary.average_visit_seconds} s"
    )
    if found.visitor_mode == VisitorMode.COOKIELESS and days > 1:
        typer.echo("  (cookieless site: visitors are counted per day and summed)")
    typer.echo("  top pages:   " + ", ".join(f"{p} ({n})" for p, n in summary.top_pages))
    typer.echo("  top sources: " + ", ".join(f"{s} ({n})" for s, n in summary.top_sources))


@app.command("snippet")
def snippet_command(
    ctx: typer.Context, site: str = typer.Argument(..., help="Site id or domain.")
) -> None:
    """Print the tracking snippet of a site, matching its settings."""
    context = context_from(ctx)

    async def action() -> Site:
        async with context.session() as session:
            return await get_site(session, site)

    typer.echo(tracking_snippet(run(action), context.settings))


@app.command("remove")
def remove_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="Site id or domain."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: every hit of the site is deleted."),
) -> None:
    """Remove a site and everything stored for it (hits, visits, rollups, goals); audited."""
    if not yes:
        typer.echo("error: removing a site deletes all its data: add --yes to confirm", err=True)
        raise typer.Exit(1)
    context = context_from(ctx)

    async def action() -> tuple[Site, dict[str, int]]:
        async with context.session() as session:
            found = await get_site(session, site)
            removed = await delete_site(session, found, actor=operator_actor())
            return found, removed

    found, removed = run(action)
    typer.echo(f"site {found.id} ({found.domain}) removed, with {removed.get('hit', 0)} hits")
