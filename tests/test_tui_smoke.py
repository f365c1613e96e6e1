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
STEP = "==> "


def screens_by_step(stdout: str) -> dict[str, str]:
    """What the script printed under each of its steps (`==> step`), by the step's words."""
    found: dict[str, str] = {}
    name = None
    for line in stdout.splitlines():
        if line.startswith(STEP):
            name = line.removeprefix(STEP)
            found[name] = ""
        elif name is not None:
            found[name] += line + "\n"
    return found


def test_a_person_logs_in_browses_the_demo_site_and_their_account_then_quits() -> None:
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
        timeout=900,  # a safety net for a hung step; each step has its own limit in the script
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "==> tui-smoke passed" in done.stdout
    seen = screens_by_step(done.stdout)
    # What the person saw, step by step.
    login = seen["the log-in screen"]
    assert "E-mail" in login and "Password" in login
    sites = seen["log in as the demo customer"]
    assert "demo.example" in sites and "Owner" in sites
    dashboard = seen["Enter opens demo.example's dashboard"]
    assert "Top pages" in dashboard and "Pageviews" in dashboard and "Last 30 days" in dashboard
    assert "Last 7 days" in seen["3: the last 7 days"]
    filtered = seen["Enter on the first of the top pages filters the dashboard by it"]
    assert "Page is /" in filtered
    unfiltered = seen["x removes the filter"].split("\n", 1)[1]  # the screen, under its heading
    assert "Page is /" not in unfiltered and "Top pages" in unfiltered
    assert "demo@opentracker.example" in seen["p: the profile"]
    assert "Third parties" in seen["w: who sees what"]
    assert "Sites" in seen["F1: the help of the sites list"]
