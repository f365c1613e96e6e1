"""CSV cells safe to open in a spreadsheet (`ot.csv_cells`): text that a spreadsheet would run
as a formula is written as text; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from ot.csv_cells import spreadsheet_safe, spreadsheet_safe_row


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("https://evil.example","click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "\0=1+1",
    ],
)
def test_text_a_spreadsheet_would_run_as_a_formula_gets_a_leading_apostrophe(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


def test_other_text_and_every_number_are_written_as_they_are() -> None:
    row = ["/blog", "Direct / None", "", "a=b", "'quoted", -5, -0.25, 3, Decimal("-9.50"), None]
    assert spreadsheet_safe_row(row) == row


def test_an_escaped_cell_reads_back_as_one_cell_of_text() -> None:
    output = io.StringIO()
    csv.writer(output).writerow(spreadsheet_safe_row(['=HYPERLINK("x","y"),1', -1]))
    assert next(csv.reader(io.StringIO(output.getvalue()))) == ['\'=HYPERLINK("x","y"),1', "-1"]
