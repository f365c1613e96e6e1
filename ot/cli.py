"""The `ot` command: `ot serve` runs the collector daemon (and later `ot tui` the dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="opentracker: privacy-first web analytics.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain one-line errors that scripts and logs can read
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """opentracker: privacy-first web analytics."""


@app.command()
def serve(
    config: Path | None = typer.Option(None, "--config", help="TOML settings file."),
    host: str | None = typer.Option(None, help="Address to listen on (OT_SERVER__HOST)."),
    port: int | None = typer.Option(None, help="Port to listen on (OT_SERVER__PORT)."),
    workers: int | None = typer.Option(
        None, help="Worker processes sharing the port (OT_SERVER__WORKERS)."
    ),
) -> None:
    """Run the collector daemon until SIGTERM or Ctrl-C (queued hits are committed first)."""
    # Imported here, not at the top: `ot --help` needs neither the server nor the settings.
    from pydantic import ValidationError

    from ot.config import describe_settings_error, load_settings
    from ot.private_files import keep_files_private
    from ot.server.runner import serve as run_server

    server: dict[str, Any] = {}
    for name, value in (("host", host), ("port", port), ("workers", workers)):
        if value is not None:
            server[name] = value
    try:
        settings = load_settings(config, **({"server": server} if server else {}))
    except ValidationError as error:
        typer.echo(f"error: {describe_settings_error(error)}", err=True)
        raise typer.Exit(2) from None
    except (FileNotFoundError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        keep_files_private(settings.data_dir)
    except OSError as error:
        typer.echo(
            f"error: cannot use the data folder {settings.data_dir}: {error.strerror}", err=True
        )
        raise typer.Exit(2) from None
    raise typer.Exit(run_server(settings))


def main() -> None:
    app()
