"""Validate a page or referrer URL and reduce it to the parts a hit stores.

Choices, as in Plausible unless said otherwise:

- A page URL may have any scheme but `data:` (Plausible's only refusal) and `javascript:`:
  desktop and mobile clients send `app://localhost/screen`, Electron apps `file:///...`,
  extensions `chrome-extension://id/page.html`. Only http(s) URLs must name a host; another
  scheme's URL without one (`file:///index.html`, `app:/home`) has the hostname "", which the
  Stats API shows as "(none)" (Plausible stores "(none)"). The URL must still be absolute: a
  scheme-less "/path" is refused.
- Hostnames are lower-cased ASCII, with internationalised names in their punycode form
  ("xn--bcher-kva.example"): that is what browsers send in `location.href`, so the hot path
  converts nothing. A host sent in Unicode is converted with Python's IDNA 2003 codec. The port,
  credentials and a trailing dot are dropped. "www." is kept (it is part of the page's URL).
- Paths are stored percent-decoded ("/café", like Plausible, whose query API filters on decoded
  paths), so "/caf%C3%A9" and "/café" are one page. An escape that does not decode to UTF-8
  text, or decodes to a control character, leaves the path exactly as sent. A trailing slash is
  kept; an empty path is "/".
- The fragment is dropped, except in hash-routing mode, where it is appended to the path
  ("/app#/settings") without its own query part ("#/search?q=..."), which too often holds
  personal data.
- The query keeps only allow-listed parameters, in their original order, re-encoded with
  `urlencode`; UTM parameters are read from the whole query whatever the allow-list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv6Address
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from ot.errors import InvalidInput

MAX_URL_LENGTH = 2_048
# Schemes whose "URL" is content or code, not a place: never a page.
_REFUSED_PAGE_SCHEMES = frozenset({"data", "javascript"})
_WEB_SCHEMES = frozenset({"http", "https"})
# Plausible accepts app referrers ("android-app://com.google.android.gm/") besides the web.
_ALLOWED_REFERRER_SCHEMES = frozenset({"http", "https", "android-app"})
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# RFC 1123 labels, plus "_" which real hosts use despite the RFCs.
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"[0-9]{0,5}")
# Plausible's precedence for the tagged source: utm_source, then source, then ref.
_SOURCE_PARAMETERS = ("utm_source", "source", "ref")
_UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


@dataclass(frozen=True, slots=True)
class PageUrl:
    """The parts of a page URL that a hit stores."""

    hostname: str
    pathname: str
    query: str  # allow-listed parameters only, url-encoded, "" when none
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_content: str
    utm_term: str
    source_param: str  # utm_source, else source, else ref: the tagged source of the visit


def parse_page_url(
    url: str, *, allowed_query_params: frozenset[str], hash_routing: bool = False
) -> PageUrl:
    """Validate an absolute page URL; raises InvalidInput(field="url") naming the fault."""
    parts = _split(url, None, field="url", what="URL")
    if parts.scheme in _WEB_SCHEMES or parts.hostname_text or parts.port_text:
        hostname = _hostname(parts.hostname_text, parts.port_text, field="url", what="URL")
    else:
        hostname = ""  # file:///index.html, app:/home: no host, as such apps send them

    pathname = _decoded_path(parts.path)
    if not pathname.startswith("/"):
        pathname = "/" + pathname  # an opaque URL's path ("app:home"): pages start with "/"
    if hash_routing and parts.fragment:
        route = parts.fragment.partition("?")[0]
        if route:
            pathname += "#" + _decoded_path(route)

    parameters = parse_qsl(parts.query, keep_blank_values=True) if parts.query else []
    first: dict[str, str] = {}
    for name, value in parameters:
        # "%00" decodes to a NUL that PostgreSQL refuses in text: a stored value has none.
        first.setdefault(name, _CONTROL_CHARACTERS.sub("", value).strip())
    kept = [(name, value) for name, value in parameters if name in allowed_query_params]
    utm = [first.get(name, "") for name in _UTM_PARAMETERS]
    return PageUrl(
        hostname=hostname,
        pathname=pathname,
        query=urlencode(kept) if kept else "",
        utm_source=utm[0],
        utm_medium=utm[1],
        utm_campaign=utm[2],
        utm_content=utm[3],
        utm_term=utm[4],
        source_param=next((first[name] for name in _SOURCE_PARAMETERS if first.get(name)), ""),
    )


def parse_referrer_url(url: str) -> str:
    """Reduce a referrer to "scheme://host/path" (no query, no fragment); "" when empty.

    Raises InvalidInput(field="referrer") for anything that is not an http(s) or android-app
    URL; a caller that would rather keep the hit can catch it and store no referrer.
    """
    if not url.strip():
        return ""
    parts = _split(url.strip(), _ALLOWED_REFERRER_SCHEMES, field="referrer", what="referrer")
    hostname = _hostname(parts.hostname_text, parts.port_text, field="referrer", what="referrer")
    return f"{parts.scheme}://{hostname}{_decoded_path(parts.path)}"


@dataclass(frozen=True, slots=True)
class _Parts:
    scheme: str
    hostname_text: str
    port_text: str
    path: str
    query: str
    fragment: str


def _split(url: str, schemes: frozenset[str] | None, *, field: str, what: str) -> _Parts:
    """The URL's parts; `schemes` lists the schemes allowed, None all but the refused ones (and
    then only http(s) URLs must have a host)."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"{what} is longer than {MAX_URL_LENGTH:,} characters", field=field)
    if _CONTROL_CHARACTERS.search(url):
        raise InvalidInput(f"{what} contains control characters", field=field)
    try:
        parts = urlsplit(url)
    except ValueError as error:  # only a malformed host makes urlsplit fail: "[x", NFKC tricks
        raise InvalidInput(f"{what} has an invalid host: {error}", field=field) from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidInput(
            f"{what} must be absolute, starting with a scheme such as https://", field=field
        )
    if schemes is None and scheme in _REFUSED_PAGE_SCHEMES:
        raise InvalidInput(
            f"{what} scheme {scheme!r} is not allowed (data: and javascript: URLs are not pages)",
            field=field,
        )
    if schemes is not None and scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise InvalidInput(f"{what} scheme {scheme!r} is not allowed (only {allowed})", field=field)
    if not parts.netloc and (schemes is not None or scheme in _WEB_SCHEMES):
        raise InvalidInput(f"{what} has no host", field=field)
    # Credentials are never stored; the port is dropped but must be a port.
    host_and_port = parts.netloc.rpartition("@")[2]
    if host_and_port.startswith("["):
        host, _, after = host_and_port[1:].partition("]")
        host = "[" + host + "]"
        port = after[1:] if after.startswith(":") else after
    else:
        host, _, port = host_and_port.partition(":")
    return _Parts(scheme, host, port, parts.path, parts.query, parts.fragment)


