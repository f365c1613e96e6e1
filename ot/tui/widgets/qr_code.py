"""A QR code drawn with half-block characters, two modules per character cell, so that an
authenticator app can scan it off the terminal."""

from __future__ import annotations

import segno
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

# Black modules on white with a quiet zone, whatever the theme: phones read dark-on-light codes
# and need the light margin to find the code's edges. Two modules is the least most phones take
# and keeps a typical otpauth code inside 24 terminal rows.
QUIET_ZONE = 2
CODE_STYLE = Style(color="#000000", bgcolor="#ffffff")  # not ANSI white: themes make it grey
# Upper module dark, lower module dark → the character drawing them in the foreground colour.
HALF_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def qr_text(content: str, *, quiet_zone: int = QUIET_ZONE) -> Text:
    """`content` as a QR code, one text line per two rows of modules."""
    rows = [
        [bool(module) for module in row]
        for row in segno.make(content).matrix_iter(border=quiet_zone)
    ]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))  # the last row's lower half: more quiet zone
    lines = [
        "".join(HALF_BLOCKS[upper, lower] for upper, lower in zip(top, bottom, strict=True))
        for top, bottom in zip(rows[::2], rows[1::2], strict=True)
    ]
    return Text("\n".join(lines), style=CODE_STYLE, no_wrap=True, overflow="crop")


class QrCode(Static):
    """`content` as a scannable QR code, exactly as wide and tall as the code."""

    DEFAULT_CSS = """
    QrCode {
        width: auto;
        height: auto;
    }
    """

    def __init__(self, content: str, *, id: str | None = None) -> None:
        super().__init__(qr_text(content), id=id)
        self.encoded = content  # what the code says (not `content`: Static renders that)
