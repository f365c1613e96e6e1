"""The host-local channel that opens a customer's terminal UI over SSH.

sshd lets a customer in with a key `ot-admin ssh authorized-keys` vouched for, and runs only the
key's forced command: `ot tui --ssh-account ID --ssh-key FINGERPRINT ...`. That program asks this
channel for a session of the account: a small HTTP app on a Unix socket (`[ssh] socket`, mode
0660, group `[ssh] socket_group`), never on the server's TCP port, so that only the SSH login's
processes — forced commands all — can ask, and no credential ever appears on a command line.
One process serves it: the single server, or the first of several workers.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import pwd
import socket
import stat
import struct
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from ot.accounts.ssh_keys import start_ssh_session
from ot.config import Settings
from ot.db import create_engine, transaction
from ot.errors import OtError
from ot.server.errors import domain_error_response, error_response

log = logging.getLogger("ot.server")
SESSION_PATH = "/ssh/session"
ENGINE_KEY = web.AppKey("ssh_engine", AsyncEngine)
SETTINGS_KEY = web.AppKey("ssh_settings", Settings)


class SshSessionIn(BaseModel):
    account_id: int = Field(ge=1, le=2**31 - 1)
    fingerprint: str = Field(min_length=8, max_length=100)


def peer_uid(request: web.Request) -> int | None:
    """The user id of the process at the socket's other end, as the kernel tells."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None:
        return None
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


def login_uid(settings: Settings) -> int | None:
    try:
        return pwd.getpwnam(settings.ssh.login).pw_uid
    except KeyError:
        return None


async def open_session(request: web.Request) -> web.Response:
    # The socket's mode keeps others out; the kernel's word on who connected keeps out the
    # rest of its group (the server's own users): only the SSH login's forced commands ask.
    settings = request.app[SETTINGS_KEY]
    caller = peer_uid(request)
    if caller is None or caller != login_uid(settings):
        log.warning("ssh channel refused a caller", extra={"uid": caller})
        return error_response(
            403, "forbidden", f"only the SSH login {settings.ssh.login} may ask for sessions"
        )
    try:
        asked = SshSessionIn.model_validate_json(await request.read())
    except ValidationError:
        return error_response(400, "invalid_input", "expected {account_id, fingerprint}")
    try:
        async with transaction(request.app[ENGINE_KEY], locked=False) as session:
            started = await start_ssh_session(
                session, request.app[SETTINGS_KEY].accounts, asked.account_id, asked.fingerprint
            )
    except OtError as error:
        return domain_error_response(error)
    return web.json_response({"token": started.token}, headers={"Cache-Control": "no-store"})


def ssh_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=4096)
    app[SETTINGS_KEY] = settings

    async def engine(app: web.Application) -> AsyncIterator[None]:
        app[ENGINE_KEY] = create_engine(settings, for_writes=True)
        yield
        await app[ENGINE_KEY].dispose()

    app.cleanup_ctx.append(engine)
    app.router.add_post(SESSION_PATH, open_session)
    return app


async def start_ssh_channel(settings: Settings) -> web.AppRunner | None:
    """Serve the channel on its socket, if SSH access is on; None otherwise."""
    if not settings.ssh.socket:
        return None
    path = Path(settings.ssh.socket)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()  # a socket left by a process that did not stop cleanly
        else:
            raise OSError(
                f"{path} exists and is not a socket: OT_SSH__SOCKET must name a free path"
            )
    runner = web.AppRunner(ssh_app(settings), handle_signals=False, access_log=None)
    await runner.setup()
    old_mask = os.umask(0o117)  # the socket is made 0660 from the start, never wider
    try:
        await web.UnixSite(runner, str(path)).start()
    finally:
        os.umask(old_mask)
    if settings.ssh.socket_group:
        os.chown(path, -1, grp.getgrnam(settings.ssh.socket_group).gr_gid)
    os.chmod(path, 0o660)
    log.info("ssh channel listening", extra={"socket": str(path)})
    return runner
