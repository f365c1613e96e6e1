"""`ot-admin account`: customer accounts."""

from __future__ import annotations

import typer

from ot.accounts.store import account_name, create_account, list_accounts
from ot.admin.context import context_from, operator_actor, run

app = typer.Typer(help="Customer accounts.", no_args_is_help=True)


@app.command("create")
def create_command(
    ctx: typer.Context, name: str = typer.Argument(..., help="Account name.")
) -> None:
    """Create an account and print its id."""
    context = context_from(ctx)

    async def action() -> int:
        async with context.session() as session:
            account = await create_account(session, context.cipher(), name, actor=operator_actor())
            assert account.id is not None
            return account.id

    typer.echo(f"account {run(action)} created")


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List accounts."""
    context = context_from(ctx)

    async def action() -> list[tuple[int, str]]:
        cipher = context.cipher()
        async with context.session() as session:
            return [(a.id or 0, account_name(a, cipher)) for a in await list_accounts(session)]

    for account_id, name in run(action):
        typer.echo(f"{account_id}\t{name}")
