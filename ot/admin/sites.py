"""`ot-admin sites`: the websites an account collects hits for."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ot.admin.context import context_from, refuse, run
from ot.admin.help import AdminTyper
from ot.admin.output import did_you_mean, json_option, metric_text, plural, print_json
from ot.clock import as_utc, utcnow
from ot.models import Site
from ot.privacy import DEFAULT_PRIVACY, IpPolicy, VisitorMode
from ot.sites.snippet import tracking_snippet
from ot.sites.store import (
    MAX_RETENTION_DAYS,
    add_site,
    delete_site,
    get_site,
    list_sites,
    update_site,
)

if TYPE_CHECKING:  # the stats engine is imported by `sites summary` alone (see its command)
    from ot.stats.dashboard import Ranked

app = AdminTyper(help="Sites.", no_args_is_help=True)


@app.command("add")
def add_command(
    ctx: typer.Context,
    account: int = typer.Option(
        ..., "--account", metavar="ACCOUNT_ID", help="Id of the owning account."
    ),
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
    as_json: bool = json_option(),
) -> None:
    """Add a site and print its tracking snippet.

    \b
    Example:
      ot-admin sites add --account 3 example.com --timezone Europe/Amsterdam
    """
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
                actor=context.actor,
            )
            return added

    site = run(action)
    snippet = tracking_snippet(site, context.settings)
    if as_json:
        print_json({**site_fields(site), "snippet": snippet})
        return
    typer.echo(f"site {site.id} ({site.domain}) added. Put this in every page's <head>:\n")
    typer.echo(snippet)


def site_fields(site: Site) -> dict[str, object]:
    """A site's settings as `--json` prints them, its times in UTC whichever database read them."""
    fields = site.model_dump(mode="json")
    for name in ("created_at", "verified_at"):
        moment = getattr(site, name)
        fields[name] = as_utc(moment).isoformat() if moment is not None else None
    return fields


@app.command("update")
def update_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., metavar="SITE", help="Site id or domain."),
    timezone: str | None = typer.Option(
        None, metavar="ZONE", help="IANA time zone of the site's reports, e.g. Europe/Amsterdam."
    ),
    visitor_mode: VisitorMode | None = typer.Option(None, help="How visitors are told apart."),
    ip_policy: IpPolicy | None = typer.Option(None, help="What is kept of visitors' IPs."),
    exclude_ip: list[str] | None = typer.Option(
        None,
        metavar="IP",
        help="IP or network never counted (repeatable): replaces the site's list.",
    ),
    exclude_path: list[str] | None = typer.Option(
        None,
        metavar="PATTERN",
        help="Path pattern never counted, e.g. /admin/* (repeatable): replaces the site's list.",
    ),
    clear_exclusions: bool = typer.Option(
        False, "--clear-exclusions", help="Count every IP and path again."
    ),
    hash_routing: bool | None = typer.Option(
        None, "--hash-routing/--no-hash-routing", help="Count URL fragments as pages (#/route)."
    ),
    respect_do_not_track: bool | None = typer.Option(
        None,
        "--respect-do-not-track/--ignore-do-not-track",
        help="Drop hits of browsers sending Do-Not-Track or Global Privacy Control.",
    ),
    retention_days: int | None = typer.Option(
        None,
        min=1,
        max=MAX_RETENTION_DAYS,
        metavar="DAYS",
        help="Delete hits older than this many days.",
    ),
    keep_hits: bool = typer.Option(
        False, "--keep-hits", help="Keep every hit (no retention limit)."
    ),
    as_json: bool = json_option(),
) -> None:
    """Change a site's settings; the others stay as they are.

    The domain stays: a new domain is a new site. Audited.

    \b
    Example:
      ot-admin sites update example.com --retention-days 400
    """
    changes = site_changes(
        timezone=timezone,
        visitor_mode=visitor_mode,
        ip_policy=ip_policy,
        excluded_ips=[] if clear_exclusions else exclude_ip,
        excluded_paths=[] if clear_exclusions else exclude_path,
        hash_routing=hash_routing,
        respect_do_not_track=respect_do_not_track,
        retention_days=retention_days,
    )
    if clear_exclusions and (exclude_ip or exclude_path):
        refuse("give --clear-exclusions or --exclude-ip/--exclude-path, not both")
    if keep_hits:
        if retention_days is not None:
            refuse("give --retention-days or --keep-hits, not both")
        changes["retention_days"] = None
    if not changes:
        refuse("nothing to change: give the settings to change (see ot-admin sites update --help)")
    context = context_from(ctx)

    async def action() -> tuple[Site, list[str], str]:
        async with context.session() as session:
            found = await get_site(session, site)
            snippet_before = tracking_snippet(found, context.settings)
            changed = await update_site(session, found, changes, actor=context.actor)
            return found, changed, snippet_before

    updated, changed, snippet_before = run(action)
    snippet = tracking_snippet(updated, context.settings)
    if as_json:
        print_json({**site_fields(updated), "changed": changed, "snippet": snippet})
        return
    if not changed:
        typer.echo(f"site {updated.id} ({updated.domain}): nothing changed, it was so already")
        return
    typer.echo(f"site {updated.id} ({updated.domain}) changed: {', '.join(changed)}")
    if snippet != snippet_before:
        typer.echo(
            "The tracking snippet changed with it: put this in every page's <head> instead:\n"
        )
        typer.echo(snippet)


