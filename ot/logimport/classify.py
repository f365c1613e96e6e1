"""Which lines are static files, crawlers and 404s, decided as GoAccess decides them (crawlers
excepted: those are our own bot detection, so a bot is a bot whichever way its hit arrives), and
what a line's User-Agent says of its client."""

from __future__ import annotations

from functools import lru_cache

from ot.ingest.useragent import ClientInfo, parse_user_agent

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
MISSING_USER_AGENT = "-"  # how a log says there is none (ot.logimport.records gives "" so too)
UNKNOWN_CLIENT = ClientInfo(
    browser="", browser_version="", os="", os_version="", device="", is_bot=False
)


def is_static(request: str) -> bool:
    """Whether a decoded request (path and query) ends in a static extension, in any case. With
    a query string it does not ("/app.js?v=2" is not static), as in GoAccess by default."""
    return len(request) >= _SHORTEST_STATIC_REQUEST and request.lower().endswith(STATIC_EXTENSIONS)


@lru_cache(maxsize=16_384)
def is_crawler(user_agent: str) -> bool:
    """Whether a line's client is a crawler. A line without a User-Agent is not: its client is
    unknown. The collector drops hits without one as bots, since every browser running the
    tracker sends one; but a log in Apache's `common` format records no User-Agent at all, and
    in any log "-" only says the client sent none. GoAccess counts such lines; so do we."""
    return user_agent != MISSING_USER_AGENT and parse_user_agent(user_agent).is_bot


def client_of(user_agent: str) -> ClientInfo:
    """What a line's User-Agent says of its browser, OS and device ("" where nothing is known)."""
    return UNKNOWN_CLIENT if user_agent == MISSING_USER_AGENT else parse_user_agent(user_agent)
