"""Customers' terminal UI over SSH, piece by piece: sshd asks `ot-admin ssh authorized-keys`
whose key is offered and gets a line that runs the owner's `ot tui` and nothing else; that
program asks the server's SSH channel — a Unix socket, never the TCP port — for the account's
session. (tests/test_ssh_e2e.py goes through a real sshd.)"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from ot.accounts.ssh_keys import add_ssh_key, remove_ssh_key
from ot.admin.cli import app as admin_app
from ot.config import Settings, load_settings
from ot.db import transaction
from ot.security.crypto import Cipher
from ot.security.secrets import load_secrets_of
from tests import support
from tests.conftest import start_server, stop_server
from tests.test_ssh_keys import public_line

# The SSH login whose processes the channel answers: this process's own login, so that the
# test's requests come from it (sshd's forced commands run as it in production).
LOGIN = pwd.getpwuid(os.getuid()).pw_name


@dataclass
class SshHost:
    settings: Settings
    socket: Path
    base_url: str
    account_id: int
    key_line: str  # the customer's registered public key
    fingerprint: str
    key_id: int

    def environment(self, **more: str) -> dict[str, str | None]:
        return {
            "OT_DATA_DIR": str(self.settings.data_dir),
            "OT_DATABASE_URL": self.settings.database_url,
            "OT_SSH__SOCKET": str(self.socket),
            "OT_SSH__LOGIN": LOGIN,
            **more,
        }

    def authorized_keys(self, user: str, key_line: str, **more: str) -> str:
        key_type, key = key_line.split()[:2]
        result = CliRunner().invoke(
            admin_app, ["ssh", "authorized-keys", user, key_type, key], env=self.environment(**more)
        )
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
        return result.stdout


async def _register(settings: Settings, account_id: int, key_line: str) -> tuple[str, int]:
    async with support.helper_engine(settings) as engine, transaction(engine) as session:
        view = await add_ssh_key(
            session, Cipher(load_secrets_of(settings)), account_id, key_line,
            actor=support.TEST_OPERATOR,
        )  # fmt: skip
        return view.fingerprint, view.id


@pytest.fixture
def ssh_host(tmp_path: Path, databases: support.DatabaseFactory) -> Iterator[SshHost]:
    """`ot serve` with its SSH channel on, and a customer (shop.example) with one SSH key."""
    # A short folder: a Unix socket's path holds at most 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="ot-ssh-"))
    socket = folder / "ssh.sock"
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, database_url=support.run_sync(databases.sqlite(data_dir))
    )
    site = support.run_sync(support.make_site(settings))
    key_line = public_line(ed25519.Ed25519PrivateKey.generate())
    fingerprint, key_id = support.run_sync(_register(settings, site.account_id, key_line))
    process, base_url, _ = start_server(
        settings,
        tmp_path / "server.log",
        extra_env={"OT_SSH__SOCKET": str(socket), "OT_SSH__LOGIN": LOGIN},
    )
    try:
        yield SshHost(settings, socket, base_url, site.account_id, key_line, fingerprint, key_id)
    finally:
        stop_server(process)
        socket.unlink(missing_ok=True)
        folder.rmdir()


def test_a_registered_key_is_answered_with_a_line_that_runs_its_owners_terminal_alone(
    ssh_host: SshHost,
) -> None:
    line = ssh_host.authorized_keys(LOGIN, ssh_host.key_line)
    assert line.endswith("\n") and line.count("\n") == 1
    options, _, key = line.strip().partition('" ')
    assert options.startswith('restrict,pty,command="')
    assert key == " ".join(ssh_host.key_line.split()[:2])
    forced = shlex.split(options.removeprefix('restrict,pty,command="'))
    assert forced[1:] == [
        "tui",
        "--server", ssh_host.settings.server.public_url or "http://127.0.0.1:8000",
        "--ssh-socket", str(ssh_host.socket),
        "--ssh-account", str(ssh_host.account_id),
        "--ssh-key", ssh_host.fingerprint,
    ]  # fmt: skip
    assert Path(forced[0]).name == "ot"


def test_an_unknown_key_another_login_or_ssh_turned_off_get_no_line(ssh_host: SshHost) -> None:
    stranger = public_line(ed25519.Ed25519PrivateKey.generate())
    assert ssh_host.authorized_keys(LOGIN, stranger) == ""
    assert ssh_host.authorized_keys("somebody-else", ssh_host.key_line) == ""
    assert ssh_host.authorized_keys(LOGIN, ssh_host.key_line, OT_SSH__SOCKET="") == ""
    assert ssh_host.authorized_keys(LOGIN, "ssh-ed25519 not-base64!") == ""


async def _ask(socket: Path, account_id: int, fingerprint: str) -> tuple[int, dict[str, object]]:
    connector = aiohttp.UnixConnector(path=str(socket))
    async with aiohttp.ClientSession(connector=connector) as session:
        body = {"account_id": account_id, "fingerprint": fingerprint}
        async with session.post("http://ssh/ssh/session", json=body) as response:
            return response.status, await response.json()


async def test_the_channel_opens_a_session_of_the_keys_account_for_the_http_api(
    ssh_host: SshHost,
) -> None:
    status, answer = await _ask(ssh_host.socket, ssh_host.account_id, ssh_host.fingerprint)
    assert status == 200
    token = str(answer["token"])
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{ssh_host.base_url}/ot/v1/account", headers=support.bearer(token)) as response,
    ):
        assert response.status == 200
        assert (await response.json())["id"] == ssh_host.account_id
    [login] = await support.rows(
        ssh_host.settings, "SELECT details FROM audit_entry WHERE action = 'login.succeeded'"
    )
    assert '"via": "ssh"' in str(login["details"]) and ssh_host.fingerprint in str(login["details"])
    [key] = await support.rows(ssh_host.settings, "SELECT last_used_at FROM ssh_key")
    assert key["last_used_at"] is not None, "the customer's Profile shows the key's last use"


async def test_the_channel_refuses_a_key_not_the_accounts_or_removed(ssh_host: SshHost) -> None:
    other = await support.make_site(ssh_host.settings, "stranger.example")
    status, answer = await _ask(ssh_host.socket, other.account_id, ssh_host.fingerprint)
    assert status == 401 and "opens no terminal" in str(answer)
    async with (
        support.helper_engine(ssh_host.settings) as engine,
        transaction(engine) as session,
    ):
        await remove_ssh_key(
            session, ssh_host.account_id, ssh_host.key_id, actor=support.TEST_OPERATOR
        )
    status, _ = await _ask(ssh_host.socket, ssh_host.account_id, ssh_host.fingerprint)
    assert status == 401
    status, _ = await _ask(ssh_host.socket, ssh_host.account_id, "x")
    assert status == 400


async def test_the_channel_is_a_socket_for_its_group_alone_and_not_on_the_tcp_port(
    ssh_host: SshHost,
) -> None:
    mode = ssh_host.socket.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
    async with aiohttp.ClientSession() as http:
        body = {"account_id": ssh_host.account_id, "fingerprint": ssh_host.fingerprint}
        async with http.post(f"{ssh_host.base_url}/ssh/session", json=body) as response:
            assert response.status == 404


def test_ot_tui_over_ssh_says_what_is_wrong_when_the_channel_is_missing(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ot", "tui", "--ssh-account", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--ssh-account needs --ssh-key and --ssh-socket" in result.stderr
    missing = tmp_path / "no.sock"
    result = subprocess.run(
        [*command, "--ssh-key", "SHA256:x", "--ssh-socket", str(missing)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "the opentracker server cannot be reached on this host" in result.stderr


def test_the_channel_answers_the_ssh_login_alone(ssh_host: SshHost) -> None:
    """Another user able to reach the socket (here: nobody, the socket opened to all) is refused
    by the kernel's word on who connected, not by anything it says. The system's Python speaks
    plain HTTP over the socket: nobody may not read this checkout or its .venv."""
    ssh_host.socket.chmod(0o666)
    ssh_host.socket.parent.chmod(0o755)
    body = json.dumps({"account_id": ssh_host.account_id, "fingerprint": ssh_host.fingerprint})
    script = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect({str(ssh_host.socket)!r})\n"
        f"body = {body!r}.encode()\n"
        "s.sendall(b'POST /ssh/session HTTP/1.1\\r\\nHost: ssh\\r\\nConnection: close\\r\\n'"
        " + b'Content-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n' % len(body)"
        " + body)\n"
        "answer = b''\n"
        "while chunk := s.recv(65536):\n"
        "    answer += chunk\n"
        "sys.stdout.write(answer.decode())\n"
    )
    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3",
         "-c", script],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    status_line = done.stdout.splitlines()[0]
    assert " 403 " in status_line, done.stdout
    assert "only the SSH login" in done.stdout
