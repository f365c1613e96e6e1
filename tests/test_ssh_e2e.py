"""`ssh stats@our-host` opens the customer's terminal UI, through a real OpenSSH server (Debian's
openssh-server) on a loopback port with a configuration of the test's own: sshd asks
`ot-admin ssh authorized-keys` about the key, runs only the forced `ot tui`, which gets the
customer's session from the server's SSH channel. Read on screen in tmux, as a person would.

sshd runs the key command only from a root-owned path whose folders nobody else may write, and
lets root log in here (with forced commands only): the test needs root, as CI has."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ot.config import Settings, load_settings
from tests import support
from tests.conftest import free_port, start_server, stop_server
from tests.test_ssh_access import _register
from tests.test_ssh_keys import public_line

SSHD = "/usr/sbin/sshd"
REPOSITORY = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 90  # a safety net for a hung step: each wait ends as soon as its condition holds


def _needs() -> None:
    missing = [tool for tool in (SSHD, "ssh", "tmux") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        reason = f"needs root and {', '.join(missing)}" if missing else "needs root"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: scripts/test installs openssh-server and tmux as root")
        pytest.skip(reason)


@dataclass
class Host:
    port: int
    keys: Path  # the folder of the customer's and a stranger's private keys
    session_names: list[str]
    settings: Settings
    account_id: int

    def ssh(self, key: str, *command: str) -> list[str]:
        return [
            "ssh", "-tt", "-p", str(self.port), "-i", str(self.keys / key),
            "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            "root@127.0.0.1", *command,
        ]  # fmt: skip

    def in_tmux(self, key: str, *command: str) -> str:
        """Connect in a tmux window of 120 by 36, as a person at a terminal would; its name."""
        name = f"ot-ssh-{len(self.session_names)}-{os.getpid()}"
        self.session_names.append(name)
        # The window stays after ssh exits, saying how: a refusal is read on screen too.
        line = " ".join(self.ssh(key, *command)) + '; echo "[ssh exited $?]"; read _'
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "36", line], check=True
        )
        return name


def screen(name: str) -> str:
    done = subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True
    )
    return done.stdout


def wait_for(condition: Callable[[], bool], what: str, seen: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}\n{seen()}")
        time.sleep(0.2)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _private_key(folder: Path, name: str) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    path = folder / name
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return public_line(key)


@pytest.fixture
def host(tmp_path: Path, databases: support.DatabaseFactory) -> Iterator[Host]:
    _needs()
    # Root-owned, writable by root alone, up to /: what sshd asks of the key command's path.
    safe = Path(tempfile.mkdtemp(prefix="ot-sshd-", dir="/run"))
    channel = safe / "ssh.sock"
    keys = tmp_path / "keys"
    keys.mkdir()
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir, database_url=support.run_sync(databases.sqlite(data_dir))
    )
    site = support.run_sync(support.make_site(settings))
    support.run_sync(_register(settings, site.account_id, _private_key(keys, "customer")))
    _private_key(keys, "stranger")
    server, base_url, _ = start_server(
        settings,
        tmp_path / "server.log",
        extra_env={"OT_SSH__SOCKET": str(channel), "OT_SSH__LOGIN": "root"},
    )
    environment = {
        "OT_DATA_DIR": str(data_dir),
        "OT_DATABASE_URL": settings.database_url,
        "OT_SSH__SOCKET": str(channel),
        "OT_SSH__LOGIN": "root",
        "OT_SERVER__PUBLIC_URL": base_url,
        # This checkout's code, whichever Python runs the tests.
        "OT_SSH__TUI_COMMAND": f"env PYTHONPATH={REPOSITORY} TERM=xterm-256color "
        f"{sys.executable} -m ot",
        "PYTHONPATH": str(REPOSITORY),
    }
    command = safe / "authorized-keys"
    exports = "".join(f"export {name}='{value}'\n" for name, value in environment.items())
    command.write_text(
        f"#!/bin/sh\n{exports}exec {sys.executable} -c "
        "'from ot.admin.cli import main; main()' ssh authorized-keys \"$@\"\n"
    )
    command.chmod(0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(safe / "host_key")], check=True
    )
    port = free_port()
    config = safe / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {safe / 'host_key'}\n"
        f"PidFile {safe / 'sshd.pid'}\nAuthorizedKeysFile none\n"
        f"AuthorizedKeysCommand {command} %u %t %k\nAuthorizedKeysCommandUser root\n"
        "PermitRootLogin forced-commands-only\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nLogLevel VERBOSE\n"
    )
    sshd_log = (tmp_path / "sshd.log").open("w")
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege-separation folder
    sshd = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=sshd_log, stderr=subprocess.STDOUT
    )
    found = Host(port, keys, [], settings, site.account_id)
    try:
        wait_for(lambda: _listening(port) or sshd.poll() is not None, "sshd listening")
        assert sshd.poll() is None, (tmp_path / "sshd.log").read_text()
        yield found
    finally:
        for name in found.session_names:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        sshd.terminate()
        sshd.wait(timeout=30)
        sshd_log.close()
        stop_server(server)
        shutil.rmtree(safe, ignore_errors=True)


def test_a_registered_key_opens_its_owners_terminal_ui(host: Host) -> None:
    name = host.in_tmux("customer")
    wait_for(
        lambda: "shop.example" in screen(name),
        "the customer's sites on screen",
        lambda: screen(name),
    )
    shown = screen(name)
    assert "Log in" not in shown  # the session came from the channel, not a log-in form


def test_a_key_nobody_registered_is_refused(host: Host) -> None:
    done = subprocess.run(
        host.ssh("stranger", "true"), capture_output=True, text=True, timeout=WAIT_SECONDS
    )
    assert done.returncode == 255
    assert "Permission denied (publickey)" in done.stderr


def test_a_registered_key_asking_for_a_command_still_gets_only_the_terminal_ui(
    host: Host,
) -> None:
    name = host.in_tmux("customer", "cat", "/etc/passwd")
    wait_for(
        lambda: "shop.example" in screen(name),
        "the terminal UI instead of the command",
        lambda: screen(name),
    )
    assert "root:x:0:0" not in screen(name)


def _login_sessions(host: Host) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = support.run_sync(
        support.rows(
            host.settings,
            "SELECT revoked_at FROM login_session WHERE account_id = :account",
            account=host.account_id,
        )
    )
    return rows


def test_a_dropped_connection_ends_the_session_the_terminal_ui_was_given(host: Host) -> None:
    name = host.in_tmux("customer")
    wait_for(lambda: "shop.example" in screen(name), "the sites on screen", lambda: screen(name))
    [opened] = _login_sessions(host)
    assert opened["revoked_at"] is None
    # Closing the window hangs up on ssh as a lost network would: sshd hangs up on `ot tui`.
    subprocess.run(["tmux", "kill-session", "-t", name], check=True)
    wait_for(
        lambda: all(row["revoked_at"] is not None for row in _login_sessions(host)),
        "the session ended when the connection dropped",
        lambda: str(_login_sessions(host)),
    )