def _hostname(host: str, port: str, *, field: str, what: str) -> str:
    if not _PORT.fullmatch(port) or (port and int(port) > 65_535):
        raise InvalidInput(f"{what} has an invalid port {port!r}", field=field)
    if host.startswith("["):
        try:
            return f"[{IPv6Address(host[1:-1])}]"
        except ValueError:
            raise InvalidInput(f"{what} has an invalid IPv6 host {host!r}", field=field) from None
    name = host.lower().removesuffix(".")
    if not name:
        raise InvalidInput(f"{what} has no host", field=field)
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidInput(f"{what} has an invalid host {host!r}", field=field) from None
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput(f"{what} has an invalid host {host!r}", field=field)
    if labels[-1].isdigit() and not _is_ipv4(name):
        # An all-numeric last label is an IPv4 address or nothing ("999.1.1.1", "10.0.0").
        raise InvalidInput(f"{what} has an invalid host {host!r}", field=field)
    return name


def _is_ipv4(name: str) -> bool:
    numbers = name.split(".")
    return len(numbers) == 4 and all(
        number.isdigit() and int(number) <= 255 and (number == "0" or number[0] != "0")
        for number in numbers
    )


def _decoded_path(path: str) -> str:
    if not path:
        return "/"
    if "%" not in path:
        return path
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return path
    return path if _CONTROL_CHARACTERS.search(decoded) else decoded