def site_changes(**options: object) -> dict[str, object]:
    """The settings given on the command line (an option left out is None)."""
    return {field: value for field, value in options.items() if value is not None}


@app.command("list")
def list_command(
    ctx: typer.Context,
    account: int | None = typer.Option(
        None, "--account", metavar="ACCOUNT_ID", help="Only this account's sites."
    ),
    as_json: bool = json_option(),
) -> None:
    """List sites with their privacy settings.

    \b
    Example:
      ot-admin sites list --account 3
    """
    context = context_from(ctx)

    async def action() -> list[Site]:
        async with context.session() as session:
            return await list_sites(session, account)

    sites = run(action)
    if as_json:
        print_json([site_fields(site) for site in sites])
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
    period: str = typer.Option(
        "day", help="A Stats API period: day, 7d, 28d, 30d, 91d, month, 6mo, 12mo, year, all."
    ),
    as_json: bool = json_option(),
) -> None:
    """Print a site's visitors, visits, pageviews and top lists.

    The figures of a period, as the stats engine (and so /api/v2/query) counts them.

    \b
    Example:
      ot-admin sites summary example.com --period 7d
    """
    from ot.stats.dashboard import PERIODS, SiteSummary, summarise_site

    if period not in PERIODS:
        refuse(
            f'--period: unknown period "{period}"{did_you_mean(period, PERIODS)}; '
            f"the periods are {', '.join(PERIODS)}"
        )
    context = context_from(ctx)

    async def action() -> tuple[Site, SiteSummary]:
        async with context.session() as session:
            found = await get_site(session, site)
            connection = await session.connection()
            return found, await summarise_site(connection, found, period, now=utcnow())

    found, summary = run(action)
    first, last = summary.time_range.first_day, summary.time_range.last_day
    if as_json:
        figures = {
            name: getattr(summary, name)
            for name in ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")
        }
        answer = {
            "site": found.domain,
            "period": period,
            "date_range": [first.isoformat(), last.isoformat()],
            **figures,
            "events": summary.events,
            "top_pages": [[page.name, page.visitors] for page in summary.top_pages],
            "top_sources": [[source.name, source.visitors] for source in summary.top_sources],
            "visitors_are_daily_sums": summary.visitors_are_daily_sums,
        }
        print_json(answer)
        return
    typer.echo(f"{found.domain}, {period} ({first} to {last}):")
    typer.echo(
        f"  visitors {summary.visitors}   visits {summary.visits}   "
        f"pageviews {summary.pageviews}   events {summary.events}"
    )
    typer.echo(
        f"  bounce rate {metric_text('bounce_rate', summary.bounce_rate)}   "
        f"average visit {metric_text('visit_duration', summary.visit_duration)}"
    )
    if summary.visitors_are_daily_sums:
        typer.echo("  (cookieless site: visitors are counted per day and summed)")
    typer.echo(f"  top pages:   {_ranked(summary.top_pages)}")
    typer.echo(f"  top sources: {_ranked(summary.top_sources)}")


def _ranked(ranked: list[Ranked]) -> str:
    """`/pricing (2 visitors), / (1 visitor)`, or `none` for a period without any."""
    counted = [f"{item.name} ({plural(int(item.visitors), 'visitor')})" for item in ranked]
    return ", ".join(counted) or "none"


@app.command("snippet")
def snippet_command(
    ctx: typer.Context, site: str = typer.Argument(..., help="Site id or domain.")
) -> None:
    """Print the tracking snippet of a site, matching its settings.

    \b
    Example:
      ot-admin sites snippet example.com
    """
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
    """Remove a site and everything stored for it.

    Its hits, visits, rollups and goals go too; audited.

    \b
    Example:
      ot-admin sites remove example.com --yes
    """
    if not yes:
        refuse("removing a site deletes all its data: add --yes to confirm")
    context = context_from(ctx)

    async def action() -> tuple[Site, dict[str, int]]:
        async with context.session() as session:
            found = await get_site(session, site)
            removed = await delete_site(session, found, actor=context.actor)
            return found, removed

    found, removed = run(action)
    hits = plural(removed.get("hit", 0), "hit")
    typer.echo(f"site {found.id} ({found.domain}) removed, with {hits}")
