"""Specification of IP geolocation: bundled country data, region and city from an mmdb."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ot.errors import InvalidInput
from ot.ingest.geo import UNKNOWN, GeoLocator, Location

# --- a tiny MaxMind DB writer -------------------------------------------------------------
# No MMDB writer is among the project's dependencies, and the format is small: a binary
# search tree over address bits, a data section, and a metadata map. This one writes an
# IPv6 tree (IPv4 networks live under ::/96, where readers look for them) with 24-bit records.


class _Uint:
    """An unsigned integer of a given MaxMind type (metadata fields must have exact types)."""

    def __init__(self, type_id: int, value: int) -> None:
        self.type_id = type_id
        self.value = value


def _control(type_id: int, size: int) -> bytes:
    first = (type_id << 5) if type_id <= 7 else 0
    extended = b"" if type_id <= 7 else bytes([type_id - 7])
    if size < 29:
        return bytes([first | size]) + extended
    if size < 29 + 256:
        return bytes([first | 29]) + extended + bytes([size - 29])
    return bytes([first | 30]) + extended + (size - 285).to_bytes(2, "big")


def _encode(value: object) -> bytes:
    if isinstance(value, str):
        raw = value.encode()
        return _control(2, len(raw)) + raw
    if isinstance(value, _Uint):
        raw = value.value.to_bytes((value.value.bit_length() + 7) // 8, "big")
        return _control(value.type_id, len(raw)) + raw
    if isinstance(value, int):
        return _encode(_Uint(6, value))  # uint32
    if isinstance(value, dict):
        return _control(7, len(value)) + b"".join(_encode(k) + _encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _control(11, len(value)) + b"".join(_encode(item) for item in value)
    raise TypeError(value)


def write_mmdb(path: Path, records: dict[str, dict[str, object]], ip_version: int = 6) -> None:
    """Write `records` (network -> record) as a MaxMind DB that `maxminddb` can read."""
    bits_total = 128 if ip_version == 6 else 32
    nodes: list[list[tuple[str, int] | None]] = [[None, None]]
    data = b""
    for network_text, record in records.items():
        network = ipaddress.ip_network(network_text)
        offset = len(data)
        data += _encode(record)
        if network.version == 4 and ip_version == 6:
            value, prefix = int(network.network_address), 96 + network.prefixlen
        else:
            value, prefix = int(network.network_address), network.prefixlen
        node = 0
        for depth in range(prefix):
            bit = (value >> (bits_total - 1 - depth)) & 1
            if depth == prefix - 1:
                nodes[node][bit] = ("data", offset)
                break
            child = nodes[node][bit]
            if child is None:
                nodes.append([None, None])
                nodes[node][bit] = ("node", len(nodes) - 1)
                node = len(nodes) - 1
            else:
                assert child[0] == "node", "overlapping networks are not supported"
                node = child[1]
    node_count = len(nodes)

    def record_value(entry: tuple[str, int] | None) -> int:
        if entry is None:
            return node_count
        kind, number = entry
        return number if kind == "node" else node_count + 16 + number

    tree = b"".join(
        record_value(left).to_bytes(3, "big") + record_value(right).to_bytes(3, "big")
        for left, right in nodes
    )
    metadata = {
        "binary_format_major_version": _Uint(5, 2),
        "binary_format_minor_version": _Uint(5, 0),
        "build_epoch": _Uint(9, int(time.time())),
        "database_type": "GeoLite2-City",
        "description": {"en": "opentracker test data"},
        "ip_version": _Uint(5, ip_version),
        "languages": ["en"],
        "node_count": _Uint(6, node_count),
        "record_size": _Uint(5, 24),
    }
    path.write_bytes(tree + b"\x00" * 16 + data + b"\xab\xcd\xefMaxMind.com" + _encode(metadata))


def city_record(country: str, region: str, city: str) -> dict[str, object]:
    """A record shaped like GeoLite2-City's, with only the fields the locator reads."""
    return {
        "city": {"names": {"en": city, "de": city + " (de)"}},
        "country": {"iso_code": country, "names": {"en": country}},
        "subdivisions": [{"iso_code": "X", "names": {"en": region}}],
    }


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def locator() -> Iterator[GeoLocator]:
    """One country-only locator for the module: loading the bundled data takes a while."""
    geo = GeoLocator()
    yield geo
    geo.close()


@pytest.fixture
def city_database(tmp_path: Path) -> Path:
    """A City database that knows a public IPv4 /24 and a public IPv6 /48."""
    path = tmp_path / "city.mmdb"
    write_mmdb(
        path,
        {
            "8.8.8.0/24": city_record("US", "California", "Mountain View"),
            "2a00:1450:4001::/48": city_record("DE", "Hesse", "Frankfurt am Main"),
            "81.2.69.0/24": {"country": {"iso_code": "GB"}},  # a record with no region or city
        },
    )
    return path


# --- countries from the bundled data ------------------------------------------------------


def test_public_ipv4_address_is_located_to_its_country(locator: GeoLocator) -> None:
    assert locator.locate("8.8.8.8") == Location("US", "", "")


