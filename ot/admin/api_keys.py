"""`ot-admin token`: API tokens (shown once, stored as a hash)."""

from __future__ import annotations

import typer

from ot.accounts.api_keys import create_token, list_tokens
from ot.accounts.permissions import Scope
from ot.admin.context import context_from, operator_actor, run

app = typer.Typer(help="API tokens.", no_args_is_help=True)


@app.command("create")
def create_command(
    ctx: typer.Context,
    account: int = typer.Option(..., "--account", help="Id of the owning account."),
    name: str = typer.Option("default", help="A name to recognise the token by."),
    scope: list[str] = typer.Option(
        [Scope.STATS_READ.value],
        "--scope",
        help=f"What the token may do (repeatable): {', '.join(s.value for s in Scope)}.",
    ),
) -> None:
    """Create a token and print it: this is the only time it is shown."""
    context = context_from(ctx)

    async def action() -> str:
        async with context.session() as session:
            _, plaintext = await create_token(session, account, name, scope, actor=operator_actor())
            return plaintext

    plaintext = run(action)
    typer.echo(plaintext)
    typer.echo("Store it now: it cannot be shown again.", err=True)


@app.command("list")
def list_command(
    ctx: typer.Context,
    account: int = typer.Option(..., "--account", help="Id of the owning account."),
) -> None:
    """List an account's tokens (their first characters only)."""
    context = context_from(ctx)

    async def action() -> list[tuple[int | None, str, str, bool]]:
        async with context.session() as session:
            return [
                (t.id, t.prefix, t.name, t.revoked_at is not None)
                for t in await list_tokens(session, account)
            ]

    for token_id, prefix, name, revoked in run(action):
        state = "revoked" if revoked else "active"
        typer.echo(f"{token_id}\t{prefix}…\t{name}\t{state}")
