"""`ot-admin account`: customer accounts."""

from __future__ import annotations

import typer

from ot.accounts.store import account_name, create_account, list_accounts
from ot.admin.context import context_from, run
from ot.admin.help import AdminTyper
from ot.admin.output import json_option, print_json, print_listing

app = AdminTyper(help="Customer accounts.", no_args_is_help=True)


@app.command("create")
def create_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="Account name."),
    as_json: bool = json_option(),
) -> None:
    """Create an account and print its id.

    \b
    Example:
      ot-admin account create "Jane Doe Consulting"
    """
    context = context_from(ctx)

    async def action() -> tuple[int, str]:
        cipher = context.cipher()
        async with context.session() as session:
            account = await create_account(session, cipher, name, actor=context.actor)
            assert account.id is not None
            return account.id, account_name(account, cipher)

    account_id, stored_name = run(action)
    if as_json:
        print_json({"id": account_id, "name": stored_name})
    else:
        typer.echo(f"account {account_id} created")


@app.command("list")
def list_command(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """List accounts: id and name.

    \b
    Example:
      ot-admin account list --json
    """
    context = context_from(ctx)

    async def action() -> list[dict[str, object]]:
        cipher = context.cipher()
        async with context.session() as session:
            return [
                {"id": account.id, "name": account_name(account, cipher)}
                for account in await list_accounts(session)
            ]

    print_listing(run(action), ["id", "name"], as_json=as_json)
