"""`scripts/tui-smoke`: the real `ot tui` in tmux, read and typed into as a person would, against a
real `ot serve` with the demo customer's data. CI runs it: there a missing tmux is a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "tui-smoke"


def test_a_person_logs_in_in_a_terminal_and_sees_the_demo_site_then_quits() -> None:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing: scripts/test installs it (apt-get install tmux)")
        pytest.skip("needs tmux")
    environment = {
        # The script makes its own data folder, port and config folder: none of the caller's.
        **{name: value for name, value in os.environ.items() if not name.startswith("OT_")},
        # The commands of the Python running the tests (the repository's .venv under scripts/test).
        "TUI_SMOKE_BIN": os.path.dirname(sys.executable),
    }
    done = subprocess.run(
        [str(SCRIPT)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,  # a safety net for a hung step; each step has its own limit in the script
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "==> tui-smoke passed" in done.stdout
    # What the person saw: the log-in screen, then the sites list with the demo site.
    login, sites = done.stdout.split('--- the screen shows "')[1:3]
    assert "E-mail" in login and "Password" in login
    assert "demo.example" in sites and "Europe/Amsterdam" in sites
