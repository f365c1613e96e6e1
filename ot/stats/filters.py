"""Dimensions and filters as SQL over the `hit` and `visit` tables.

A query reads one of two sources: hits (event metrics, event dimensions) or visits (visit
metrics). A filter on the other level follows Plausible: a visit matches an event filter when
any of its hits in the range matches; a hit matches a visit filter when its visit does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from ot.models import Goal, Hit, Visit
from ot.stats.goals import any_goal_condition
from ot.stats.labels import NO_VALUE, stored_values
from ot.stats.query import (
    GOAL,
    PROPS_PREFIX,
    VISIT_DIMENSIONS,
    AnyOf,
    Condition,
    Filter,
    Not,
    conditions,
    dimension_level,
)

HIT = Hit.__table__  # type: ignore[attr-defined]
VISIT = Visit.__table__  # type: ignore[attr-defined]

EVENT_COLUMNS = {"event:page": "pathname", "event:name": "name", "event:hostname": "hostname"}
# Visit dimensions are the visit's columns of the same name, but for Plausible's "source".
VISIT_COLUMNS = {
    name: "referrer_source" if name == "visit:source" else name.removeprefix("visit:")
    for name in VISIT_DIMENSIONS
}


@dataclass(frozen=True)
class QueryScope:
    """What every condition of one query needs: the site, the hits' time window, its goals."""

    site_id: int
    start: datetime
    end: datetime
    goals: tuple[Goal, ...]
    rolled_through: date | None = None  # the last local day the site's rollups are complete for


def event_expression(dimension: str) -> ColumnElement[Any]:
    """The value of an event dimension on a hit (not `event:goal`, which is a set of goals)."""
    if dimension.startswith(PROPS_PREFIX):
        key = dimension.removeprefix(PROPS_PREFIX)
        return func.coalesce(HIT.c.props[key].as_string(), NO_VALUE)
    return HIT.c[EVENT_COLUMNS[dimension]]


def visit_expression(dimension: str) -> ColumnElement[Any]:
    return VISIT.c[VISIT_COLUMNS[dimension]]


def uses_visits(filters: tuple[Filter, ...] | list[Filter], dimensions: tuple[str, ...]) -> bool:
    """Whether a hit query must join each hit's visit."""
    names = [c.dimension for c in conditions(filters)] + list(dimensions)
    return any(name.startswith("visit:") for name in names)


def _contains(expression: ColumnElement[Any], value: str, dialect: str) -> ColumnElement[bool]:
    # Not LIKE: SQLite's LIKE ignores case and treats % and _ as wildcards.
    function = (
        func.instr(expression, value) if dialect == "sqlite" else func.strpos(expression, value)
    )
    return function > 0


def _match(
    condition: Condition, expression: ColumnElement[Any], dialect: str
) -> ColumnElement[bool]:
    values = list(condition.values)
    if condition.operator == "is":
        # A label shown for the empty value ("Direct / None", "(not set)") matches it.
        values = list(
            stored_values(
                condition.dimension, tuple(values), case_sensitive=condition.case_sensitive
            )
        )
    if condition.operator == "matches":
        # Both SQLite (Python's re) and PostgreSQL read an embedded (?i).
        prefix = "" if condition.case_sensitive else "(?i)"
        return or_(*(expression.regexp_match(prefix + pattern) for pattern in values))
    if not condition.case_sensitive:
        expression = func.lower(expression)
        values = [value.lower() for value in values]
    if condition.operator == "is":
        return expression.in_(values)
    return or_(*(_contains(expression, value, dialect) for value in values))


def _goals_named(condition: Condition, goals: tuple[Goal, ...]) -> list[Goal]:
    def matches(name: str) -> bool:
        for value in condition.values:
            left, right = (
                (name, value) if condition.case_sensitive else (name.lower(), value.lower())
            )
            if (left == right) if condition.operator == "is" else (right in left):
                return True
        return False

    return [goal for goal in goals if matches(goal.display_name)]


def _event_condition(condition: Condition, scope: QueryScope, dialect: str) -> ColumnElement[bool]:
    if condition.dimension == GOAL:
        return any_goal_condition(_goals_named(condition, scope.goals))
    return _match(condition, event_expression(condition.dimension), dialect)


def hit_condition(item: Filter, scope: QueryScope, dialect: str) -> ColumnElement[bool]:
    """Whether a hit (joined with its visit) matches the filter."""
    if isinstance(item, AnyOf):
        parts = [hit_condition(child, scope, dialect) for child in item.children]
        return and_(*parts) if item.operator == "and" else or_(*parts)
    if isinstance(item, Not):
        return not_(hit_condition(item.child, scope, dialect))
    if dimension_level(item.dimension) == "visit":
        return _match(item, visit_expression(item.dimension), dialect)
    return _event_condition(item, scope, dialect)


def visit_condition(item: Filter, scope: QueryScope, dialect: str) -> ColumnElement[bool]:
    """Whether a visit matches the filter: for event conditions, whether any of its hits in the
    range does."""
    if isinstance(item, AnyOf):
        parts = [visit_condition(child, scope, dialect) for child in item.children]
        return and_(*parts) if item.operator == "and" else or_(*parts)
    if isinstance(item, Not):
        return not_(visit_condition(item.child, scope, dialect))
    if dimension_level(item.dimension) == "visit":
        return _match(item, visit_expression(item.dimension), dialect)
    matching_hits = select(HIT.c.visit_id).where(
        HIT.c.site_id == scope.site_id,
        HIT.c.timestamp >= scope.start,
        HIT.c.timestamp < scope.end,
        _event_condition(item, scope, dialect),
    )
    return VISIT.c.id.in_(matching_hits)


def all_of(parts: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return and_(*parts) if parts else true()
