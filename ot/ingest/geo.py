"""Locate a visitor's country (and, with a MaxMind City database, region and city) from an IP.

Country data always comes from the database bundled with `geoip2fast` (IPv4 and IPv6), so the
product locates countries with no download or licence key. An operator who has a GeoLite2 or
GeoIP2 City `.mmdb` file can add region and city: its answer wins where it has one, since its
country, region and city then agree with one another. Region and city are English names
("Bavaria", "Munich"), the form a dashboard can show without another lookup table.
"""

from __future__ import annotations

import functools
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geoip2fast
import maxminddb

from ot.errors import InvalidInput

# The "-ipv6" file holds the IPv4 networks too. Naming the file by its full path matters:
# given a bare name, geoip2fast looks in the current directory first.
_COUNTRY_DATA = Path(geoip2fast.__file__).with_name("geoip2fast-ipv6.dat.gz")
_IPV4_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


@functools.cache
def _country_database() -> geoip2fast.GeoIP2Fast:
    """Loaded once per process: geoip2fast keeps its tables in module globals anyway."""
    return geoip2fast.GeoIP2Fast(geoip2fast_data_file=str(_COUNTRY_DATA))


@dataclass(frozen=True, slots=True)
class Location:
    """Where an address is: ISO 3166-1 alpha-2 country and English names, "" when unknown."""

    country: str
    region: str
    city: str


UNKNOWN = Location("", "", "")

# A visitor sends many hits from one address, and a look-up costs ~10 µs against ~0.2 for one
# remembered: each locator remembers this many addresses' answers (a few MB).
REMEMBERED_ADDRESSES = 65_536


class GeoLocator:
    """Answers `locate(ip)` from data loaded once per process (0.1-0.5 s, ~50 MB), shared by
    every GeoLocator, and an optional City database opened per locator."""

    def __init__(self, mmdb_path: Path | None = None) -> None:
        self._countries = _country_database()
        self._cities: maxminddb.Reader | None = None
        if mmdb_path is not None:
            try:
                self._cities = maxminddb.open_database(str(mmdb_path))
            except (OSError, ValueError, RuntimeError) as error:
                # maxminddb.InvalidDatabaseError is a RuntimeError: a damaged or foreign file.
                raise InvalidInput(
                    f"cannot open the GeoIP City database {mmdb_path}: {error}",
                    field="mmdb_path",
                ) from error
        self._remembered = functools.lru_cache(maxsize=REMEMBERED_ADDRESSES)(self._look_up)

    def locate(self, ip: str) -> Location:
        """Locate one address; never raises: an invalid, private or unknown one is UNKNOWN."""
        return self._remembered(ip)

    def _look_up(self, ip: str) -> Location:
        address = _canonical_address(ip)
        if address is None:
            return UNKNOWN
        if self._cities is not None:
            # A City database has no records for private ranges, so asking it first is safe,
            # and saves the country lookup whenever it knows the address.
            city_location = self._locate_city(address)
            if city_location is not None:
                return city_location
        try:
            found = self._countries.lookup(address)
        except Exception:  # a lookup must never fail a hit
            return UNKNOWN
        if found.is_private or not _is_country_code(found.country_code):
            return UNKNOWN
        return Location(found.country_code, "", "")

    def close(self) -> None:
        """Release the City database file; locate() still answers countries afterwards."""
        if self._cities is not None:
            self._cities.close()
            self._cities = None
            self._remembered.cache_clear()  # answers with a region and city

    def _locate_city(self, address: str) -> Location | None:
        assert self._cities is not None
        try:
            record = self._cities.get(address)
        except (ValueError, RuntimeError):
            # An IPv6 address in an IPv4-only database, or a damaged record.
            return None
        if not isinstance(record, dict):
            return None
        country = _get(record, "country", "iso_code")
        if not isinstance(country, str) or not _is_country_code(country):
            return None
        subdivisions = record.get("subdivisions")
        region = (
            _english_name(subdivisions[0])
            if isinstance(subdivisions, list) and subdivisions
            else ""
        )
        return Location(country, region, _english_name(record.get("city")))


def _canonical_address(ip: str) -> str | None:
    """The address in the form the databases expect, or None when it is not an address.

    `inet_pton` is strict where geoip2fast's `inet_aton` accepts "127.1" and "8.8.2056", and
    costs a fraction of `ipaddress.ip_address`.
    """
    try:
        if ":" not in ip:
            socket.inet_pton(socket.AF_INET, ip)
            return ip
        packed = socket.inet_pton(socket.AF_INET6, ip)
    except (OSError, ValueError, TypeError):
        return None
    if packed.startswith(_IPV4_MAPPED_PREFIX):
        # Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d.
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return ip


def _is_country_code(value: str) -> bool:
    return len(value) == 2 and value.isascii() and value.isalpha() and value.isupper()


def _get(record: dict[str, Any], *keys: str) -> object:
    value: object = record
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _english_name(place: object) -> str:
    if not isinstance(place, dict):
        return ""
    name = _get(place, "names", "en")
    return name if isinstance(name, str) else ""
