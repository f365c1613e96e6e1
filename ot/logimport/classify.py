"""Which lines are static files, crawlers and 404s, decided as GoAccess decides them (crawlers
excepted: those are our own bot detection, so a bot is a bot whichever way its hit arrives)."""

from __future__ import annotations

from functools import lru_cache

from ot.ingest.useragent import parse_user_agent

# GoAccess's static-file extensions as Debian ships them (/etc/goaccess/goaccess.conf).
STATIC_EXTENSIONS = (
    ".css", ".js", ".jpg", ".png", ".gif", ".ico", ".jpeg", ".pdf", ".csv", ".mpeg", ".mpg",
    ".swf", ".woff", ".woff2", ".xls", ".xlsx", ".doc", ".docx", ".ppt", ".pptx", ".txt",
    ".zip", ".ogg", ".mp3", ".mp4", ".exe", ".iso", ".gz", ".rar", ".svg", ".bmp", ".tar",
    ".tgz", ".tiff", ".tif", ".ttf", ".flv", ".dmg", ".xz", ".zst",
)  # fmt: skip
# GoAccess never calls a request shorter than its shortest extension static.
_SHORTEST_STATIC_REQUEST = min(len(extension) for extension in STATIC_EXTENSIONS)
NOT_FOUND = 404


def is_static(request: str) -> bool:
    """Whether a decoded request (path and query) ends in a static extension, in any case. With
    a query string it does not ("/app.js?v=2" is not static), as in GoAccess by default."""
    return len(request) >= _SHORTEST_STATIC_REQUEST and request.lower().endswith(STATIC_EXTENSIONS)


@lru_cache(maxsize=16_384)
def is_crawler(user_agent: str) -> bool:
    return parse_user_agent(user_agent).is_bot
