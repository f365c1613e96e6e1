"""`ot-admin tokens`: API tokens (shown once, stored as a hash)."""

from __future__ import annotations

import typer

from ot.accounts.api_keys import create_token, list_tokens, revoke_token
from ot.accounts.permissions import Scope
from ot.admin.context import context_from, run
from ot.admin.help import AdminTyper
from ot.admin.output import json_option, print_json, print_listing
from ot.clock import as_utc
from ot.errors import Conflict, InvalidInput, NotFound
from ot.models import ApiToken

app = AdminTyper(help="API tokens.", no_args_is_help=True)

ACCOUNT_HELP = "Id of the owning account."
TOKEN_COLUMNS = ["id", "prefix", "name", "scopes", "state", "created_at", "last_used_at"]


def _described(token: ApiToken) -> dict[str, object]:
    """What a listing shows of a token: never more than its first characters."""
    return {
        "id": token.id,
        "prefix": token.prefix,
        "name": token.name,
        "scopes": list(token.scopes),
        "state": "revoked" if token.revoked_at is not None else "active",
        "created_at": as_utc(token.created_at).isoformat(),
        "last_used_at": as_utc(token.last_used_at).isoformat() if token.last_used_at else None,
    }


@app.command("create")
def create_command(
    ctx: typer.Context,
    account: int = typer.Option(..., "--account", metavar="ACCOUNT_ID", help=ACCOUNT_HELP),
    name: str = typer.Option("default", metavar="NAME", help="A name to recognise the token by."),
    scope: list[str] = typer.Option(
        [Scope.STATS_READ.value],
        "--scope",
        metavar="SCOPE",
        help=f"What the token may do (repeatable): {', '.join(s.value for s in Scope)}.",
    ),
    as_json: bool = json_option(),
) -> None:
    """Create a token and print it, the only time it is shown.

    Only its hash is stored.

    \b
    Example:
      ot-admin tokens create --account 3 --name ci --scope stats:read
    """
    context = context_from(ctx)

    async def action() -> tuple[ApiToken, str]:
        async with context.session() as session:
            return await create_token(session, account, name, scope, actor=context.actor)

    token, plaintext = run(action)
    if as_json:
        print_json({**_described(token), "account_id": token.account_id, "token": plaintext})
    else:
        typer.echo(plaintext)
    typer.echo("Store it now: it cannot be shown again.", err=True)


@app.command("list")
def list_command(
    ctx: typer.Context,
    account: int = typer.Option(..., "--account", metavar="ACCOUNT_ID", help=ACCOUNT_HELP),
    as_json: bool = json_option(),
) -> None:
    """List an account's tokens (their first characters only).

    \b
    Example:
      ot-admin tokens list --account 3
    """
    context = context_from(ctx)

    async def action() -> list[dict[str, object]]:
        async with context.session() as session:
            return [_described(token) for token in await list_tokens(session, account)]

    print_listing(
        run(action),
        TOKEN_COLUMNS,
        as_json=as_json,
        shown={"prefix": lambda prefix: f"{prefix}…", "scopes": ",".join},
    )


@app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    token: str = typer.Argument(..., metavar="TOKEN", help="The token's id or name."),
    account: int = typer.Option(..., "--account", metavar="ACCOUNT_ID", help=ACCOUNT_HELP),
    as_json: bool = json_option(),
) -> None:
    """Revoke a token: requests carrying it are refused at once.

    TOKEN is the token's id, or its name when one live token of the account has it. Audited.

    \b
    Example:
      ot-admin tokens revoke --account 3 ci
    """
    context = context_from(ctx)

    async def action() -> ApiToken:
        async with context.session() as session:
            found = live_token(await list_tokens(session, account), token, account)
            assert found.id is not None
            await revoke_token(session, account, found.id, actor=context.actor)
            await session.refresh(found)  # the revocation is an UPDATE of its own
            return found

    revoked = run(action)
    if as_json:
        print_json(_described(revoked))
    else:
        typer.echo(f"token {revoked.id} ({revoked.name}, {revoked.prefix}…) revoked")


def live_token(tokens: list[ApiToken], wanted: str, account_id: int) -> ApiToken:
    """The one live token of the account named by `wanted`, an id or a name."""
    if wanted.isdigit():
        named = [token for token in tokens if token.id == int(wanted)]
    else:
        named = [token for token in tokens if token.name == wanted.strip()]
    if not named:
        raise NotFound(f"account {account_id} has no token {wanted!r}", field="token")
    live = [token for token in named if token.revoked_at is None]
    if not live:
        ids = ", ".join(str(token.id) for token in named)
        raise Conflict(f"token {wanted!r} is already revoked (id {ids})", field="token")
    if len(live) > 1:
        ids = ", ".join(str(token.id) for token in live)
        raise InvalidInput(
            f"account {account_id} has {len(live)} live tokens named {wanted!r} (ids {ids}): "
            "give the id of the one to revoke",
            field="token",
        )
    return live[0]
