"""`ot-admin`'s help reads as an operator's manual: arguments and values named in words (no
`{site}`, `<str>` or `<list[str]>`), one-line descriptions never cut off with "...", and an
example in every command's help. Its tables carry units and its counts say "1 visit"."""

from __future__ import annotations

import json
import re
import sys

import pytest
from typer.testing import CliRunner

from ot.admin.cli import app
from ot.admin.output import duration_text, metric_text, plural, print_listing
from tests.test_audit_admin import command_names

COMMANDS = sorted(command_names())
GROUPS = sorted({name.split()[0] for name in COMMANDS if " " in name})


def help_of(words: str) -> str:
    result = CliRunner().invoke(
        app, [*words.split(), "--help"], env={"COLUMNS": "80"}, prog_name="ot-admin"
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_help_names_its_arguments_and_values_in_words(command: str) -> None:
    text = help_of(command)
    assert not re.search(r"\{\w+\}", text), text
    assert not re.search(r"<[\w\[\]|, ]+>", text), text
    usage = text.split("\n\n")[0]
    assert usage.startswith(f"Usage: ot-admin {command} [OPTIONS]")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_help_shows_an_example_of_itself(command: str) -> None:
    text = help_of(command)
    example = text.split("Example:\n", 1)[1].splitlines()[0].strip()
    assert example.startswith(f"ot-admin {command}"), text


@pytest.mark.parametrize("group", ["", *GROUPS])
def test_the_command_lists_are_never_cut_off(group: str) -> None:
    text = help_of(group)
    listed = text.split("Commands:\n", 1)[1]
    cut = [line for line in listed.splitlines() if line.rstrip().endswith("...")]
    assert cut == [], text


def test_site_summary_usage_reads_as_words() -> None:
    text = help_of("sites summary")
    assert "Usage: ot-admin sites summary [OPTIONS] SITE\n" in text
    assert "--period PERIOD" in text


def test_a_choice_lists_its_values() -> None:
    assert "--visitor-mode [cookie|cookieless]" in help_of("sites add")


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (0, "visit", "0 visits"),
        (1, "visit", "1 visit"),
        (2, "visit", "2 visits"),
        (1200, "visit", "1,200 visits"),
    ],
)
def test_counts_are_said_with_the_right_plural(count: int, noun: str, expected: str) -> None:
    assert plural(count, noun) == expected


def test_an_irregular_plural_is_given() -> None:
    assert plural(3, "entry", "entries") == "3 entries"
    assert plural(1, "entry", "entries") == "1 entry"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (34, "34s"), (154, "2m 34s"), (64.6, "1m 05s"), (3723, "1h 02m 03s")],
)
def test_durations_are_written_in_hours_minutes_and_seconds(seconds: float, expected: str) -> None:
    assert duration_text(seconds) == expected


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        ("bounce_rate", 27, "27 %"),
        ("conversion_rate", 33.33, "33.33 %"),
        ("visit_duration", 154, "2m 34s"),
        ("visitors", 3, "3"),
        ("views_per_visit", 1.5, "1.5"),
        ("visitors", None, ""),
    ],
)
def test_metrics_are_printed_with_their_unit(metric: str, value: object, expected: str) -> None:
    assert metric_text(metric, value) == expected


LISTED = [{"id": 1, "name": "Jane"}, {"id": 2, "name": None}]


def test_a_listing_in_a_pipe_is_a_header_and_tab_separated_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_listing(LISTED, ["id", "name"], as_json=False)
    assert capsys.readouterr().out == "id\tname\n1\tJane\n2\t-\n"


def test_a_listing_on_a_terminal_is_a_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    print_listing(LISTED, ["id", "name"], as_json=False)
    table = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # the terminal's styles
    assert "┃ id ┃ name ┃" in table
    assert "│ 1  │ Jane │" in table and "│ 2  │ -    │" in table


def test_a_listing_as_json_keeps_the_values_typed(capsys: pytest.CaptureFixture[str]) -> None:
    print_listing(LISTED, ["id", "name"], as_json=True)
    assert json.loads(capsys.readouterr().out) == LISTED
