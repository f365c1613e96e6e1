"""`ot-admin site`: the websites an account collects hits for."""

from __future__ import annotations

import json

import typer

from ot.admin.context import context_from, run
from ot.models import Site
from ot.privacy import IpPolicy, VisitorMode
from ot.sites import add_site, list_sites
from ot.snippets import tracking_snippet

app = typer.Typer(help="Sites.", no_args_is_help=True)


@app.command("add")
def add_command(
    ctx: typer.Context,
    account: int = typer.Option(..., "--account", help="Id of the owning account."),
    domain: str = typer.Argument(..., help="The site's domain, e.g. example.com."),
    timezone: str = typer.Option("UTC", help="IANA time zone of the site's reports."),
    visitor_mode: VisitorMode = typer.Option(VisitorMode.COOKIELESS, help="cookie | cookieless."),
    ip_policy: IpPolicy = typer.Option(IpPolicy.TRUNCATED, help="full | truncated | none."),
    exclude_ip: list[str] = typer.Option([], help="IP or network never counted (repeatable)."),
    exclude_path: list[str] = typer.Option([], help="Path pattern never counted, e.g. /admin/*."),
    hash_routing: bool = typer.Option(False, help="Count URL fragments as pages (#/route)."),
    respect_do_not_track: bool = typer.Option(
        True, help="Drop hits of browsers sending Do-Not-Track or Global Privacy Control."
    ),
) -> None:
    """Add a site and print its tracking snippet."""
    context = context_from(ctx)

    async def action() -> Site:
        async with context.session() as session:
            return await add_site(
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
            )

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
