"""The dashboard's headline figures: one card per metric, its value with its unit and its change
against the compared period (an arrow and a sign, so it reads without colour too)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from ot.tui.view import METRIC_LABELS, change_direction, format_change, format_metric

KPI_METRICS = [
    "visitors",
    "visits",
    "pageviews",
    "views_per_visit",
    "bounce_rate",
    "visit_duration",
]
# Narrow terminals get the short names: six cards share 80 columns.
SHORT_LABELS = {
    "visitors": "Visitors",
    "visits": "Visits",
    "pageviews": "Pageviews",
    "views_per_visit": "Per visit",
    "bounce_rate": "Bounce",
    "visit_duration": "Duration",
}
DAILY_SUMS_LABEL = "sum of daily visitors"


class Kpi(Static):
    """One figure: its name, its value, and its change."""

    DEFAULT_CSS = """
    Kpi {
        width: 1fr;
        height: 3;
        padding: 0 1;
        border-left: tall $panel;
    }
    #kpi-visitors { width: 1.4fr; }
    Kpi.-good { border-left: tall $success; }
    Kpi.-bad { border-left: tall $error; }
    """

    def __init__(self, metric: str) -> None:
        super().__init__(id=f"kpi-{metric}")
        self.metric = metric
        self.label = METRIC_LABELS[metric]
        self.value: object = None
        self.change: object = None

    def show(self, value: object, change: object, *, label: str | None = None) -> None:
        self.value, self.change = value, change
        if label is not None:
            self.label = label
            self.tooltip = label
        direction = change_direction(self.metric, change)
        self.set_class(direction > 0, "-good")
        self.set_class(direction < 0, "-bad")
        self.refresh_text()

    def on_resize(self) -> None:
        self.refresh_text()

    def refresh_text(self) -> None:
        room = self.content_size.width
        label = self.label if room >= len(self.label) else SHORT_LABELS[self.metric]
        if self.label == DAILY_SUMS_LABEL and room < len(self.label):
            label = "Σ daily vis."  # still says it is a sum, in 12 columns
        if room and len(label) > room:
            label = label[: max(1, room - 1)] + "…"  # one line per part, whatever the width
        text = Text(label, style="dim")
        text.append("\n")
        text.append(format_metric(self.metric, self.value), style="bold")
        change = format_change(self.metric, self.change)
        direction = change_direction(self.metric, self.change)
        style = "green" if direction > 0 else "red" if direction < 0 else "dim"
        text.append("\n")
        text.append(change or " ", style=style)
        # Its size is fixed by the stylesheet: no layout of the screen (a thirtieth of a second
        # at 160 columns, once for every answer of the strip otherwise).
        self.update(text, layout=False)


class KpiStrip(Horizontal):
    """The six headline figures side by side."""

    DEFAULT_CSS = """
    KpiStrip {
        height: 3;
        margin: 0 0 1 0;
    }
    """

    def compose(self) -> ComposeResult:
        for metric in KPI_METRICS:
            yield Kpi(metric)

    def show(
        self,
        values: Sequence[object],
        changes: Sequence[object] | None,
        *,
        visitors_are_daily_sums: bool = False,
    ) -> None:
        for index, metric in enumerate(KPI_METRICS):
            label = None
            if metric == "visitors":
                label = DAILY_SUMS_LABEL if visitors_are_daily_sums else METRIC_LABELS[metric]
            change = changes[index] if changes is not None else None
            self.query_one(f"#kpi-{metric}", Kpi).show(values[index], change, label=label)

    def figures(self) -> list[tuple[str, str, object, object]]:
        """(label, metric, value, change) of each card, for the export."""
        return [(kpi.label, kpi.metric, kpi.value, kpi.change) for kpi in self.query(Kpi)]
