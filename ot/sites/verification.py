"""Whether someone controls a domain: the domain publishes a token we gave them, as a DNS TXT
record or as a file on its web server. Nothing else counts: a hit naming the domain can be sent
by anyone, so hits prove nothing.

- DNS: a TXT record `opentracker-verification=<token>` at `_opentracker.<domain>` or at the
  domain itself, asked through dnspython of the nameservers in `verification.dns_nameservers`
  (the system's when empty), so tests point it at a DNS server they run on loopback.
- HTTP: `https://<domain>/.well-known/opentracker-<token>.txt` holding the token, fetched
  through a `Fetcher` the caller passes in. The default fetcher refuses every address that is
  not on the public internet (loopback, private, link-local...), so a customer cannot make us
  probe our own network.

A site's token is random and stored with it; a claim's token (`claim_token`) is derived from
the claiming team and the domain, so it needs no storage and is worthless to anyone else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import dns.asyncresolver
import dns.exception
import dns.rdatatype

from ot.config import VerificationSettings
from ot.security.crypto import Cipher

# Fetches a URL's body as text, or None when it cannot (unreachable, refused, not 200, too big).
Fetcher = Callable[[str], Awaitable[str | None]]
# The TXT strings published at a name; empty when there are none or the name cannot be asked.
TxtLookup = Callable[[str], Awaitable[list[str]]]

FETCH_TIMEOUT_SECONDS = 5.0
DNS_TIMEOUT_SECONDS = 5.0
MAX_FILE_BYTES = 4096
DNS_LABEL = "_opentracker"
TXT_PREFIX = "opentracker-verification="


class VerificationMethod(StrEnum):
    HTML_FILE = "html_file"  # the token in a file at a well-known path of the domain
    DNS_TXT = "dns_txt"  # the token in a TXT record of the domain


@dataclass(frozen=True)
class Proof:
    """Where a token must be published to prove control of a domain: either place will do."""

    token: str
    file_url: str
    dns_name: str
    dns_value: str

    @classmethod
    def of(cls, domain: str, token: str) -> Proof:
        return cls(
            token=token,
            file_url=f"https://{domain}/.well-known/opentracker-{token}.txt",
            dns_name=f"{DNS_LABEL}.{domain}",
            dns_value=f"{TXT_PREFIX}{token}",
        )

    def instructions(self) -> str:
        return (
            f"publish a TXT record {self.dns_value} at {self.dns_name} (or at the domain "
            f"itself), or serve the token as plain text at {self.file_url}"
        )


def claim_token(cipher: Cipher, team_id: int, domain: str) -> str:
    """The token a team publishes to claim a domain: a keyed hash of both, the same every time
    they ask, and of no use to another team (theirs differs)."""
    return cipher.blind_index(f"site-claim|{team_id}|{domain}")[:32]


async def prove_control(
    domain: str, token: str, *, fetcher: Fetcher, lookup_txt: TxtLookup
) -> VerificationMethod | None:
    """How the domain shows the token now, or None when it does not (DNS first: it is quick)."""
    proof = Proof.of(domain, token)
    # Both names at once: a slow nameserver costs one timeout, not two. Plain comparisons: a
    # published token is no secret, and a record may hold any text.
    published = await asyncio.gather(lookup_txt(proof.dns_name), lookup_txt(domain))
    if any(value.strip() == proof.dns_value for values in published for value in values):
        return VerificationMethod.DNS_TXT
    body = await fetcher(proof.file_url)
    if body is not None and body.strip() == token:
        return VerificationMethod.HTML_FILE
    return None


def txt_lookup(settings: VerificationSettings) -> TxtLookup:
    """The default `TxtLookup`: dnspython, asking the configured nameservers (else the
    system's). Any DNS failure (no such name, no answer, timeout) reads as no record."""

    async def lookup(name: str) -> list[str]:
        try:
            resolver = dns.asyncresolver.Resolver(configure=not settings.dns_nameservers)
            if settings.dns_nameservers:
                resolver.nameservers = list(settings.dns_nameservers)
            resolver.port = settings.dns_port
            resolver.lifetime = DNS_TIMEOUT_SECONDS
            answer = await resolver.resolve(name, dns.rdatatype.TXT, search=False)
        except (dns.exception.DNSException, ValueError):
            return []
        return [
            b"".join(record.strings).decode("utf-8", errors="replace")
            for record in answer
            if hasattr(record, "strings")
        ]

    return lookup


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
