"""The dashboard as a CSV file: its figures and every panel's rows, written where the user runs
`ot tui` (or to a folder they name), with cells a spreadsheet would run as formulas made text.

The rule is `ot.csv_cells`' (OWASP's list), repeated here because the TUI imports only
`ot.client`, `ot.api` and Textual; tests/test_tui_dashboard.py holds the two to the same list."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Text starting like this is run as a formula by Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
EXPORT_HEADER = ["section", "name", "metric", "value", "change"]


def spreadsheet_safe(value: object) -> object:
    """Text starting like a formula gets a leading `'` (read as "this is text"); numbers are
    ours and stay numbers, even negative ones."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def file_name(name: str) -> str:
    """`name` as a safe file name: a domain and dates keep their dots and dashes."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "export"


def save_csv(
    header: list[str], rows: Iterable[Sequence[object]], *, name: str, folder: Path | None = None
) -> Path:
    """Write `rows` under `header` to `<folder>/<name>.csv` (the working folder by default) and
    answer the file's path. An existing file of that name is replaced: it is the same view."""
    target = (folder if folder is not None else Path.cwd()) / f"{file_name(name)}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as output:
        writer = csv.writer(output)
        writer.writerow([spreadsheet_safe(cell) for cell in header])
        for row in rows:
            writer.writerow([spreadsheet_safe(cell) for cell in row])
    return target


@dataclass(frozen=True)
class Figure:
    """One number of the view: a KPI, or one metric of a panel's row."""

    section: str
    name: str
    metric: str
    value: object
    change: object = None


def export_view(
    domain: str,
    first_day: str,
    last_day: str,
    figures: Iterable[Figure],
    *,
    folder: Path | None = None,
) -> Path:
    """The dashboard's figures (KPIs first, then each panel's rows) to
    `<domain>-<first>-<last>.csv`, one line per number, so any panel's metrics fit."""
    rows = (
        [figure.section, figure.name, figure.metric, figure.value, figure.change]
        for figure in figures
    )
    return save_csv(EXPORT_HEADER, rows, name=f"{domain}-{first_day}-{last_day}", folder=folder)
