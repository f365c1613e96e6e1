"""Cells of every CSV we write (Stats API answers, export files), made safe to open in a
spreadsheet: text that Excel, LibreOffice or Google Sheets would run as a formula
(`=HYPERLINK(...)`) gets a leading apostrophe, which they read as "this is text".

Only text is escaped: numbers are ours (counts, rates, a negative change) and a spreadsheet
should keep them numbers. A page path or a campaign name is text even when it reads "-5".
"""

from __future__ import annotations

from collections.abc import Iterable

# OWASP's CSV injection list (= + - @ tab, carriage return) and the ASVS's NUL.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")


def spreadsheet_safe(value: object) -> object:
    """The value as a CSV cell: text starting like a formula is prefixed with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_safe_row(values: Iterable[object]) -> list[object]:
    return [spreadsheet_safe(value) for value in values]
