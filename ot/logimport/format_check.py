"""Whether a log is in the format it is read with: when more than half of the first lines of a log
read by an import are malformed, the format is the wrong one, and nothing of that log is stored
(nor its position recorded, so the right format can import it). The refusal shows a line and
names the predefined formats that would read the lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from ot.errors import InvalidInput
from ot.logimport.formats import LogFormat, apache_format
from ot.logimport.records import LineReader

FIRST_LINES = 1_000  # the lines judged: the first of the log read by this import
SAMPLES_KEPT = 20  # malformed lines kept to try the predefined formats on
SAMPLE_SHOWN_CHARACTERS = 300
# The --format names and GoAccess's names for the same formats, most fields first.
PREDEFINED = (("vhost_combined", "VCOMBINED"), ("combined", "COMBINED"), ("common", "COMMON"))


class WrongFormat(InvalidInput):
    """Most of a log's first lines do not fit the format it was read with."""


@dataclass
class MalformedAtFirst:
    """The malformed lines among the first FIRST_LINES lines of one log read by an import: how
    many, and some of them (line number, text, reason)."""

    count: int = 0
    samples: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, line_number: int, text: str, reason: str) -> None:
        self.count += 1
        if len(self.samples) < SAMPLES_KEPT:
            self.samples.append((line_number, text, reason))


def check_format(
    name: str,
    lines_read: int,
    malformed: MalformedAtFirst,
    log_format: LogFormat,
    default_zone: tzinfo,
) -> None:
    """Raise WrongFormat when more than half of the first lines of the log `name` read by this
    import (`lines_read` so far) are malformed."""
    lines = min(lines_read, FIRST_LINES)
    if malformed.count * 2 <= lines:
        return
    line_number, text, reason = malformed.samples[0]
    shown = _printable(text[:SAMPLE_SHOWN_CHARACTERS])
    if len(text) > SAMPLE_SHOWN_CHARACTERS:
        shown += "…"
    fitting = formats_reading([sample for _, sample, _ in malformed.samples], default_zone)
    fitting = [names for names in fitting if log_format.description not in names]
    if fitting:
        (apache, goaccess), *others = fitting
        also = "".join(f" (or --format {other})" for other, _ in others)
        advice = f"they read as --format {apache}{also}, GoAccess's --log-format {goaccess}"
    else:
        advice = (
            "no predefined format reads them: give the log's own format as an Apache LogFormat "
            "string (--format '...') or a GoAccess --log-format with --date-format and "
            "--time-format"
        )
    raise WrongFormat(
        f"{name}: {malformed.count:,} of its first {lines:,} lines do not fit the log "
        f"format {log_format.description!r}, so nothing of it was imported and no position "
        f"recorded.\n  line {line_number}: {shown} ({reason})\n  {advice}",
        field="format",
    )


def formats_reading(lines: list[str], default_zone: tzinfo) -> list[tuple[str, str]]:
    """The predefined formats (--format name, GoAccess name) that read most of `lines`."""
    fitting = []
    for apache, goaccess in PREDEFINED:
        read = LineReader(apache_format(apache), default_zone).read_fields
        if sum(isinstance(read(line), tuple) for line in lines) * 2 > len(lines):
            fitting.append((apache, goaccess))
    return fitting


def _printable(text: str) -> str:
    """A line as it may be shown on a terminal: control characters (a log may hold any bytes,
    escape sequences too) written as escapes."""
    return "".join(
        character if character.isprintable() else repr(character)[1:-1] for character in text
    )
