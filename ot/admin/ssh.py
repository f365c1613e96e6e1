"""`ot-admin ssh`: what sshd asks to let customers open their terminal UI over SSH."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from ot.admin.context import context_from, run
from ot.admin.help import AdminTyper
from ot.config import Settings
from ot.sites.snippet import collector_url

app = AdminTyper(help="SSH access to the terminal UI: what sshd asks.")


def tui_command(settings: Settings) -> list[str]:
    """The `ot` program the forced command runs."""
    if settings.ssh.tui_command:
        return shlex.split(settings.ssh.tui_command)
    return [str(Path(sys.executable).with_name("ot"))]


def forced_command(settings: Settings, account_id: int, fingerprint: str) -> str:
    """What a customer's key runs, whatever the customer asks for: their own terminal UI."""
    return shlex.join(
        [
            *tui_command(settings),
            "tui",
            "--server", collector_url(settings),
            "--ssh-socket", settings.ssh.socket,
            "--ssh-account", str(account_id),
            "--ssh-key", fingerprint,
        ]
    )  # fmt: skip


@app.command("authorized-keys")
def authorized_keys_command(
    ctx: typer.Context,
    user: str = typer.Argument(..., metavar="USER", help="The login asked for (sshd's %u)."),
    key_type: str = typer.Argument(..., metavar="KEY_TYPE", help="The key's type (sshd's %t)."),
    key: str = typer.Argument(..., metavar="KEY", help="The key, base64 (sshd's %k)."),
) -> None:
    """Answer sshd: the line of a key a customer registered.

    For sshd_config's `AuthorizedKeysCommand ... ssh authorized-keys %u %t %k`. Prints nothing
    for another login or an unknown key, so sshd refuses it. The line lets the key run its
    owner's terminal UI and nothing else (restrict, pty, a forced command).

    \b
    Example:
      ot-admin ssh authorized-keys stats ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI...
    """
    from ot.accounts.ssh_keys import key_of

    context = context_from(ctx)
    settings = context.settings
    if user != settings.ssh.login or not settings.ssh.socket:
        return

    async def action() -> tuple[int, str] | None:
        async with context.session() as session:
            return await key_of(session, key_type, key)

    found = run(action)
    if found is None:
        return
    account_id, fingerprint = found
    command = forced_command(settings, account_id, fingerprint)
    typer.echo(f'restrict,pty,command="{command}" {key_type} {key}')
