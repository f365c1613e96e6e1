"""Who sent a request. One function, `client_ip_of`, decides the client's address for every
route (the collector, the API's rate limits, log-in throttling), so that no route can be fooled
in a way another is not."""

from __future__ import annotations

from aiohttp import web

from ot.ips import client_ip
from ot.server.app_keys import TRUSTED_PROXIES


def header_text(request: web.Request, name: str) -> str:
    """Every header of that name, joined with "," in order (one list, RFC 9110 section 5.3),
    as text. aiohttp keeps bytes that are not UTF-8 as lone surrogates, which no encoder
    downstream accepts; such headers are in practice Latin-1, so they are read as that."""
    text = ",".join(request.headers.getall(name, ()))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("latin-1")
    return text


def client_ip_of(request: web.Request) -> str:
    """The client's address: the TCP peer, or what trusted proxies say in X-Forwarded-For.

    All X-Forwarded-For headers count, joined: a proxy may add its own header after the
    client's, and reading only the first one would let the client choose its address (and a new
    one for every request, past any limit kept per address)."""
    forwarded_for = header_text(request, "X-Forwarded-For") or None
    return client_ip(request.remote or "", forwarded_for, request.app[TRUSTED_PROXIES])
