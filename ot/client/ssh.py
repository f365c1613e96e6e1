"""Asking the server's SSH channel (a Unix socket on the host) for the session of the account
whose key opened this SSH connection (see `ot.server.ssh_channel`)."""

from __future__ import annotations

import aiohttp

CHANNEL_URL = "http://ssh-channel/ssh/session"  # the host part is not used on a Unix socket


class SshChannelError(Exception):
    """The channel could not be reached, or refused: said in words for the customer."""


async def ssh_session_token(socket_path: str, account_id: int, fingerprint: str) -> str:
    try:
        connector = aiohttp.UnixConnector(path=socket_path)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            body = {"account_id": account_id, "fingerprint": fingerprint}
            async with session.post(CHANNEL_URL, json=body) as response:
                answer = await response.json(content_type=None)
                if response.status != 200:
                    message = (answer.get("error") or {}).get("message", response.reason)
                    raise SshChannelError(f"the server refused this SSH login: {message}")
                return str(answer["token"])
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise SshChannelError(
            f"the opentracker server cannot be reached on this host ({error}); try again later"
        ) from None
