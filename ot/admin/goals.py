"""`ot-admin goals`: what a site's owner wants visitors to do (a page or a custom event)."""

from __future__ import annotations

import typer

from ot.admin.context import context_from, run
from ot.admin.help import AdminTyper
from ot.admin.output import json_option, print_listing
from ot.models import Goal
from ot.sites.store import get_site
from ot.stats.goals import add_goal, delete_goal, goal_named, list_goals

app = AdminTyper(
    help="Goals: pages or custom events whose conversions are counted.", no_args_is_help=True
)


@app.command("add")
def add_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="Site id or domain."),
    page: str | None = typer.Option(None, help="Path pattern, e.g. /thanks or /blog/**."),
    event: str | None = typer.Option(
        None, help='Custom event name, e.g. Signup, "Outbound Link: Click", "File Download", 404.'
    ),
    name: str | None = typer.Option(None, help="Display name (default: from the page or event)."),
) -> None:
    """Add a goal to a site.

    \b
    Example:
      ot-admin goals add example.com --page /thanks --name Thanks
    """
    context = context_from(ctx)

    async def action() -> Goal:
        async with context.session() as session:
            found = await get_site(session, site)
            assert found.id is not None
            return await add_goal(
                session,
                found.id,
                page=page,
                event=event,
                display_name=name,
                actor=context.actor,
            )

    goal = run(action)
    typer.echo(f"goal '{goal.display_name}' added ({goal.kind} {goal.target})")


@app.command("list")
def list_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="Site id or domain."),
    as_json: bool = json_option(),
) -> None:
    """List a site's goals.

    \b
    Example:
      ot-admin goals list example.com
    """
    context = context_from(ctx)

    async def action() -> list[Goal]:
        async with context.session() as session:
            found = await get_site(session, site)
            assert found.id is not None
            return await list_goals(session, found.id)

    goals = [
        {"name": goal.display_name, "kind": str(goal.kind), "target": goal.target}
        for goal in run(action)
    ]
    print_listing(goals, ["name", "kind", "target"], as_json=as_json)


@app.command("remove")
def remove_command(
    ctx: typer.Context,
    site: str = typer.Argument(..., help="Site id or domain."),
    name: str = typer.Argument(..., help="The goal's display name."),
) -> None:
    """Remove a goal from a site.

    Its past hits stay; they just no longer count as conversions.

    \b
    Example:
      ot-admin goals remove example.com Thanks
    """
    context = context_from(ctx)

    async def action() -> None:
        async with context.session() as session:
            found = await get_site(session, site)
            assert found.id is not None
            goal = await goal_named(session, found.id, name)
            await delete_goal(session, found, goal, actor=context.actor)

    run(action)
    typer.echo(f"goal '{name}' removed")
