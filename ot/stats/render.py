"""A query result as the answers show it: Plausible's v2 JSON (API and `ot-admin --json`) and
CSV (a header of dimensions then metrics)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from ot.csv_cells import spreadsheet_safe_row
from ot.stats.dates import TimeRange
from ot.stats.engine import QueryResult


def iso_range(time_range: TimeRange) -> list[str]:
    """First and last instant, in the site's zone, as Plausible echoes a query's range."""
    last = time_range.end - timedelta(seconds=1)
    return [
        time_range.start.astimezone(time_range.zone).isoformat(timespec="seconds"),
        last.astimezone(time_range.zone).isoformat(timespec="seconds"),
    ]


def v2_response(result: QueryResult, site_id: str) -> dict[str, Any]:
    query = result.query
    rows = []
    for row in result.rows:
        item: dict[str, Any] = {"metrics": row.metrics, "dimensions": row.dimensions}
        if row.comparison is not None:
            item["comparison"] = {
                "dimensions": row.comparison.dimensions,
                "metrics": row.comparison.metrics,
                "change": row.comparison.change,
            }
        rows.append(item)
    meta: dict[str, Any] = {}
    if query.echo.get("include", {}).get("imports"):
        meta["imports_included"] = False  # we import no other tool's stats (yet)
    if query.include_time_labels and result.time_labels is not None:
        meta["time_labels"] = result.time_labels
    if query.include_total_rows:
        meta["total_rows"] = result.total_rows
    if query.include_totals:
        meta["totals"] = result.totals
    if result.visitors_are_daily_sums:
        meta["visitors_are_daily_sums"] = True
    if result.warnings:
        meta["warnings"] = result.warnings
    echo: dict[str, Any] = {
        "site_id": site_id,
        "metrics": list(query.metrics),
        "date_range": iso_range(result.time_range),
        "dimensions": list(query.dimensions),
        "filters": query.echo.get("filters", []),
        "order_by": query.echo.get("order_by", []),
        "include": query.echo.get("include", {}),
        "pagination": {"limit": query.limit, "offset": query.offset},
    }
    if result.comparison_range is not None:
        echo["comparison_date_range"] = iso_range(result.comparison_range)
    return {"results": rows, "meta": meta, "query": echo}


def to_csv(result: QueryResult) -> str:
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\r\n")
    writer.writerow([*result.query.dimensions, *result.query.metrics])
    for row in result.rows:
        writer.writerow(spreadsheet_safe_row([*row.dimensions, *row.metrics]))
    return output.getvalue()
