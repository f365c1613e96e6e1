"""The README's walk-through, run as a new user runs it after `scripts/up`: every command block
marked `<!-- walkthrough -->`, in order, in one bash session, against a fresh data folder and a
real `ot serve` on a loopback port, each block succeeding and printing what the README promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ot.config import Settings
from tests.conftest import assert_quiet_log, start_server, stop_server

README = Path(__file__).resolve().parent.parent / "README.md"
MARK = "<!-- walkthrough -->"
# Printed by the session between blocks, to split its output by block and to name the block that
# failed.
BLOCK_START = "=== walkthrough block"


def walkthrough_blocks(text: str) -> list[str]:
    """The ```sh blocks that directly follow a walk-through mark, in the README's order."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        assert lines[number + 1] == "```sh", (
            f"README.md line {number + 2}: a walk-through mark must be followed by a ```sh block"
        )
        end = lines.index("```", number + 2)
        blocks.append("\n".join(lines[number + 2 : end]))
    return blocks


def session_script(blocks: list[str]) -> str:
    parts = ["set -euo pipefail"]
    for index, block in enumerate(blocks):
        parts += [f"echo '{BLOCK_START} {index}'", block]
    # The walk-through keeps the new account's id in `account`: show it for the checks below.
    parts += [f"echo '{BLOCK_START} end'", 'echo "account=$account"']
    return "\n".join(parts) + "\n"


def outputs_by_block(stdout: str) -> dict[str, str]:
    found: dict[str, str] = {}
    name = None
    for line in stdout.splitlines():
        if line.startswith(BLOCK_START):
            name = line.removeprefix(BLOCK_START).strip()
            found[name] = ""
        elif name is not None:
            found[name] += line + "\n"
    return found


def test_the_walkthrough_marks_only_the_sections_a_new_user_runs() -> None:
    """Quick start (which installs and serves) and production stay out of the run; every block of
    the walk-through is in it."""
    text = README.read_text()
    blocks = walkthrough_blocks(text)
    assert len(blocks) == 5
    assert "scripts/up" not in "\n".join(blocks)
    walkthrough = text.split("## Your first site", 1)[1].split("\n## ", 1)[0]
    shell_blocks = re.findall(r"^```sh$", walkthrough, flags=re.MULTILINE)
    # The one unmarked block is `source .venv/bin/activate`: the test puts the venv on PATH.
    assert len(shell_blocks) == len(blocks) + 1
    assert "```sh\nsource .venv/bin/activate\n```" in walkthrough


async def test_the_readme_walkthrough_works_as_written(settings: Settings, tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "OT_DATA_DIR": str(settings.data_dir),
        "OT_DATABASE_URL": settings.database_url,
    }
    # `source .venv/bin/activate`: the commands of the Python running the tests.
    environment["PATH"] = os.path.dirname(sys.executable) + os.pathsep + environment["PATH"]

    def operator(*arguments: str) -> str:
        done = subprocess.run(
            ["ot-admin", *arguments], env=environment, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    # What `scripts/up` leaves besides the installation: its demo account (1) and site.
    assert operator("accounts", "create", "Demo").strip() == "account 1 created"
    operator("sites", "add", "--account", "1", "demo.example", "--visitor-mode", "cookie")

    # `scripts/up` keeps the collector running in its own terminal.
    log_path = tmp_path / "server.log"
    process, base_url, server_environment = start_server(settings, log_path)
    try:
        port = base_url.rsplit(":", 1)[1]
        environment = {**server_environment, "PATH": environment["PATH"], "OT_SERVER__PORT": port}
        blocks = walkthrough_blocks(README.read_text())
        done = subprocess.run(
            ["bash", "-c", session_script(blocks)],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,  # a safety net for a hung command, far beyond any machine's pace
        )
    finally:
        stop_server(process)

    output = outputs_by_block(done.stdout)
    failed = list(output)[-1] if output else "before the first"
    assert done.returncode == 0, (
        f"walk-through block {failed} failed (exit {done.returncode}):\n"
        f"{done.stdout}\n{done.stderr}\n{log_path.read_text()}"
    )
    add_site, bot_hit, browser_hit, stats, stats_api = (output[str(i)] for i in range(5))

    assert re.search(r"^site \d+ \(example\.com\) added", add_site, flags=re.MULTILINE)
    snippet = f'<script defer data-domain="example.com" data-respect-dnt src="{base_url}/js/ot.js">'
    assert add_site.count(snippet) == 2  # from `site add`, then `site snippet`

    assert bot_hit.startswith("ok\n")
    assert 'ot_hits_dropped_total{reason="bot"} 1.0' in bot_hit
    assert browser_hit == "ok\n"

    assert re.search(r"│ /hello\s+│\s+1 │\s+1 │", stats), stats
    assert "visitors 1   visits 1   pageviews 1" in stats
    assert '"results": [{"metrics": [1, 1], "dimensions": []}]' in stats_api

    # The demo account is 1: the new one's id came from `ot-admin accounts create`'s output.
    assert output["end"] == "account=2\n"
    assert_quiet_log(log_path)