def test_public_ipv6_address_is_located_to_its_country(locator: GeoLocator) -> None:
    assert locator.locate("2a00:1450:4001:80b::200e") == Location("DE", "", "")


def test_ipv4_mapped_ipv6_address_is_located_as_ipv4(locator: GeoLocator) -> None:
    assert locator.locate("::ffff:8.8.8.8") == Location("US", "", "")


def test_country_is_an_iso_3166_alpha_2_code(locator: GeoLocator) -> None:
    for ip in ("1.1.1.1", "83.149.9.216", "2001:4860:4860::8888", "193.0.6.139"):
        country = locator.locate(ip).country
        assert len(country) == 2 and country.isupper(), (ip, country)


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",  # private
        "192.168.0.1",
        "172.16.5.4",
        "127.0.0.1",  # loopback
        "::1",
        "fe80::1",  # link-local
        "fd00::1",  # unique local
        "100.64.0.1",  # carrier-grade NAT
        "192.0.2.1",  # documentation
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",  # multicast
    ],
)
def test_non_public_addresses_have_no_location(locator: GeoLocator, ip: str) -> None:
    assert locator.locate(ip) == UNKNOWN


@pytest.mark.parametrize(
    "ip",
    ["", "garbage", "8.8.8", "127.1", "8.8.2056", "1.2.3.4.5", "::ffff::1", "8.8.8.8 ", "\x00"],
)
def test_anything_that_is_not_an_address_has_no_location(locator: GeoLocator, ip: str) -> None:
    assert locator.locate(ip) == UNKNOWN


def test_a_lookup_takes_microseconds(locator: GeoLocator) -> None:
    ips = ["8.8.8.8", "2a00:1450:4001:80b::200e", "83.149.9.216", "10.0.0.1"] * 500
    # The thread's own CPU time: other processes on a busy machine do not count in it.
    started = time.thread_time()
    for ip in ips:
        locator.locate(ip)
    per_call = (time.thread_time() - started) / len(ips)
    assert per_call < 100e-6  # measured ~4 µs; the bound only catches an accidental slow path


# --- region and city from a MaxMind City database -----------------------------------------


def test_city_database_adds_region_and_city(city_database: Path) -> None:
    geo = GeoLocator(city_database)
    try:
        assert geo.locate("8.8.8.8") == Location("US", "California", "Mountain View")
        assert geo.locate("2a00:1450:4001:80b::200e") == Location(
            "DE", "Hesse", "Frankfurt am Main"
        )
        assert geo.locate("::ffff:8.8.8.8") == Location("US", "California", "Mountain View")
    finally:
        geo.close()


def test_city_database_record_without_region_or_city_still_gives_the_country(
    city_database: Path,
) -> None:
    geo = GeoLocator(city_database)
    try:
        assert geo.locate("81.2.69.160") == Location("GB", "", "")
    finally:
        geo.close()


def test_address_unknown_to_the_city_database_falls_back_to_the_bundled_country(
    city_database: Path,
) -> None:
    geo = GeoLocator(city_database)
    try:
        assert geo.locate("1.1.1.1").country != ""
        assert geo.locate("1.1.1.1").city == ""
        assert geo.locate("10.0.0.1") == UNKNOWN
    finally:
        geo.close()


def test_ipv6_lookup_in_an_ipv4_only_city_database_falls_back_to_the_country(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v4.mmdb"
    write_mmdb(path, {"8.8.8.0/24": city_record("US", "California", "Mountain View")}, 4)
    geo = GeoLocator(path)
    try:
        assert geo.locate("8.8.8.8") == Location("US", "California", "Mountain View")
        assert geo.locate("2a00:1450:4001:80b::200e") == Location("DE", "", "")
    finally:
        geo.close()


def test_after_close_countries_are_still_located(city_database: Path) -> None:
    geo = GeoLocator(city_database)
    geo.close()
    geo.close()  # closing twice is harmless
    assert geo.locate("8.8.8.8") == Location("US", "", "")


def test_after_close_an_address_located_before_is_located_by_country_alone(
    city_database: Path,
) -> None:
    geo = GeoLocator(city_database)
    assert geo.locate("8.8.8.8").city == "Mountain View"  # remembered...
    geo.close()
    assert geo.locate("8.8.8.8") == Location("US", "", "")  # ...and forgotten with the file


def test_missing_city_database_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "GeoLite2-City.mmdb"
    with pytest.raises(InvalidInput) as caught:
        GeoLocator(missing)
    assert str(missing) in caught.value.message
    assert caught.value.field == "mmdb_path"


def test_corrupt_city_database_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "GeoLite2-City.mmdb"
    corrupt.write_bytes(b"this is not a MaxMind database" * 100)
    with pytest.raises(InvalidInput) as caught:
        GeoLocator(corrupt)
    assert str(corrupt) in caught.value.message
    assert caught.value.field == "mmdb_path"


def test_a_directory_is_not_a_city_database(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        GeoLocator(tmp_path)
    assert str(tmp_path) in caught.value.message
