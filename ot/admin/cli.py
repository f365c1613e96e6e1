"""`ot-admin`: the operators' commands. Each group lives in its own module, imported only when
the group is run or asked for its `--help` (see `ot.admin.lazy`): importing every module cost
over a second before `ot-admin --help` or any simple command could start."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, ClassVar

import typer
from typer._click import Command

from ot.admin.lazy import LazyCommand, LazyGroup, typer_command

# The root app's settings, which the subcommands are converted with too (see `typer_command`).
ROOT_SETTINGS: dict[str, Any] = {
    "rich_markup_mode": None,  # plain one-line errors that scripts and logs can read
    "pretty_exceptions_enable": False,
}


@functools.cache
def _import_log() -> Command:
    from ot.admin import logimport
    from ot.admin.help import AdminCommand

    return typer_command(
        "import-log",
        lambda app: app.command("import-log", cls=AdminCommand)(logimport.import_log_command),
        **ROOT_SETTINGS,
    )


@functools.cache
def _erase() -> Command:
    from ot.admin import rights
    from ot.admin.help import AdminCommand

    return typer_command(
        "erase",
        lambda app: app.command("erase", cls=AdminCommand)(rights.erase_command),
        **ROOT_SETTINGS,
    )


@functools.cache
def _db() -> Command:
    from ot.admin import backups, db

    db.app.command("backup")(backups.backup_command)  # once: this loader is cached
    db.app.command("restore")(backups.restore_command)
    return typer_command("db", lambda app: app.add_typer(db.app, name="db"), **ROOT_SETTINGS)


@functools.cache
def _account() -> Command:
    from ot.admin import accounts, rights

    accounts.app.command("export")(rights.export_command)  # once: this loader is cached
    return typer_command(
        "accounts", lambda app: app.add_typer(accounts.app, name="accounts"), **ROOT_SETTINGS
    )


@functools.cache
def _site() -> Command:
    from ot.admin import sites

    return typer_command(
        "sites", lambda app: app.add_typer(sites.app, name="sites"), **ROOT_SETTINGS
    )


@functools.cache
def _token() -> Command:
    from ot.admin import api_keys

    return typer_command(
        "tokens", lambda app: app.add_typer(api_keys.app, name="tokens"), **ROOT_SETTINGS
    )


@functools.cache
def _goal() -> Command:
    from ot.admin import goals

    return typer_command(
        "goals", lambda app: app.add_typer(goals.app, name="goals"), **ROOT_SETTINGS
    )


@functools.cache
def _stats() -> Command:
    from ot.admin import stats

    return typer_command(
        "stats", lambda app: app.add_typer(stats.app, name="stats"), **ROOT_SETTINGS
    )


@functools.cache
def _rollups() -> Command:
    from ot.admin import rollups

    return typer_command(
        "rollups", lambda app: app.add_typer(rollups.app, name="rollups"), **ROOT_SETTINGS
    )


@functools.cache
def _audit() -> Command:
    from ot.admin import audit

    return typer_command(
        "audit", lambda app: app.add_typer(audit.app, name="audit"), **ROOT_SETTINGS
    )


@functools.cache
def _keys() -> Command:
    from ot.admin import encryption_keys

    return typer_command(
        "keys", lambda app: app.add_typer(encryption_keys.app, name="keys"), **ROOT_SETTINGS
    )


@functools.cache
def _retention() -> Command:
    from ot.admin import rights

    return typer_command(
        "retention",
        lambda app: app.add_typer(rights.retention_app, name="retention"),
        **ROOT_SETTINGS,
    )


@functools.cache
def _operators() -> Command:
    from ot.admin import operators

    return typer_command(
        "operators", lambda app: app.add_typer(operators.app, name="operators"), **ROOT_SETTINGS
    )


@functools.cache
def _billing() -> Command:
    from ot.admin import billing

    return typer_command(
        "billing", lambda app: app.add_typer(billing.app, name="billing"), **ROOT_SETTINGS
    )


@functools.cache
def _disclosure() -> Command:
    from ot.admin import disclosure

    return typer_command(
        "disclosure",
        lambda app: app.add_typer(disclosure.app, name="disclosure"),
        **ROOT_SETTINGS,
    )


@functools.cache
def _ssh() -> Command:
    from ot.admin import ssh

    return typer_command("ssh", lambda app: app.add_typer(ssh.app, name="ssh"), **ROOT_SETTINGS)


# In the order `ot-admin --help` lists them; each help is the first sentence of the command's
# own (tests/test_startup_imports.py checks they agree).
COMMANDS = [
    LazyCommand(
        "import-log",
        "Import access logs into a site.",
        _import_log,
    ),
    LazyCommand(
        "erase",
        "Erase one visitor's hits and visits from a site.",
        _erase,
    ),
    LazyCommand("db", "The database: its schema, checks, backups and restores.", _db),
    LazyCommand("accounts", "Customer accounts.", _account, aliases=("account",)),
    LazyCommand("sites", "Sites.", _site, aliases=("site",)),
    LazyCommand("tokens", "API tokens.", _token, aliases=("token",)),
    LazyCommand(
        "goals",
        "Goals: pages or custom events whose conversions are counted.",
        _goal,
        aliases=("goal",),
    ),
    LazyCommand("stats", "Statistics.", _stats),
    LazyCommand("rollups", "Per-day rollups for fast dashboards.", _rollups),
    LazyCommand("audit", "The audit trail: hash-chained, with signed checkpoints.", _audit),
    LazyCommand("keys", "Encryption keys of personal fields.", _keys),
    LazyCommand("retention", "Per-site retention of hits.", _retention),
    LazyCommand("billing", "Billing: plans, usage, invoices, refunds and dunning.", _billing),
    LazyCommand(
        "disclosure",
        "Lawful disclosure requests.",
        _disclosure,
    ),
    LazyCommand(
        "operators", "Operators: the OS users who may run ot-admin, and their roles.", _operators
    ),
    LazyCommand("ssh", "SSH access to the terminal UI: what sshd asks.", _ssh),
]


class AdminGroup(LazyGroup):
    """The root group of `ot-admin`, its subcommands imported when resolved."""

    lazy_commands: ClassVar[list[LazyCommand]] = COMMANDS


app = typer.Typer(
    cls=AdminGroup,
    help="opentracker operators' commands.",
    no_args_is_help=True,
    **ROOT_SETTINGS,
)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"ot-admin {version('opentracker')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", metavar="FILE", help="TOML settings file."
    ),
    _version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,  # before the settings are read: it needs none
        callback=_print_version,
        help="Print the version of opentracker and exit.",
    ),
) -> None:
    # Here rather than at the top: the settings (pydantic) are not needed to print `--help`.
    from ot.admin.context import make_context, secure_data_folder

    ctx.obj = make_context(config)
    if ctx.obj.settings.data_dir.exists():  # else made only by `db upgrade --create`
        secure_data_folder(ctx.obj.settings.data_dir)


def main() -> None:
    # What the command creates (database, keys, exports, mails) is the operator's alone. Not in
    # the callback: tests run commands in their own process.
    os.umask(0o077)
    try:
        app()
    except Exception as error:
        # A full disk or a read-only data folder is the operator's to fix: one line, no traceback.
        from ot.storage import storage_problem  # SQLAlchemy's errors: imported only on failure

        if (problem := storage_problem(error)) is None:
            raise
        typer.echo(f"error: the database or the data folder cannot be used ({problem})", err=True)
        raise SystemExit(1) from None
