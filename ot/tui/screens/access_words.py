"""What the "who sees what" screens share: moments and days in words, the selected row of a
table, and a form's call whose refusal is shown at the field it names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from textual.coordinate import Coordinate
from textual.dom import DOMNode
from textual.widgets import DataTable, Static

from ot.client import ClientError, Invalid
from ot.tui.calls import app_of

Answer = TypeVar("Answer")


def moment(at: datetime | None, *, none: str = "—") -> str:
    """A moment to the minute, in UTC (the server's times are UTC; so says every column head)."""
    if at is None:
        return none
    if at.tzinfo is None:  # the server answers UTC; a naive one is UTC too
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def day(on: date | None, *, none: str = "—") -> str:
    return on.isoformat() if on is not None else none


def names(values: Iterable[str], *, none: str = "—") -> str:
    joined = ", ".join(values)
    return joined or none


def selected_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None when the table is empty."""
    if table.row_count == 0:
        return None
    row = min(max(table.cursor_row, 0), table.row_count - 1)
    return table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value


def refill(table: DataTable[Any], columns: tuple[str, ...], empty: Static, nothing: str) -> int:
    """Empty `table` for new rows (its columns anew, so their widths fit the new rows), and
    say `nothing` in `empty` until rows come. Returns the row the cursor was on."""
    cursor = table.cursor_row
    table.clear(columns=True)
    table.add_columns(*columns)
    empty.update(nothing)
    return cursor


def filled(table: DataTable[Any], empty: Static, cursor: int) -> None:
    """Show the table, or the words saying it is empty; put the cursor back where it was."""
    table.display = table.row_count > 0
    empty.display = table.row_count == 0
    if table.row_count:
        table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))


def field_of(error: Invalid) -> str | None:
    """The form field a refusal names: `metrics.0` is the metrics field."""
    if error.field is None:
        return None
    return error.field.split(".")[0]


async def attempt_form(
    node: DOMNode, call: Awaitable[Answer], on_invalid: Callable[[Invalid], None]
) -> Answer | None:
    """Like `ot.tui.calls.attempt`, but a refused field goes to `on_invalid` (to be shown at the
    field) rather than to a notification; any other refusal is told as usual."""
    try:
        return await call
    except Invalid as error:
        on_invalid(error)
        return None
    except ClientError as error:
        app_of(node).report(error)
        return None


def show_field_errors(
    node: DOMNode, errors: dict[str, str], fields: Iterable[str], *, general: str = "form"
) -> None:
    """Write each field's problem under it (`#error-FIELD` Statics); an error naming no known
    field goes under the whole form (`#error-form`)."""
    known = set(fields)
    leftover = [message for field, message in errors.items() if field not in known]
    for field in [*known, general]:
        shown = node.query(f"#error-{field}")
        if not shown:
            continue
        message = errors.get(field, "") if field != general else "\n".join(leftover)
        label = shown.first(Static)
        label.update(message)
        label.display = bool(message)


def error_label(field: str) -> Static:
    """The (hidden until needed) place of a field's problem."""
    label = Static("", id=f"error-{field}", classes="error-text field-error")
    label.display = False
    return label
