"""Log timestamps: a strptime-style format compiled once into a parser that returns the moment
(aware, UTC) and the date as the log wrote it (the day GoAccess counts a visitor on)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from ot.errors import InvalidInput

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "september"), ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip

# strptime directives -> (regex, group name). Composite ones expand to others first.
_COMPOSITES = {"T": "%H:%M:%S", "D": "%m/%d/%y", "F": "%Y-%m-%d", "R": "%H:%M"}
_DIRECTIVES = {
    "d": (r"[ 0-9]?[0-9]", "day"),
    "e": (r"[ 0-9]?[0-9]", "day"),
    "m": (r"[0-9]{1,2}", "month"),
    "b": (r"[A-Za-z]{3,9}", "month_name"),
    "B": (r"[A-Za-z]{3,9}", "month_name"),
    "h": (r"[A-Za-z]{3,9}", "month_name"),
    "Y": (r"[0-9]{4}", "year"),
    "y": (r"[0-9]{2}", "short_year"),
    "H": (r"[0-9]{1,2}", "hour"),
    "M": (r"[0-9]{2}", "minute"),
    "S": (r"[0-9]{2}", "second"),
    "f": (r"[0-9]{1,9}", "fraction"),
    "z": (r"[+-][0-9]{2}:?[0-9]{2}|Z", "zone"),
    "s": (r"[0-9]{1,12}", "epoch"),
    "a": (r"[A-Za-z]{3,9}", None),  # weekday names say nothing the date does not
    "A": (r"[A-Za-z]{3,9}", None),
    "Z": (r"[A-Za-z]{1,5}", None),  # zone abbreviations are ambiguous: %z carries the offset
}

Parsed = tuple[datetime, date]  # (moment in UTC, the date as written in the log)
TimestampParser = Callable[[str], Parsed | None]

APACHE_TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
MAX_CACHED_DAYS = 4096


def compile_timestamp(time_format: str, default_zone: tzinfo) -> TimestampParser:
    """A parser for timestamps written as `time_format`; it answers None for text that does
    not fit. Times without a zone (%z) are taken in `default_zone` (the site's time zone)."""
    pattern, used = _translate(time_format)
    if "epoch" not in used and not ({"day", "year"} <= used or {"day", "short_year"} <= used):
        raise InvalidInput(
            f"the date/time format {time_format!r} gives no full date (day, month and year, or %s)",
            field="date_format",
        )
    if "epoch" not in used and not ({"month", "month_name"} & used):
        raise InvalidInput(
            f"the date/time format {time_format!r} gives no month", field="date_format"
        )
    compiled = re.compile(pattern)

    @lru_cache(maxsize=4096)
    def parse(text: str) -> Parsed | None:
        found = compiled.fullmatch(text.strip())
        if found is None:
            return None
        return _from_parts(found.groupdict(), default_zone)

    if time_format == APACHE_TIME_FORMAT:
        return _apache_parser(parse)
    return parse


def timestamp_regex(time_format: str) -> str:
    """A regular expression (without groups) matching text written in `time_format`."""
    return re.sub(r"\(\?P<\w+>", "(?:", _translate(time_format)[0])


def _translate(time_format: str) -> tuple[str, set[str]]:
    expanded = time_format
    for name, replacement in _COMPOSITES.items():
        expanded = expanded.replace("%" + name, replacement)
    pattern = []
    used: set[str] = set()
    index = 0
    while index < len(expanded):
        character = expanded[index]
        if character != "%":
            pattern.append(r"\s+" if character == " " else re.escape(character))
            index += 1
            continue
        directive = expanded[index + 1 : index + 2]
        index += 2
        if directive == "%":
            pattern.append("%")
            continue
        if directive not in _DIRECTIVES:
            shown = "%" + directive if directive else "a lone %"
            raise InvalidInput(
                f"the date/time format {time_format!r} uses {shown}, which is not supported "
                f"(supported: %{' %'.join(sorted(_DIRECTIVES))} %T %D %F %R %%)",
                field="date_format",
            )
        regex, group = _DIRECTIVES[directive]
        if group is None or group in used:
            pattern.append(f"(?:{regex})")
        else:
            used.add(group)
            pattern.append(f"(?P<{group}>{regex})")
    return "".join(pattern), used


def _from_parts(parts: dict[str, str | None], default_zone: tzinfo) -> Parsed | None:
    try:
        if parts.get("epoch"):
            moment = datetime.fromtimestamp(int(parts["epoch"] or 0), UTC)
            return moment, moment.date()
        if parts.get("year"):
            year = int(parts["year"] or 0)
        else:
            year = 2000 + int(parts["short_year"] or 0)
        if parts.get("month_name"):
            month = MONTHS.get((parts["month_name"] or "").lower())
            if month is None:
                return None
        else:
            month = int(parts["month"] or 0)
        fraction = (parts.get("fraction") or "0")[:6].ljust(6, "0")
        local = datetime(
            year,
            month,
            int(parts["day"] or 0),
            int(parts.get("hour") or 0),
            int(parts.get("minute") or 0),
            int(parts.get("second") or 0),
            int(fraction),
        )
    except (ValueError, OverflowError):
        return None
    zone_text = parts.get("zone")
    zone = _zone(zone_text) if zone_text else default_zone
    if zone is None:
        return None
    return local.replace(tzinfo=zone).astimezone(UTC), local.date()


@lru_cache(maxsize=256)
def _zone(text: str) -> tzinfo | None:
    if text == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    if len(digits) != 4 or not digits.isdigit():
        return None
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _apache_parser(general: TimestampParser) -> TimestampParser:
    """Apache's and NGINX's `10/Oct/2000:13:55:36 -0700`, read by slicing: most logs are in it.
    A cache of whole timestamps would miss nearly every time (they change every second), so the
    day with its zone and the time of day are looked up apart, each read once and then added."""

    days: dict[str, tuple[datetime, date] | None] = {}
    clocks: dict[str, timedelta | None] = {}

    def day_start(day_and_zone: str) -> tuple[datetime, date] | None:
        """The logged day's midnight in its zone (as UTC), and the day."""
        # "10/Oct/2000 -0700"
        if day_and_zone[2] != "/" or day_and_zone[6] != "/" or day_and_zone[11] != " ":
            return None
        month = MONTHS.get(day_and_zone[3:6].lower())
        zone = _zone(day_and_zone[12:]) if day_and_zone[12:13] in ("+", "-") else None
        digits = day_and_zone[0:2] + day_and_zone[7:11]
        if month is None or zone is None or not digits.isdigit():
            return None
        try:
            midnight = datetime(int(digits[2:]), month, int(digits[:2]), tzinfo=zone)
        except ValueError:
            return None
        return midnight.astimezone(UTC), midnight.date()

    def time_of_day(clock: str) -> timedelta | None:
        # "13:55:36"; a leap second (:60) is read as the next second, as strptime allows it.
        if clock[2] != ":" or clock[5] != ":":
            return None
        digits = clock[0:2] + clock[3:5] + clock[6:8]
        if not digits.isdigit():
            return None
        hours, minutes, seconds = int(digits[:2]), int(digits[2:4]), int(digits[4:])
        if hours > 23 or minutes > 59 or seconds > 60:
            return None
        return timedelta(seconds=hours * 3600 + minutes * 60 + seconds)

    def parse(text: str) -> Parsed | None:
        if len(text) != 26 or text[11] != ":":
            return general(text)
        day_key = text[:11] + text[20:]
        day = days.get(day_key)
        if day is None:
            if len(days) >= MAX_CACHED_DAYS:
                days.clear()  # a bound on memory; a log of that many days is rare
            day = days[day_key] = day_start(day_key)
            if day is None:
                return general(text)
        clock_key = text[12:20]
        clock = clocks.get(clock_key)
        if clock is None:
            clock = time_of_day(clock_key)
            if clock is None:
                return general(text)  # rare: let the general reader decide
            clocks[clock_key] = clock  # at most 86,401 entries
        return day[0] + clock, day[1]

    return parse
