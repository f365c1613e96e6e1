"""The dashboard's time series: visitors and pageviews per bucket of the period (hours of a day,
days, months), and the compared period's visitors as a dotted line when there is one."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from ot.tui.view import format_count

TICKS = 6  # labels under the x axis: more would overlap at 80 columns


def bucket_label(label: str, time_dimension: str) -> str:
    """Short x-axis labels: '2026-05-04 10:00:00' → '10:00' (hours), '2026-05-04' → '05-04'
    (days), '2026-05-01' → '2026-05' (months)."""
    if time_dimension == "time:hour":
        return label[11:16] or label
    if time_dimension == "time:month":
        return label[:7]
    return label[5:10] or label


class VisitorsChart(PlotextPlot):
    """Visitors and pageviews over the period."""

    DEFAULT_CSS = """
    VisitorsChart {
        height: 12;
        width: 1fr;
        border: round $panel;
        border-title-color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Visitors and pageviews"
        self.labels: list[str] = []
        self.series: dict[str, list[float]] = {}
        self.drawn = 0  # counts the figures drawn: what `render` caches is one of them
        self.rendered: tuple[Hashable, RenderResult] | None = None

    def render(self) -> RenderResult:
        """Plotext's picture of the figure, built again only when the figure, the size or the
        theme changed: the dashboard's layout is refreshed as each panel's answer lands, and
        building it took a tenth of a second each time."""
        key = (self.drawn, self.size, self.app.theme, self.theme)
        if self.rendered is None or self.rendered[0] != key:
            self.rendered = (key, super().render())
        return self.rendered[1]

    def show(
        self,
        labels: Sequence[str],
        time_dimension: str,
        visitors: Sequence[float],
        pageviews: Sequence[float],
        compared_visitors: Sequence[float] | None = None,
    ) -> None:
        self.labels = [bucket_label(label, time_dimension) for label in labels]
        self.series = {"Visitors": list(visitors), "Pageviews": list(pageviews)}
        if compared_visitors is not None:
            self.series["Visitors, compared period"] = list(compared_visitors)
        self.drawn += 1
        plot = self.plt
        plot.clear_data()
        plot.clear_figure()
        if not self.labels:
            self.refresh()
            return
        positions: list[float] = [float(index) for index in range(len(self.labels))]
        # Drawn first, so that this period's lines are on top where they cross it.
        if compared_visitors is not None:
            plot.plot(positions, list(compared_visitors), label="Compared", marker="dot")
        plot.plot(positions, list(pageviews), label="Pageviews", marker="braille")
        plot.plot(positions, list(visitors), label="Visitors", marker="braille")
        step = max(1, len(positions) // TICKS)
        plot.xticks(positions[::step], self.labels[::step])
        top = max([*visitors, *pageviews, *(compared_visitors or []), 1])
        plot.ylim(0, top * 1.1)
        # Whole numbers on the y axis: visitors and pageviews are counts.
        ticks = sorted({round(top * step / 4) for step in range(5)})
        plot.yticks([float(tick) for tick in ticks], [format_count(tick) for tick in ticks])
        self.refresh()
