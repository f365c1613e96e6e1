"""`d` on the dashboard: choose its period, a named one or two ISO dates of your own. Dates that
are not dates, or that end before they start, are said under the fields and nothing changes."""

from __future__ import annotations

from datetime import date

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from ot.tui.view import PERIOD_LABELS, Period, PeriodKind, custom_period, period_of

# Keys 1 to 8 choose these, on the dashboard and here.
NAMED_PERIODS = [kind for kind in PeriodKind if kind is not PeriodKind.CUSTOM]


def parse_custom(first: str, last: str) -> Period:
    """Two ISO dates as a period; ValueError says in words what is wrong."""
    days: list[date] = []
    for which, text in (("first", first), ("last", last)):
        try:
            days.append(date.fromisoformat(text.strip()))
        except ValueError:
            raise ValueError(
                f"The {which} day {text.strip()!r} is not a date: write it as 2026-05-31."
            ) from None
    return custom_period(days[0], days[1])


class PeriodPickerScreen(ModalScreen[Period | None]):
    HELP = """# Period

Choose the dashboard's period: press its number, or move to it and press Enter. *Custom* takes
two days (first and last, included) written as `2026-05-31`."""
    DEFAULT_CSS = """
    PeriodPickerScreen { align: center middle; }
    PeriodPickerScreen > Vertical {
        width: 74;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    PeriodPickerScreen OptionList { height: auto; max-height: 11; }
    PeriodPickerScreen Input { width: 1fr; }
    PeriodPickerScreen #custom-fields { height: auto; }
    PeriodPickerScreen #custom-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Back")]

    def __init__(self, current: Period, today: date) -> None:
        super().__init__()
        self.current = current
        self.today = today

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Period", classes="title")
            options = [
                Option(f"{number}  {PERIOD_LABELS[kind]}", id=kind.value)
                for number, kind in enumerate(NAMED_PERIODS, start=1)
            ]
            yield OptionList(*options, id="periods")
            yield Label("Custom: first and last day", classes="hint")
            with Horizontal(id="custom-fields"):
                yield Input(
                    self.current.first_day.isoformat(), placeholder="2026-05-01", id="first"
                )
                yield Input(self.current.last_day.isoformat(), placeholder="2026-05-31", id="last")
            yield Label("", id="custom-error")
            yield Button("Show these days", id="apply-custom", variant="primary")

    def on_mount(self) -> None:
        if self.current.kind in NAMED_PERIODS:
            self.query_one(OptionList).highlighted = NAMED_PERIODS.index(self.current.kind)

    def on_key(self, event: object) -> None:
        key = getattr(event, "character", None)
        focused_input = isinstance(self.focused, Input)
        if not focused_input and key and key.isdigit() and 1 <= int(key) <= len(NAMED_PERIODS):
            self.dismiss(period_of(NAMED_PERIODS[int(key) - 1], self.today))

    @on(OptionList.OptionSelected)
    def _named(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(period_of(PeriodKind(event.option.id or PeriodKind.TODAY), self.today))

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply-custom")
    def _custom(self) -> None:
        error = self.query_one("#custom-error", Label)
        try:
            period = parse_custom(
                self.query_one("#first", Input).value, self.query_one("#last", Input).value
            )
        except ValueError as problem:
            error.update(str(problem).replace("the period ends", "The period ends"))
            return
        self.dismiss(period)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
