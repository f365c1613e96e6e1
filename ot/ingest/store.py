"""Writing one batch of hits in one transaction: drop retried duplicates, extend or start visits,
insert the hits, and add up the day's dropped-hit counts.

Synchronous on purpose: the writer runs it in its own thread on SQLite (one hop per batch instead
of one per statement) and through `AsyncConnection.run_sync` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import JSON, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlmodel.sql.sqltypes import UTCDateTime

from ot.db import WRITER_LOCK_ID
from ot.ingest.hit import EnrichedHit
from ot.ingest.visits import VisitState, assign_visits
from ot.models import DroppedHits, Hit, Visit

HIT_TABLE = Hit.__table__  # type: ignore[attr-defined]
VISIT_TABLE = Visit.__table__  # type: ignore[attr-defined]
DROPPED_TABLE = DroppedHits.__table__  # type: ignore[attr-defined]
HIT_COLUMNS = tuple(c.name for c in HIT_TABLE.columns if c.name not in ("id", "visit_id"))
# A hit's values in HIT_COLUMNS order, in one call rather than a dict built name by name; the
# insert takes them in the table's order, with visit_id among them.
_hit_values = attrgetter(*HIT_COLUMNS)
_INSERTED_HIT_COLUMNS = [c.name for c in HIT_TABLE.columns if c.name != "id"]
_VISIT_ID_AT = _INSERTED_HIT_COLUMNS.index("visit_id")
# SQLite allows 32,766 bound parameters per statement; stay far below for IN lists.
IN_CHUNK = 500


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> list[Sequence[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _lock_writers(connection: Connection) -> None:
    # SQLite writers are already serialised by BEGIN IMMEDIATE (see ot.db).
    if connection.dialect.name == "postgresql":
        connection.execute(_statements(connection.dialect).lock_writers)


def _find_new(connection: Connection, hits: Sequence[EnrichedHit]) -> list[bool]:
    """Hits whose client-made event id is already stored (or repeated in the batch) are retries
    of a hit we have: they are acknowledged but not stored again."""
    ids_by_site: dict[int, set[str]] = {}
    for hit in hits:
        if hit.event_id:
            ids_by_site.setdefault(hit.site_id, set()).add(hit.event_id)
    seen: set[tuple[int, str]] = set()
    # Per site, so the unique (site_id, event_id) index is searched, not scanned.
    for site_id, event_ids in ids_by_site.items():
        for chunk in _chunks(sorted(event_ids)):
            rows = connection.execute(
                _statements(connection.dialect).stored_event_ids,
                {"site_id": site_id, "event_ids": chunk},
            )
            seen.update((site_id, row.event_id) for row in rows)
    is_new = []
    for hit in hits:
        key = (hit.site_id, hit.event_id or "")
        is_new.append(not hit.event_id or key not in seen)
        seen.add(key)
    return is_new


def _open_visits(
    connection: Connection, hits: Sequence[EnrichedHit], timeout: timedelta
) -> list[VisitState]:
    earliest = min(hit.timestamp for hit in hits) - timeout
    visitors_by_site: dict[int, set[int]] = {}
    for hit in hits:
        visitors_by_site.setdefault(hit.site_id, set()).add(hit.visitor_id)
    query = _statements(connection.dialect).open_visits
    visits: list[VisitState] = []
    # Per site, so the (site_id, visitor_id, last_seen_at) index answers it.
    for site_id, visitors in visitors_by_site.items():
        for chunk in _chunks(sorted(visitors)):
            visits.extend(query.run(connection, site_id, chunk, earliest))
    return visits


def _write_visits(connection: Connection, visits: Sequence[VisitState]) -> None:
    unique = list({id(visit): visit for visit in visits}.values())
    new = [visit for visit in unique if visit.id is None]
    changed = [visit for visit in unique if visit.changed and visit.id is not None]
    if new:
        # Writers are serialised (see _lock_writers), so the next ids are ours to take; that
        # saves an INSERT ... RETURNING, which SQLite runs one row at a time.
        last = connection.execute(_statements(connection.dialect).last_visit_id).scalar()
        for offset, visit in enumerate(new, start=1):
            visit.id = int(last or 0) + offset
        _statements(connection.dialect).insert_visits.run_values(
            connection, [(visit.id, *visit.new_row()) for visit in new]
        )
    if changed:
        _statements(connection.dialect).update_visits.run_values(
            connection, [(*visit.counters(), visit.id) for visit in changed]
        )


def add_dropped_counts(connection: Connection, counts: dict[tuple[int, date, str], int]) -> None:
    if not counts:
        return
    rows = [(site_id, day, reason, count) for (site_id, day, reason), count in counts.items()]
    _statements(connection.dialect).add_dropped.run_values(connection, rows)


def store_batch(
    connection: Connection,
    hits: Sequence[EnrichedHit],
    *,
    visit_timeout: timedelta,
    dropped: dict[tuple[int, date, str], int] | None = None,
) -> list[bool]:
    """Store `hits` within the caller's transaction; for each hit, whether it was new (False:
    a retry of a hit already stored)."""
    _lock_writers(connection)
    if dropped:
        add_dropped_counts(connection, dropped)
    if not hits:
        return []
    is_new = _find_new(connection, hits)
    unique = [hit for hit, new in zip(hits, is_new, strict=True) if new]
    if not unique:
        return is_new
    visits = assign_visits(unique, _open_visits(connection, unique, visit_timeout), visit_timeout)
    _write_visits(connection, visits)
    cut = _VISIT_ID_AT
    rows = []
    for hit, visit in zip(unique, visits, strict=True):
        values = _hit_values(hit)
        rows.append((*values[:cut], visit.id, *values[cut:]))
    _statements(connection.dialect).insert_hits.run_values(connection, rows)
    return is_new


class FastStatement:
    """A statement compiled once per dialect and run through the driver, each column's own bind
    processor applied directly: SQLAlchemy's per-row parameter handling costs more than the
    statement itself at the collector's rates. `run_values` takes rows as tuples of values in
    the order of `names` (by default the statement's own)."""

    def __init__(
        self, statement: Any, dialect: Dialect, names: Sequence[str] | None = None
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        if not dialect.positional or compiled.positiontup is None:
            raise RuntimeError(f"the {dialect.name} driver does not take positional parameters")
        self._sql = str(compiled)
        self._names = list(compiled.positiontup if names is None else names)
        if sorted(self._names) != sorted(compiled.positiontup):
            raise RuntimeError(f"{names} are not the parameters of {self._sql}")
        # The driver takes the values in the compiled statement's order.
        self._in_statement_order = (
            None
            if self._names == compiled.positiontup
            else itemgetter(*(self._names.index(name) for name in compiled.positiontup))
        )
        processors = dict(compiled._bind_processors)
        for name in self._names:
            if isinstance(compiled.binds[name].type, UTCDateTime):
                processors[name] = _datetime_converter(dialect)
            elif isinstance(compiled.binds[name].type, JSON) and name in processors:
                processors[name] = _json_converter(processors[name])
        self._conversions = [
            (index, processors[name])
            for index, name in enumerate(self._names)
            if name in processors
        ]

    @property
    def names(self) -> list[str]:
        """The parameters in the order `run_values` takes them."""
        return self._names

    def __call__(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
        self.run_values(connection, [tuple(row[name] for name in self._names) for row in rows])

    def run_values(self, connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Run with each row's values in `names` order."""
        conversions = self._conversions
        reorder = self._in_statement_order
        parameters = []
        for row in rows:
            values = list(row)
            for index, convert in conversions:
                if values[index] is not None:
                    values[index] = convert(values[index])
            parameters.append(tuple(values) if reorder is None else reorder(values))
        connection.exec_driver_sql(self._sql, parameters)


class OpenVisitsQuery:
    """The open visits of some of a site's visitors, as `VisitState`s, run through the driver
    and compiled once per number of visitors: SQLAlchemy compiles its expanding IN at every
    call, and makes and converts a row object per visit, which together cost more than the query
    at the collector's rates."""

    # Only what extending a visit needs (its first-hit attributes are never read back), in the
    # order of VisitState's fields.
    COLUMNS = (
        "id", "site_id", "visitor_id", "started_at", "last_seen_at", "entry_page", "exit_page",
        "pageviews", "events", "interactions",
    )  # fmt: skip

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._statement = select(*(VISIT_TABLE.c[name] for name in self.COLUMNS)).where(
            VISIT_TABLE.c.site_id == bindparam("site_id"),
            VISIT_TABLE.c.visitor_id.in_(bindparam("visitor_ids", expanding=True)),
            VISIT_TABLE.c.last_seen_at
            >= bindparam("earliest", type_=VISIT_TABLE.c.last_seen_at.type),
        )
        self._bind_time = _datetime_converter(dialect)
        self._read_time = _datetime_reader(dialect)
        # By number of visitors: the SQL, and where each of its parameters is in
        # [site_id, earliest, *visitor_ids].
        self._compiled: dict[int, tuple[str, Callable[[list[Any]], tuple[Any, ...]]]] = {}

    def run(
        self, connection: Connection, site_id: int, visitor_ids: Sequence[int], earliest: datetime
    ) -> list[VisitState]:
        sql, in_order = self._compile(len(visitor_ids))
        parameters = in_order([site_id, self._bind_time(earliest), *visitor_ids])
        read_time = self._read_time
        visits = []
        for row in connection.exec_driver_sql(sql, parameters):
            (
                id_,
                site,
                visitor,
                started,
                last_seen,
                entry,
                exit_,
                pageviews,
                events,
                interactions,
            ) = row
            visits.append(
                VisitState(
                    id=id_,
                    site_id=site,
                    visitor_id=visitor,
                    started_at=read_time(started),
                    last_seen_at=read_time(last_seen),
                    entry_page=entry,
                    exit_page=exit_,
                    pageviews=pageviews,
                    events=events,
                    interactions=interactions,
                )
            )
        return visits

    def _compile(self, visitors: int) -> tuple[str, Callable[[list[Any]], tuple[Any, ...]]]:
        compiled = self._compiled.get(visitors)
        if compiled is None:
            example = self._statement.params(
                site_id=0, earliest=None, visitor_ids=list(range(visitors))
            ).compile(dialect=self._dialect, compile_kwargs={"render_postcompile": True})
            assert example.positiontup is not None  # both drivers take positional parameters
            # "visitor_ids_1" is the first visitor, at 2 in the list `run` makes.
            first = {"site_id": 0, "earliest": 1}
            positions = [
                first[name] if name in first else 1 + int(name.rpartition("_")[2])
                for name in example.positiontup
            ]
            compiled = self._compiled[visitors] = (str(example), itemgetter(*positions))
        return compiled


def _datetime_reader(dialect: Dialect) -> Callable[[Any], datetime]:
    """An aware UTC datetime from what the driver returns for a UTCDateTime column: SQLite's
    text (what `_sqlite_text` writes) or PostgreSQL's aware datetime."""
    if dialect.name == "sqlite":
        return lambda value: datetime.fromisoformat(value).replace(tzinfo=UTC)
    return lambda value: value.astimezone(UTC)


def _datetime_converter(dialect: Dialect) -> Callable[[datetime], Any]:
    """What SQLAlchemy's UTCDateTime binds, in a fifth of the time: aware UTC for PostgreSQL,
    and for SQLite the very text SQLAlchemy stores (so ranges compare as text correctly)."""
    if dialect.name == "sqlite":
        return _sqlite_text
    return lambda value: value.astimezone(UTC)


# Remembered across columns: a new visit's start and end are its first hit's time, so most times
# are converted three times in a batch, and converting costs many times a look-up. Equal
# moments in other zones are the same UTC text, so they may share an entry.
@lru_cache(maxsize=16_384)
def _sqlite_text(value: datetime) -> str:
    if value.tzinfo is UTC:  # the usual case: "+00:00" cut off is all there is to do
        return value.isoformat(" ", "microseconds")[:-6]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _json_converter(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The column's own JSON encoding, done once for the empty object most hits carry."""
    empty = process({})
    return lambda value: empty if value == {} else process(value)


def _columns(table: Any, names: Sequence[str]) -> dict[str, Any]:
    return {name: bindparam(name, type_=table.c[name].type) for name in names}


class _Statements:
    """The writer's statements for one dialect, built once: building a statement costs more
    than running it for a batch of a few hits."""

    def __init__(self, dialect: Dialect) -> None:
        self.lock_writers = text(f"SELECT pg_advisory_xact_lock({WRITER_LOCK_ID})")
        self.stored_event_ids: Any = select(HIT_TABLE.c.event_id).where(
            HIT_TABLE.c.site_id == bindparam("site_id"),
            HIT_TABLE.c.event_id.in_(bindparam("event_ids", expanding=True)),
        )
        if dialect.name == "postgresql":
            # PostgreSQL's generic plan for `IN ($2, ..., $501)` scans the whole table and
            # compares every row with every id (300 ms a query at 15,000 hits, growing with the
            # table); joining the ids as an array walks the unique index instead.
            self.stored_event_ids = text(
                "SELECT hit.event_id FROM hit"
                " JOIN unnest(CAST(:event_ids AS text[])) AS wanted(event_id)"
                " ON hit.event_id = wanted.event_id WHERE hit.site_id = :site_id"
            )
        self.open_visits = OpenVisitsQuery(dialect)
        self.last_visit_id = select(func.coalesce(func.max(VISIT_TABLE.c.id), 0))
        dialect_insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        dropped_columns = ["site_id", "day", "reason", "count"]
        upsert = dialect_insert(DROPPED_TABLE).values(_columns(DROPPED_TABLE, dropped_columns))
        self.add_dropped = FastStatement(
            upsert.on_conflict_do_update(
                index_elements=["site_id", "day", "reason"],
                set_={"count": DROPPED_TABLE.c.count + upsert.excluded.count},
            ),
            dialect,
            dropped_columns,
        )
        hit_columns = _INSERTED_HIT_COLUMNS
        new_visit_columns = ["id", *VisitState.NEW_ROW]
        counters = list(VisitState.COUNTERS)
        self.insert_hits = FastStatement(
            insert(HIT_TABLE).values(_columns(HIT_TABLE, hit_columns)), dialect, hit_columns
        )
        self.insert_visits = FastStatement(
            insert(VISIT_TABLE).values(_columns(VISIT_TABLE, new_visit_columns)),
            dialect,
            new_visit_columns,
        )
        self.update_visits = FastStatement(
            update(VISIT_TABLE)
            .where(VISIT_TABLE.c.id == bindparam("visit_id", type_=VISIT_TABLE.c.id.type))
            .values(_columns(VISIT_TABLE, counters)),
            dialect,
            [*counters, "visit_id"],
        )


_compiled: dict[str, _Statements] = {}


def _statements(dialect: Dialect) -> _Statements:
    statements = _compiled.get(dialect.name)
    if statements is None:
        statements = _compiled[dialect.name] = _Statements(dialect)
    return statements
