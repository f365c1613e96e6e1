"""Whether a site's owner controls its domain: our tracker has been seen on it, or the domain
serves a file holding the site's verification token.

The file check fetches `https://DOMAIN/.well-known/opentracker-<token>.txt` through a `Fetcher`
that the caller passes in, so tests serve the file from a local server. The default fetcher
refuses every address that is not on the public internet (loopback, private, link-local...), so
a customer cannot make us probe our own network.

(A DNS TXT check would need a resolver library that is not a dependency; it is left out.)
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import socket
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from enum import StrEnum
from urllib.parse import urlsplit

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ot.clock import utcnow
from ot.models import Hit, Site
from ot.sites import new_verification_token

# Fetches a URL's body as text, or None when it cannot (unreachable, refused, not 200, too big).
Fetcher = Callable[[str], Awaitable[str | None]]

FETCH_TIMEOUT_SECONDS = 5.0
MAX_FILE_BYTES = 4096


class VerificationMethod(StrEnum):
    TRACKER_SEEN = "tracker_seen"
    HTML_FILE = "html_file"


def verification_file_url(site: Site) -> str:
    return f"https://{site.domain}/.well-known/opentracker-{site.verification_token}.txt"


async def ensure_token(session: AsyncSession, site: Site) -> str:
    """The site's verification token, made now for sites added before tokens existed."""
    if not site.verification_token:
        site.verification_token = new_verification_token()
        session.add(site)
        await session.flush()
    assert site.verification_token is not None
    return site.verification_token


async def tracker_seen(session: AsyncSession, site: Site) -> bool:
    """Whether a stored hit of the site came from a page on its domain (or its www. name)."""
    hostnames = [site.domain, f"www.{site.domain}"]
    found = await session.exec(
        select(Hit.id).where(Hit.site_id == site.id, col(Hit.hostname).in_(hostnames)).limit(1)
    )
    return found.first() is not None


async def file_holds_token(site: Site, fetcher: Fetcher) -> bool:
    if not site.verification_token:
        return False
    body = await fetcher(verification_file_url(site))
    return body is not None and hmac.compare_digest(
        body.strip().encode(), site.verification_token.encode()
    )


async def verify_site(
    session: AsyncSession, site: Site, fetcher: Fetcher
) -> VerificationMethod | None:
    """Mark the site verified if either check passes; returns the check that did, or None.
    A site verified before stays verified."""
    await ensure_token(session, site)
    method: VerificationMethod | None = None
    if await tracker_seen(session, site):
        method = VerificationMethod.TRACKER_SEEN
    elif await file_holds_token(site, fetcher):
        method = VerificationMethod.HTML_FILE
    if method is not None and site.verified_at is None:
        site.verified_at = utcnow()
        session.add(site)
        await session.flush()
    return method


def _is_public(host: str, port: int) -> bool:
    try:
        addresses = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return bool(addresses) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_global for info in addresses
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead anywhere, our own network included: the file must be where we
    asked for it."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _fetch_blocking(url: str, allow_private_addresses: bool) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not allow_private_addresses and not _is_public(parts.hostname, port):
        return None
    opener = urllib.request.build_opener(_NoRedirects)
    request = urllib.request.Request(url, headers={"User-Agent": "opentracker-verification"})
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            if response.status != 200:
                return None
            body: bytes = response.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    if len(body) > MAX_FILE_BYTES:
        return None
    return body.decode("utf-8", errors="replace")


async def fetch_text(url: str, *, allow_private_addresses: bool = False) -> str | None:
    """The default `Fetcher`: a GET without redirects, public addresses only (the name is
    resolved and checked first; a name that resolves differently a moment later is a gap we
    accept for a check that reads a short text file)."""
    return await asyncio.to_thread(_fetch_blocking, url, allow_private_addresses)
