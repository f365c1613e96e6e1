"""`ot-admin audit`: read, verify and sign the audit trail."""

from __future__ import annotations

import json

import typer

from ot import audit
from ot.admin.context import context_from, run
from ot.audit_checkpoints import (
    TrailReport,
    load_or_create_signing_key,
    public_key_text,
    sign_checkpoint,
    signing_key_path,
    verify,
)
from ot.clock import as_utc
from ot.db import create_engine
from ot.models import AuditCheckpoint, AuditEntry

app = typer.Typer(
    help="The audit trail: hash-chained, with signed checkpoints.", no_args_is_help=True
)


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    public_key: str | None = typer.Option(
        None,
        "--public-key",
        help="Base64 Ed25519 public key to check checkpoints with (default: the signing key's).",
    ),
) -> None:
    """Recompute the chain and check it against the signed checkpoints; exit 1 when broken."""
    context = context_from(ctx)

    async def action() -> TrailReport:
        engine = create_engine(context.settings)
        try:
            return await verify(engine, context.settings, public_key)
        finally:
            await engine.dispose()

    try:
        report = run(action)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(report.describe())
    if not report.intact:
        raise typer.Exit(1)


@app.command("show")
def show_command(
    ctx: typer.Context,
    account: int | None = typer.Option(None, "--account", help="Only this account's trail."),
    limit: int = typer.Option(50, min=1, max=10_000, help="How many entries, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
) -> None:
    """Show the latest entries of the trail."""
    context = context_from(ctx)

    async def action() -> list[AuditEntry]:
        async with context.session() as session:
            return await audit.latest_entries(session, account_id=account, limit=limit)

    for entry in run(action):
        when = as_utc(entry.at).isoformat()
        details = json.dumps(entry.details, sort_keys=True)
        if as_json:
            fields = {
                "id": entry.id,
                "at": when,
                "actor": entry.actor,
                "action": entry.action,
                "account_id": entry.account_id,
                "details": entry.details,
            }
            typer.echo(json.dumps(fields, sort_keys=True))
        else:
            account_text = "-" if entry.account_id is None else str(entry.account_id)
            typer.echo(
                f"{entry.id}\t{when}\t{entry.actor}\t{entry.action}\t{account_text}\t{details}"
            )


@app.command("checkpoint")
def checkpoint_command(ctx: typer.Context) -> None:
    """Sign a checkpoint of the trail's head now (`ot serve` does it when one is due)."""
    context = context_from(ctx)

    async def action() -> AuditCheckpoint | None:
        engine = create_engine(context.settings)
        try:
            async with context.session():
                pass  # the schema is current
            return await sign_checkpoint(engine, context.settings, force=True)
        finally:
            await engine.dispose()

    written = run(action)
    if written is None:
        typer.echo("nothing to sign: every entry is covered by a checkpoint")
    else:
        typer.echo(f"signed a checkpoint of entry {written.entry_id} ({written.entries} entries)")


@app.command("public-key")
def public_key_command(ctx: typer.Context) -> None:
    """Print the public key that verifies the checkpoints: keep a copy apart from the server."""
    settings = context_from(ctx).settings
    typer.echo(public_key_text(load_or_create_signing_key(signing_key_path(settings))))
