"""`ot-admin accounts`: customer accounts."""

from __future__ import annotations

from datetime import datetime

import typer

from ot.accounts.store import account_name, create_account, list_accounts
from ot.admin.context import context_from, refuse, run
from ot.admin.help import AdminTyper
from ot.admin.output import json_option, print_fields, print_json, print_listing
from ot.clock import as_utc, utcnow

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
      ot-admin accounts create "Jane Doe Consulting"
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
      ot-admin accounts list --json
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


@app.command("search")
def search_command(
    ctx: typer.Context,
    email: str = typer.Option(..., "--email", metavar="ADDRESS", help="The log-in address."),
    as_json: bool = json_option(),
) -> None:
    """Find the account of an e-mail address.

    Addresses are stored encrypted: the search goes through their blind index (keyed
    hashes), never the addresses.

    \b
    Example:
      ot-admin accounts search --email owner@shop.example
    """
    from ot.accounts.store import find_account_by_email

    context = context_from(ctx)

    async def action() -> list[dict[str, object]]:
        cipher = context.cipher()
        async with context.session() as session:
            found = await find_account_by_email(session, cipher, email)
            return [] if found is None else [{"id": found.id, "name": account_name(found, cipher)}]

    rows = run(action)
    if not rows and not as_json:
        refuse(f"no account logs in with {email}")
    print_listing(rows, ["id", "name"], as_json=as_json)


@app.command("show")
def show_command(
    ctx: typer.Context,
    account: int = typer.Argument(..., metavar="ACCOUNT_ID"),
    as_json: bool = json_option(),
) -> None:
    """Show an account: profile, plan, sites, suspension, deletion.

    \b
    Example:
      ot-admin accounts show 3
    """
    from ot.accounts.profile import profile_of
    from ot.accounts.store import get_account
    from ot.accounts.suspension import reason_of
    from ot.billing.plans import plan_of
    from ot.models import AccountDeletion, AccountSuspension
    from ot.sites.store import list_sites

    context = context_from(ctx)

    async def action() -> dict[str, object]:
        cipher = context.cipher()
        async with context.session() as session:
            found = await get_account(session, account)
            profile = await profile_of(session, cipher, found)
            plan = await plan_of(session, context.settings.billing, account)
            sites = await list_sites(session, account)
            suspension = await session.get(AccountSuspension, account)
            deletion = await session.get(AccountDeletion, account)
            return {
                "id": profile.id,
                "name": profile.name,
                "email": profile.email,
                "email_verified": profile.email_verified,
                "company": profile.company,
                "address": profile.address,
                "phone": profile.phone,
                "region": profile.region,
                "second_factor": profile.second_factor,
                "created_at": as_utc(profile.created_at).isoformat(),
                "plan": plan.name,
                "sites": [site.domain for site in sites],
                "suspended": None
                if suspension is None
                else {
                    "at": as_utc(suspension.suspended_at).isoformat(),
                    "by": suspension.suspended_by,
                    "reason": reason_of(suspension, cipher),
                },
                "deletion": None
                if deletion is None
                else {
                    "purge_after": as_utc(deletion.purge_after).isoformat(),
                    "purged_at": as_utc(deletion.purged_at).isoformat()
                    if deletion.purged_at
                    else None,
                },
            }

    shown = run(action)
    if as_json:
        print_json(shown)
        return
    print_fields(shown)


@app.command("suspend")
def suspend_command(
    ctx: typer.Context,
    account: int = typer.Argument(..., metavar="ACCOUNT_ID"),
    reason: str = typer.Option(..., "--reason", metavar="TEXT", help="Why, for the record."),
) -> None:
    """Suspend an account: nothing of it is reachable until lifted.

    No log-in, session, API key, grant or SSH works meanwhile. Its sites' hits are still
    collected: nothing is lost while it is suspended.

    \b
    Example:
      ot-admin accounts suspend 3 --reason "abuse report 2026-117"
    """
    from ot.accounts.suspension import suspend_account

    context = context_from(ctx)

    async def action() -> None:
        async with context.session() as session:
            assert context.operator is not None
            await suspend_account(
                session, context.cipher(), account, reason,
                by=context.operator.login, now=utcnow(), actor=context.actor,
            )  # fmt: skip

    run(action)
    typer.echo(f"account {account} suspended; lift it with: ot-admin accounts unsuspend {account}")


@app.command("unsuspend")
def unsuspend_command(
    ctx: typer.Context, account: int = typer.Argument(..., metavar="ACCOUNT_ID")
) -> None:
    """Lift an account's suspension.

    Its sessions, keys, grants and SSH work again.

    \b
    Example:
      ot-admin accounts unsuspend 3
    """
    from ot.accounts.suspension import unsuspend_account

    context = context_from(ctx)

    async def action() -> None:
        async with context.session() as session:
            await unsuspend_account(session, account, actor=context.actor)

    run(action)
    typer.echo(f"account {account} is no longer suspended")


@app.command("delete")
def delete_command(
    ctx: typer.Context,
    account: int = typer.Argument(..., metavar="ACCOUNT_ID"),
    yes: bool = typer.Option(False, "--yes", help="Schedule it without asking."),
) -> None:
    """Schedule an account's deletion, as if its owner asked.

    Its sessions and keys end and its grants are suspended at once; its data is purged after
    the grace period, during which the owner may log in and cancel.

    \b
    Example:
      ot-admin accounts delete 3 --yes
    """
    from ot.rights.account_deletion import request_deletion

    context = context_from(ctx)
    if not yes:
        typer.confirm(
            f"Schedule account {account}'s deletion (purged after "
            f"{context.settings.rights.deletion_grace_days} days)?",
            abort=True,
        )

    async def action() -> datetime:
        async with context.session() as session:
            scheduled = await request_deletion(
                session, account, now=utcnow(),
                grace_days=context.settings.rights.deletion_grace_days, actor=context.actor,
            )  # fmt: skip
            return scheduled.purge_after

    purge_after = run(action)
    typer.echo(f"account {account} is purged after {as_utc(purge_after):%Y-%m-%d %H:%M} UTC")
