"""Client addresses: who sent a hit through trusted proxies, and how an address is shortened.

Everything here takes addresses as strings from the network and never raises on garbage, except
`parse_networks`, which reads configuration and says which entry is wrong.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import TypeAlias

from ot.errors import InvalidInput

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

# The parts of an address that are kept: enough for a country, too little for a household.
IPV4_KEPT_PREFIX = 24
IPV6_KEPT_PREFIX = 48
_IPV4_KEPT_MASK = (2**32 - 1) ^ (2 ** (32 - IPV4_KEPT_PREFIX) - 1)
_IPV6_KEPT_MASK = (2**128 - 1) ^ (2 ** (128 - IPV6_KEPT_PREFIX) - 1)


def parse_networks(values: Iterable[str], *, field: str) -> tuple[Network, ...]:
    """Read networks ("10.0.0.0/8") and single addresses ("192.0.2.7", "::1") from settings.

    Host bits are tolerated and masked ("10.1.2.3/8" is 10.0.0.0/8), as proxies' own
    configuration files allow.
    """
    networks: list[Network] = []
    for value in values:
        text = value.strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InvalidInput(
                f"{value!r} is not an IP address or network (e.g. 10.0.0.0/8 or ::1)",
                field=field,
            ) from None
        mapped = network.network_address.ipv4_mapped if network.version == 6 else None
        if mapped is not None and network.prefixlen >= 96:
            # Addresses are compared unwrapped (see _parse_address), so networks must be too.
            network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
        networks.append(network)
    return tuple(networks)


def client_ip(peer: str, forwarded_for: str | None, trusted_proxies: Sequence[Network]) -> str:
    """The visitor's address, in canonical form; "" when the peer itself is not an address.

    X-Forwarded-For is believed only as far as trusted proxies vouch for it: when the TCP peer
    is not a trusted proxy, anyone could have written the header, so it is ignored. Otherwise
    the header is read from the right (the entry our proxy appended) leftwards, past further
    trusted proxies; the first untrusted address is the client. A malformed entry ends the walk
    at the last address that could be read, since nothing left of it can be trusted. Several
    X-Forwarded-For headers are passed joined with ",", as RFC 9110 allows.
    """
    address = _parse_address(peer)
    if address is None:
        return ""
    if forwarded_for and _in_networks(address, trusted_proxies):
        for entry in reversed(forwarded_for.split(",")):
            hop = _parse_address(_strip_port(entry.strip()))
            if hop is None:
                break
            address = hop
            if not _in_networks(hop, trusted_proxies):
                break
    return str(address)


def canonical_ip(value: str) -> str:
    """The address as stored (IPv4-mapped IPv6 unwrapped); ValueError when it is none."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


# Remembered: the collector and the log importer truncate every hit's address, addresses come
# back often, and building the network's text costs several times a look-up.
@functools.lru_cache(maxsize=65_536)
def truncate_ip(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network address of `ip`; "" when `ip` is not an address.

    An IPv4-mapped IPv6 address ("::ffff:203.0.113.7") is truncated as the IPv4 it carries.
    """
    address = _parse_address(ip)
    if address is None:
        return ""
    # Masking the integer is several times cheaper than building an ip_network.
    if address.version == 4:
        return str(ipaddress.IPv4Address(int(address) & _IPV4_KEPT_MASK))
    return str(ipaddress.IPv6Address(int(address) & _IPV6_KEPT_MASK))


def ip_in_networks(ip: str, networks: Sequence[Network]) -> bool:
    """Whether `ip` lies in one of `networks`; False when it is not an address."""
    address = _parse_address(ip)
    return address is not None and _in_networks(address, networks)


# A hit's address is read four times (client, exclusions, truncation, geo) and busy visitors and
# proxies come back often: a small bounded cache keeps that to one parse.
@functools.lru_cache(maxsize=4096)
def _parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6:
        # Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; a zone id ("%eth0") names
        # the receiving interface, not the client.
        mapped = address.ipv4_mapped
        if mapped is not None:
            return mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(text.partition("%")[0])
    return address


def _strip_port(entry: str) -> str:
    """Drop a port some proxies append: "203.0.113.7:5678", "[2001:db8::1]:443", "[::1]"."""
    if entry.startswith("["):
        host, bracket, _rest = entry[1:].partition("]")
        return host if bracket else entry
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry


def _in_networks(address: Address, networks: Sequence[Network]) -> bool:
    # `in` is False (not an error) across IP versions, so mixed lists need no sorting out.
    return any(address in network for network in networks)
