"""`ot-admin audit`: read, verify and sign the audit trail."""

from __future__ import annotations

import json

import typer

from ot.admin.context import context_from, run
from ot.admin.help import AdminTyper
from ot.clock import as_utc
from ot.db import create_engine
from ot.models import AuditCheckpoint, AuditEntry
from ot.security import audit
from ot.security.audit_checkpoints import (
    Checkpoint,
    TrailReport,
    latest_head,
    load_or_create_signing_key,
    public_key_text,
    sign_checkpoint,
    signing_key_path,
    verify,
)

app = AdminTyper(
    help="The audit trail: hash-chained, with signed checkpoints.", no_args_is_help=True
)


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    public_key: str | None = typer.Option(
        None,
        "--public-key",
        metavar="KEY",
        help="Base64 Ed25519 public key to check checkpoints with (default: the signing key's).",
    ),
    expect_head: list[str] = typer.Option(
        [],
        "--expect-head",
        metavar="HEAD",
        help="A head printed earlier by `ot-admin audit head` and kept off the host: it must "
        "still be in the trail (repeatable).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check that the audit trail is intact.

    Recomputes the chain and checks it against the signed checkpoints and the heads given. Exit
    code 1 when it is broken, or when entries older than the signing window are not signed.

    \b
    Example:
      ot-admin audit verify --expect-head HEAD --json
    """
    context = context_from(ctx)

    async def action() -> TrailReport:
        engine = create_engine(context.settings)
        try:
            return await verify(engine, context.settings, public_key, expected_heads=expect_head)
        finally:
            await engine.dispose()

    try:
        report = run(action)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report.as_json(), sort_keys=True) if as_json else report.describe())
    if not report.intact:
        raise typer.Exit(1)


@app.command("head")
def head_command(
    ctx: typer.Context,
    public_key: str | None = typer.Option(
        None,
        "--public-key",
        metavar="KEY",
        help="Base64 Ed25519 public key to check checkpoints with (default: the signing key's).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the head as JSON."),
) -> None:
    """Print the latest signed checkpoint's head.

    Only once the trail verifies. Keep it off the host and pass it to `ot-admin audit verify
    --expect-head` later.

    \b
    Example:
      ot-admin audit head | ssh audit@elsewhere 'cat >> heads.log'
    """
    context = context_from(ctx)

    async def action() -> tuple[TrailReport, Checkpoint | None]:
        engine = create_engine(context.settings)
        try:
            return await latest_head(engine, context.settings, public_key)
        finally:
            await engine.dispose()

    try:
        report, head = run(action)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if not report.intact:
        typer.echo(
            f"error: the trail does not verify, so no head is worth keeping:\n{report.describe()}",
            err=True,
        )
        raise typer.Exit(1)
    if head is None:
        typer.echo("error: nothing is signed yet: run `ot-admin audit checkpoint` first", err=True)
        raise typer.Exit(1)
    signed_at = as_utc(head.at).isoformat()
    if as_json:
        fields = {
            "head": head.head_hash,
            "entry_id": head.entry_id,
            "entries": head.entries,
            "signed_at": signed_at,
            "public_key": head.public_key,
        }
        typer.echo(json.dumps(fields, sort_keys=True))
    else:
        typer.echo(
            f"{head.head_hash}\tentry {head.entry_id}\t{head.entries} entries\tsigned {signed_at}"
        )


@app.command("show")
def show_command(
    ctx: typer.Context,
    account: int | None = typer.Option(
        None, "--account", metavar="ACCOUNT_ID", help="Only this account's trail."
    ),
    limit: int = typer.Option(50, min=1, max=10_000, help="How many entries, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
) -> None:
    """Show the latest entries of the trail.

    \b
    Example:
      ot-admin audit show --account 3 --limit 20
    """
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
    """Sign a checkpoint of the trail's head now.

    `ot serve` does it when one is due.

    \b
    Example:
      ot-admin audit checkpoint
    """
    context = context_from(ctx)

    async def action() -> AuditCheckpoint | None:
        # Reads the trail's head, then records the checkpoint: the write lock first (see keys).
        async with context.engine(for_writes=True) as engine:
            return await sign_checkpoint(engine, context.settings, force=True)

    written = run(action)
    if written is None:
        typer.echo("nothing to sign: every entry is covered by a checkpoint")
    else:
        typer.echo(f"signed a checkpoint of entry {written.entry_id} ({written.entries} entries)")


@app.command("public-key")
def public_key_command(ctx: typer.Context) -> None:
    """Print the public key that verifies the checkpoints.

    Keep a copy apart from the server.

    \b
    Example:
      ot-admin audit public-key > audit-public-key.txt
    """
    settings = context_from(ctx).settings
    typer.echo(public_key_text(load_or_create_signing_key(signing_key_path(settings))))
