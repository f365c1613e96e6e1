"""The `ot` command: `ot serve` runs the collector daemon, `ot tui` the customer's terminal."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from ot.tui.app import OtApp

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
    from ot.paths import prometheus_dir
    from ot.private_files import keep_files_private
    from ot.tuning import share_metrics_between_processes

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
    # Its workers and the collector's process count in metrics files that /metrics sums. In a
    # data folder it cannot write, the server says so and stops.
    with contextlib.suppress(OSError):
        share_metrics_between_processes(prometheus_dir(settings.data_dir))
    from ot.server.runner import serve as run_server

    raise typer.Exit(run_server(settings))


DEFAULT_SERVER = "http://127.0.0.1:8000"


@app.command()
def tui(
    server: str = typer.Option(
        DEFAULT_SERVER,
        "--server",
        envvar="OPENTRACKER_URL",
        help="The opentracker server's address (OPENTRACKER_URL).",
    ),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        envvar="OPENTRACKER_API_KEY",
        help="Use this API key instead of logging in (OPENTRACKER_API_KEY); it is not stored.",
    ),
    forget_login: bool = typer.Option(
        False,
        "--forget-login",
        help="Keep the log-in in memory for this run only, and end its session on exit "
        "(what each browser of --web runs).",
    ),
    web: bool = typer.Option(
        False,
        "--web",
        help="Serve the app to browsers instead (textual-serve): each browser session logs in "
        "on its own.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="With --web: the address to listen on."),
    port: int = typer.Option(8080, "--port", help="With --web: the port to listen on."),
    public_url: str | None = typer.Option(
        None,
        "--public-url",
        help="With --web: the address browsers reach it at, when not http://HOST:PORT "
        "(behind a proxy).",
    ),
    ssh_account: int | None = typer.Option(
        None,
        "--ssh-account",
        help="Over SSH (the forced command of a customer's key): open this account's terminal, "
        "its session asked of the server's SSH channel (--ssh-socket) and kept in memory.",
    ),
    ssh_key: str | None = typer.Option(
        None, "--ssh-key", help="Over SSH: the fingerprint of the key that logged in."
    ),
    ssh_socket: str | None = typer.Option(
        None, "--ssh-socket", help="Over SSH: the server's SSH channel (a Unix socket)."
    ),
) -> None:
    """Browse your statistics, profile and sharing in the terminal (it talks to the server's
    HTTP API only, so it works the same on this machine, against a remote server and over SSH).
    """
    if not server.startswith(("http://", "https://")):
        typer.echo(f"error: --server must be an http:// or https:// address: {server!r}", err=True)
        raise typer.Exit(2)
    if web:
        if api_key is not None:
            typer.echo(
                "error: --web serves whoever opens the page: each logs in on their own, so an "
                "API key (--api-key or OPENTRACKER_API_KEY) is not handed to them",
                err=True,
            )
            raise typer.Exit(2)
        from ot.tui.web import serve_in_browser

        serve_in_browser(server, host=host, port=port, public_url=public_url)
        return
    if ssh_account is not None:
        if not ssh_key or not ssh_socket:
            typer.echo("error: --ssh-account needs --ssh-key and --ssh-socket", err=True)
            raise typer.Exit(2)
        _run_over_ssh(server, ssh_socket, ssh_account, ssh_key)
        return
    _run_tui(server, api_key, forget_login=forget_login)


def _run_over_ssh(server: str, socket_path: str, account_id: int, fingerprint: str) -> None:
    """The terminal of the account whose key logged in over SSH: its session comes from the
    server's SSH channel, lives in memory only and ends when the app does."""
    from ot.tuning import pause_garbage_collector

    pause_garbage_collector()  # until the app runs (`_run_app`)
    import asyncio

    from ot.client import OtClient
    from ot.client.credentials import StoredCredential
    from ot.client.ssh import SshChannelError, ssh_session_token
    from ot.tui.app import OtApp
    from ot.tui.web import MemoryCredentials

    try:
        token = asyncio.run(ssh_session_token(socket_path, account_id, fingerprint))
    except SshChannelError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    credentials = MemoryCredentials()
    credentials.save(server, StoredCredential(kind="session", token=token))
    client = OtClient(server, credentials=credentials)
    try:
        _run_app(OtApp(client, saves_files=False))
    finally:
        asyncio.run(_end_session(client))


async def _end_session(client: Any) -> None:
    """End the session a run kept in memory only (nothing else would ever end it)."""
    from ot.client import ClientError

    try:
        if client.token is not None:
            await client.log_out()
    except ClientError:
        pass  # the server is gone: the session ends by itself when it expires
    finally:
        await client.close()


def _run_tui(server: str, api_key: str | None, *, forget_login: bool) -> None:
    from ot.tuning import pause_garbage_collector

    pause_garbage_collector()  # until the app runs (`_run_app`)
    # Imported here: `ot serve` and `ot --help` need no Textual.
    import asyncio

    from ot.client import OtClient
    from ot.tui.app import OtApp

    if not forget_login:
        _run_app(OtApp(OtClient(server, api_key=api_key)))
        return
    from ot.tui.web import MemoryCredentials

    client = OtClient(server, api_key=api_key, credentials=MemoryCredentials())
    try:
        _run_app(OtApp(client))
    finally:
        if api_key is None:
            # Nothing keeps the session this run started: end it rather than leave it open.
            asyncio.run(_end_session(client))


def _run_app(tui: OtApp) -> None:
    """Run the terminal app, its garbage collector tuned as a server's: with the default
    thresholds, collections of the thousands of objects a dashboard builds took a fifth of its
    first paint."""
    from ot.tuning import settle_garbage_collector

    settle_garbage_collector()
    tui.run()


def main() -> None:
    app()
