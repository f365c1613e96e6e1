"""`ot-admin keys`: the encryption keys of personal fields (rotate, status, retire)."""

from __future__ import annotations

from pathlib import Path

import typer

from ot import paths
from ot.admin.context import AdminContext, context_from, run
from ot.admin.help import AdminTyper
from ot.admin.output import json_option, plural, print_json, print_listing, progress_bar
from ot.security.key_rotation import KeyUsage, RotationReport, key_usage, retire_key, rotate
from ot.security.secrets import load_secrets_of

app = AdminTyper(help="Encryption keys of personal fields.", no_args_is_help=True)


def _secrets_file(context: AdminContext) -> Path:
    load_secrets_of(context.settings)  # made on first use, like the server does
    return context.settings.secrets_file or paths.secrets_path(context.settings.data_dir)


@app.command("rotate")
def rotate_command(
    ctx: typer.Context,
    batch_size: int = typer.Option(500, min=1, max=100_000, help="Values per transaction."),
) -> None:
    """Add a new current key and re-encrypt every value under it.

    In batches, while the server keeps running (it reads both keys).

    \b
    Example:
      ot-admin keys rotate --batch-size 1000
    """
    context = context_from(ctx)
    secrets_file = _secrets_file(context)

    async def action() -> RotationReport:
        # Each batch reads, then rewrites what it read: on SQLite it must take the write lock
        # first, or a commit of the running server in between fails it ("database is locked").
        # The bar is gone before anything else is said (an error, a warning).
        async with context.engine(for_writes=True) as engine:
            with progress_bar("re-encrypting", unit="values") as progress:
                return await rotate(
                    engine,
                    secrets_file,
                    actor=context.actor,
                    batch_size=batch_size,
                    progress=progress,
                )

    report = run(action)
    typer.echo(f"new current key {report.new_key_id}")
    for column, count in sorted(report.reencrypted.items()):
        typer.echo(f"  {column}: {plural(count, 'value')} re-encrypted")
    for column, count in sorted(report.unreadable.items()):
        typer.echo(
            f"  {column}: {plural(count, 'value')} cannot be decrypted and were left alone",
            err=True,
        )
    if report.unreadable:
        raise typer.Exit(1)


@app.command("status")
def status_command(ctx: typer.Context, as_json: bool = json_option()) -> None:
    """Show each key and how many stored values it encrypts.

    \b
    Example:
      ot-admin keys status --json
    """
    context = context_from(ctx)
    secrets = load_secrets_of(context.settings)

    async def action() -> KeyUsage:
        async with context.engine() as engine:
            return await key_usage(engine, list(secrets.encryption_keys))

    usage = run(action)
    keys = [
        {
            "key": key_id,
            "values": usage.by_key[key_id],
            "state": "current" if key_id == secrets.current_key_id else "old",
        }
        for key_id in secrets.encryption_keys
    ]
    if as_json:
        print_json(
            {
                "keys": keys,
                "unknown_key_values": usage.by_key["unknown"],
                "by_column": {column: dict(counts) for column, counts in usage.by_column.items()},
                "not_encrypted": dict(usage.not_encrypted),
            }
        )
        return
    if usage.by_key["unknown"]:
        keys.append(
            {
                "key": "unknown",
                "values": usage.by_key["unknown"],
                "state": "not in the secrets file",
            }
        )
    print_listing(keys, ["key", "values", "state"], as_json=False)
    for column, counts in sorted(usage.by_column.items()):
        spread = ", ".join(f"{key_id} {count}" for key_id, count in sorted(counts.items()))
        typer.echo(f"  {column}: {spread or 'no values'}")
    for column, count in sorted(usage.not_encrypted.items()):
        typer.echo(f"  {column}: {plural(count, 'value')} NOT encrypted")


@app.command("retire")
def retire_command(
    ctx: typer.Context, key_id: str = typer.Argument(..., help="The key id to remove.")
) -> None:
    """Remove an old key from the secrets file.

    Refused while any stored value uses it.

    \b
    Example:
      ot-admin keys retire k1
    """
    context = context_from(ctx)
    secrets_file = _secrets_file(context)

    async def action() -> None:
        async with context.engine(for_writes=True) as engine:  # reads, then records (see rotate)
            await retire_key(engine, secrets_file, key_id, actor=context.actor)

    run(action)
    typer.echo(f"key {key_id} retired")
