"""`ot-admin operators`: who may run `ot-admin`, and with which roles (`ot.security.operators`)."""

from __future__ import annotations

import typer

from ot.admin.context import context_from, installation_user, run
from ot.admin.help import AdminTyper
from ot.admin.output import json_option, print_json, print_listing
from ot.clock import as_utc
from ot.models import OperatorAppointment
from ot.security.operators import ROLE_NAMES, add_operator, list_operators, remove_operator

app = AdminTyper(help="Operators: the OS users who may run ot-admin, and their roles.")

COLUMNS = ["login", "role", "appointed_by", "appointed_at", "ended_by", "ended_at"]


def _described(appointment: OperatorAppointment) -> dict[str, object]:
    return {
        "login": appointment.login,
        "role": appointment.role.value,
        "appointed_by": appointment.appointed_by,
        "appointed_at": as_utc(appointment.appointed_at).isoformat(),
        "ended_by": appointment.ended_by,
        "ended_at": as_utc(appointment.ended_at).isoformat() if appointment.ended_at else None,
    }


@app.command("add")
def add_command(
    ctx: typer.Context,
    login: str = typer.Argument(..., metavar="LOGIN", help="The operator's OS login."),
    role: str = typer.Option(..., "--role", metavar="ROLE", help=f"One of: {ROLE_NAMES}."),
    as_json: bool = json_option(),
) -> None:
    """Appoint an OS user to a role; run it again for each further role.

    The first admin is appointed by root (`sudo ot-admin ...`) or the owner of the data
    folder; after that, only admins appoint, and every command checks its operator's roles.
    Operators run ot-admin as themselves or through sudo, which names them.

    \b
    Example:
      ot-admin operators add alice --role legal
    """
    context = context_from(ctx)

    async def action() -> OperatorAppointment:
        async with context.session() as session:
            return await add_operator(session, installation_user(context.settings), login, role)

    appointment = run(action)
    if as_json:
        print_json(_described(appointment))
        return
    typer.echo(f"{appointment.login} appointed {appointment.role.value}")
    if context.operator is not None and context.operator.bootstrap:
        typer.echo(
            "the first admin: from now on only appointed operators run ot-admin "
            f"({context.operator.login} too, if they are to go on)",
            err=True,
        )


@app.command("remove")
def remove_command(
    ctx: typer.Context,
    login: str = typer.Argument(..., metavar="LOGIN", help="The operator's OS login."),
    role: str | None = typer.Option(
        None, "--role", metavar="ROLE", help="Only this role (default: every role held)."
    ),
    as_json: bool = json_option(),
) -> None:
    """End an operator's roles, kept as history.

    Ended appointments stay listed by `list --all`. The last admin cannot be removed.

    \b
    Example:
      ot-admin operators remove bob --role legal
    """
    context = context_from(ctx)

    async def action() -> list[OperatorAppointment]:
        async with context.session() as session:
            return await remove_operator(session, installation_user(context.settings), login, role)

    ended = run(action)
    if as_json:
        print_json([_described(each) for each in ended])
    else:
        roles = ", ".join(each.role.value for each in ended)
        typer.echo(f"{login} no longer holds: {roles}")


@app.command("list")
def list_command(
    ctx: typer.Context,
    include_ended: bool = typer.Option(
        False, "--all", help="Also the appointments that ended: who held which role when."
    ),
    as_json: bool = json_option(),
) -> None:
    """List the operators and their roles, one line per role held.

    \b
    Example:
      ot-admin operators list --all
    """
    context = context_from(ctx)

    async def action() -> list[dict[str, object]]:
        async with context.session() as session:
            found = await list_operators(session, include_ended=include_ended)
            return [_described(each) for each in found]

    rows = run(action)
    if not rows and not as_json and not include_ended:
        typer.echo(
            "no operators appointed: until root (or the owner of the data folder) appoints the "
            "first admin with `ot-admin operators add LOGIN --role admin`, they act as admin",
            err=True,
        )
    print_listing(rows, COLUMNS, as_json=as_json)
