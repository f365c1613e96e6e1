"""Figures from a grant's cells (`ot.grants.cells`): the rows, totals and comparisons of a
query, each the sum of the cells it covers, ordered and paged as the stats engine does."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from ot.stats.dates import TimeRange, buckets, unit_of
from ot.stats.engine import (
    Comparison,
    Number,
    QueryResult,
    ResultRow,
    matching_time_labels,
    period_change,
)
from ot.stats.query import Query

Key = tuple[str, ...]
COUNTS = ("visitors", "visits", "pageviews", "events")
# Rates are summed weighted by visits; the digits each is rounded to, as the engine rounds it.
RATES = {"bounce_rate": 0, "visit_duration": 0, "views_per_visit": 2}


@dataclass(frozen=True)
class Cell:
    """One cell: the first day of its time unit (where the grant's window cuts it, still the
    unit's first day, as the engine labels it), its value of each cell dimension, and what the
    engine counted in it."""

    start: date
    values: tuple[str, ...]
    counts: dict[str, Number]


@dataclass
class Figures:
    """The sums over some cells."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    weighted: dict[str, float] = field(default_factory=lambda: dict.fromkeys(RATES, 0.0))

    def add(self, cell: Cell) -> None:
        for name in COUNTS:
            self.counts[name] += int(cell.counts.get(name, 0))
        visits = cell.counts.get("visits", 0)
        for name in RATES:
            self.weighted[name] += float(cell.counts.get(name, 0)) * visits

    def metric(self, name: str, all_visitors: int) -> Number:
        if name in COUNTS:
            return self.counts[name]
        if name == "percentage":
            visitors = self.counts["visitors"]
            return round(100 * visitors / all_visitors, 1) if all_visitors else 0.0
        visits = self.counts["visits"]
        digits = RATES[name]
        if not visits:
            return 0.0 if digits else 0
        mean = self.weighted[name] / visits
        return round(mean, digits) if digits else round(mean)


def label_of(day: date, unit: str) -> str:
    """The label of the time bucket of `unit` holding `day`, as the engine labels buckets."""
    if unit == "week":
        day -= timedelta(days=day.weekday())
    elif unit == "month":
        day = day.replace(day=1)
    return day.isoformat()


def _sums(
    query: Query, dimensions: tuple[str, ...], period: TimeRange, cells: list[Cell]
) -> tuple[dict[Key, Figures], Figures]:
    """The figures of each row the query asks for, and of all the cells together."""
    time_unit = unit_of(query.time_dimension, period) if query.time_dimension else None
    rows: dict[Key, Figures] = defaultdict(Figures)
    everything = Figures()
    if not query.dimensions:
        rows[()] = everything  # an aggregate answers zeros, not nothing
    for cell in cells:
        everything.add(cell)
        if not query.dimensions:
            continue
        key = tuple(
            label_of(cell.start, time_unit)
            if name == query.time_dimension and time_unit is not None
            else cell.values[dimensions.index(name)]
            for name in query.dimensions
        )
        rows[key].add(cell)
    return dict(rows), everything


def _metrics(query: Query, figures: Figures, everything: Figures) -> list[Number]:
    return [figures.metric(name, everything.counts["visitors"]) for name in query.metrics]


def _ordered(rows: dict[Key, list[Number]], query: Query) -> list[Key]:
    """Keys in the order asked for; by default time first, then the first metric descending;
    ties broken by the dimension values (the engine's order)."""
    order = list(query.order_by)
    if not order:
        if query.time_dimension:
            order.append((query.time_dimension, "asc"))
        order.append((query.metrics[0], "desc"))
    keys = sorted(rows)
    for name, direction in reversed(order):
        descending = direction == "desc"
        if name in query.dimensions:
            keys.sort(key=_by_dimension(query.dimensions.index(name)), reverse=descending)
        else:
            keys.sort(key=_by_metric(rows, query.metrics.index(name)), reverse=descending)
    return keys


def _by_dimension(index: int) -> Callable[[Key], str]:
    return lambda key: key[index]


def _by_metric(rows: dict[Key, list[Number]], index: int) -> Callable[[Key], Number]:
    return lambda key: rows[key][index]


def _time_labels(query: Query, period: TimeRange) -> list[str] | None:
    if query.time_dimension is None:
        return None
    return [bucket.label for bucket in buckets(unit_of(query.time_dimension, period), period)]


def answer_from(
    query: Query,
    domain: str,
    dimensions: tuple[str, ...],
    period: TimeRange,
    cells: list[Cell],
    previous: tuple[TimeRange, list[Cell]] | None,
) -> QueryResult:
    """The query's answer from the cells left in `period` (and, for a comparison, in the
    compared range); `dimensions` are the cells' dimensions after their time unit."""
    sums, everything = _sums(query, dimensions, period, cells)
    rows = {key: _metrics(query, figures, everything) for key, figures in sums.items()}
    keys = _ordered(rows, query)
    page = keys[query.offset : query.offset + query.limit]
    labels = _time_labels(query, period)
    result_rows = [ResultRow(list(key), rows[key]) for key in page]
    comparison_range = None
    if previous is not None:
        comparison_range, earlier_cells = previous
        earlier, earlier_everything = _sums(query, dimensions, comparison_range, earlier_cells)
        label_map = matching_time_labels(query, period, comparison_range)
        time_index = query.dimensions.index(query.time_dimension) if query.time_dimension else None
        for row in result_rows:
            then_key = list(row.dimensions)
            if time_index is not None:
                then_key[time_index] = label_map.get(then_key[time_index], "")
            figures = earlier.get(tuple(then_key))
            then: list[Number] = (
                _metrics(query, figures, earlier_everything)
                if figures is not None
                else [0 for _ in query.metrics]
            )
            change = [
                period_change(name, now, was)
                for name, now, was in zip(query.metrics, row.metrics, then, strict=True)
            ]
            row.comparison = Comparison(then_key, then, change)
    return QueryResult(
        query=query,
        site_domain=domain,
        time_range=period,
        rows=result_rows,
        totals=_metrics(query, everything, everything),
        total_rows=len(keys),
        comparison_range=comparison_range,
        time_labels=labels,
    )
