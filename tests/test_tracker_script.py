"""ot.js checked without a browser: its size, its syntax, and the lists it must keep."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "ot" / "static" / "ot.js"
# Every page view of every customer's site downloads it, so it stays small.
GZIP_BUDGET = 2048
# fmt: off
DOCUMENTED_DOWNLOADS = (
    "pdf", "xlsx", "docx", "txt", "rtf", "csv", "exe", "key", "pps", "ppt", "pptx", "7z", "pkg",
    "rar", "gz", "zip", "avi", "mov", "mp4", "mpeg", "wmv", "midi", "mp3", "wav", "wma", "dmg",
    "iso", "msi",
)
# fmt: on


def test_script_is_under_2_kb_gzipped():
    size = len(gzip.compress(SCRIPT.read_bytes(), compresslevel=9))

    assert size < GZIP_BUDGET, f"ot.js is {size} bytes gzipped, the budget is {GZIP_BUDGET}"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to parse JavaScript")
def test_script_parses_as_javascript():
    checked = subprocess.run(
        ["node", "--check", str(SCRIPT)], capture_output=True, text=True, check=False
    )

    assert checked.returncode == 0, checked.stderr


def test_script_recognises_every_documented_download_type():
    # The pattern is simple enough to read the same in Python and JavaScript.
    found = re.search(r"const files = /(.+)/i\n", SCRIPT.read_text())
    assert found, "the download pattern `const files = /.../i` is missing"
    pattern = re.compile(found.group(1), re.IGNORECASE)

    missed = [ext for ext in DOCUMENTED_DOWNLOADS if not pattern.search(f"/files/report.{ext}")]
    assert missed == []
    assert pattern.search("/files/REPORT.PDF")
    assert not pattern.search("/blog/pdf-tips")
    assert not pattern.search("/index.html")


def test_every_snippet_attribute_is_one_the_script_reads():
    # The snippet the dashboard hands out and the script must not drift apart.
    snippet_source = (ROOT / "ot" / "sites" / "snippet.py").read_text()
    script = SCRIPT.read_text()

    attributes = set(re.findall(r"data-([a-z-]+)", snippet_source))
    assert attributes, "no data-* attribute found in ot/sites/snippet.py"
    unread = sorted(name for name in attributes if f"attr('{name}')" not in script)
    assert unread == []
