"""Specification of client-address handling: trusted proxies, truncation, network membership."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ot.errors import InvalidInput
from ot.ips import client_ip, ip_in_networks, parse_networks, truncate_ip

LOCAL_PROXIES = parse_networks(["127.0.0.1", "::1", "10.0.0.0/8"], field="trusted_proxies")

# --- parse_networks -----------------------------------------------------------------------


def test_networks_and_single_addresses_are_read() -> None:
    assert parse_networks(["10.0.0.0/8", "192.0.2.7", "::1", " 2001:db8::/32 "], field="f") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7/32"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("2001:db8::/32"),
    )


def test_host_bits_in_a_network_are_masked() -> None:
    assert parse_networks(["10.1.2.3/8"], field="f") == (ipaddress.ip_network("10.0.0.0/8"),)


def test_no_networks_is_an_empty_tuple() -> None:
    assert parse_networks([], field="f") == ()


@pytest.mark.parametrize("bad", ["", "localhost", "10.0.0.0/33", "300.1.1.1", "10.0.0.0/8/8"])
def test_a_bad_entry_is_refused_naming_it_and_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_networks(["127.0.0.1", bad], field="trusted_proxies")
    assert caught.value.field == "trusted_proxies"
    assert repr(bad) in caught.value.message


# --- client_ip ----------------------------------------------------------------------------


def test_without_forwarded_for_the_peer_is_the_client() -> None:
    assert client_ip("203.0.113.7", None, LOCAL_PROXIES) == "203.0.113.7"
    assert client_ip("203.0.113.7", "", LOCAL_PROXIES) == "203.0.113.7"


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    # Anyone can send the header: believing it would let a visitor choose their own address.
    assert client_ip("203.0.113.7", "198.51.100.1", LOCAL_PROXIES) == "203.0.113.7"


def test_no_trusted_proxies_means_the_header_is_never_believed() -> None:
    assert client_ip("127.0.0.1", "198.51.100.1", ()) == "127.0.0.1"


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client() -> None:
    assert client_ip("127.0.0.1", "198.51.100.1", LOCAL_PROXIES) == "198.51.100.1"


def test_the_walk_goes_right_to_left_past_trusted_proxies() -> None:
    header = "192.0.2.99, 198.51.100.1, 10.0.0.5, 10.0.0.6"
    assert client_ip("127.0.0.1", header, LOCAL_PROXIES) == "198.51.100.1"


def test_a_spoofed_leftmost_entry_is_not_believed() -> None:
    # The visitor wrote "1.2.3.4" themselves; our proxy appended the address it saw.
    assert client_ip("127.0.0.1", "1.2.3.4, 198.51.100.1", LOCAL_PROXIES) == "198.51.100.1"


def test_when_every_hop_is_trusted_the_leftmost_is_the_client() -> None:
    assert client_ip("127.0.0.1", "10.0.0.1, 10.0.0.2", LOCAL_PROXIES) == "10.0.0.1"


def test_a_malformed_entry_stops_the_walk_at_the_last_good_address() -> None:
    assert client_ip("127.0.0.1", "198.51.100.1, unknown, 10.0.0.5", LOCAL_PROXIES) == "10.0.0.5"
    assert client_ip("127.0.0.1", "garbage", LOCAL_PROXIES) == "127.0.0.1"
    assert client_ip("127.0.0.1", "198.51.100.1,,", LOCAL_PROXIES) == "127.0.0.1"


def test_ports_that_some_proxies_append_are_ignored() -> None:
    assert client_ip("127.0.0.1", "198.51.100.1:51234", LOCAL_PROXIES) == "198.51.100.1"
    assert client_ip("127.0.0.1", "[2001:db8::1]:443", LOCAL_PROXIES) == "2001:db8::1"


def test_ipv6_clients_and_proxies() -> None:
    assert client_ip("::1", "2001:db8::1", LOCAL_PROXIES) == "2001:db8::1"
    assert client_ip("2001:db8::5", None, LOCAL_PROXIES) == "2001:db8::5"


def test_ipv4_mapped_peer_is_reported_and_trusted_as_ipv4() -> None:
    assert client_ip("::ffff:203.0.113.7", None, LOCAL_PROXIES) == "203.0.113.7"
    assert client_ip("::ffff:127.0.0.1", "198.51.100.1", LOCAL_PROXIES) == "198.51.100.1"


def test_addresses_come_out_in_canonical_form() -> None:
    assert client_ip("2001:DB8:0:0::1", None, ()) == "2001:db8::1"


def test_an_unreadable_peer_gives_no_address() -> None:
    assert client_ip("", "198.51.100.1", LOCAL_PROXIES) == ""
    assert client_ip("not-an-ip", None, LOCAL_PROXIES) == ""


@given(
    peer=st.one_of(st.text(max_size=40), st.ip_addresses().map(str)),
    forwarded_for=st.one_of(
        st.none(),
        st.text(max_size=200),
        st.lists(st.one_of(st.ip_addresses().map(str), st.text(max_size=20)), max_size=6).map(
            ", ".join
        ),
    ),
)
def test_client_ip_never_raises(peer: str, forwarded_for: str | None) -> None:
    result = client_ip(peer, forwarded_for, LOCAL_PROXIES)
    assert result == "" or ipaddress.ip_address(result)


# --- truncate_ip --------------------------------------------------------------------------


def test_ipv4_is_truncated_to_its_slash_24() -> None:
    assert truncate_ip("203.0.113.77") == "203.0.113.0"


def test_ipv6_is_truncated_to_its_slash_48() -> None:
    assert truncate_ip("2001:db8:1:2:3:4:5:6") == "2001:db8:1::"


def test_ipv4_mapped_ipv6_is_truncated_as_ipv4() -> None:
    assert truncate_ip("::ffff:203.0.113.77") == "203.0.113.0"


def test_truncating_twice_changes_nothing() -> None:
    assert truncate_ip(truncate_ip("198.51.100.200")) == "198.51.100.0"


def test_truncating_garbage_gives_no_address() -> None:
    assert truncate_ip("") == ""
    assert truncate_ip("garbage") == ""


# --- ip_in_networks -----------------------------------------------------------------------


def test_membership_of_ipv4_and_ipv6_addresses() -> None:
    networks = parse_networks(["10.0.0.0/8", "2001:db8::/32"], field="f")
    assert ip_in_networks("10.20.30.40", networks)
    assert ip_in_networks("2001:db8:ffff::1", networks)
    assert not ip_in_networks("11.0.0.1", networks)
    assert not ip_in_networks("2001:db9::1", networks)


def test_ipv4_mapped_address_is_a_member_of_ipv4_networks() -> None:
    assert ip_in_networks("::ffff:10.1.1.1", parse_networks(["10.0.0.0/8"], field="f"))


def test_garbage_is_in_no_network() -> None:
    assert not ip_in_networks("garbage", LOCAL_PROXIES)
    assert not ip_in_networks("", LOCAL_PROXIES)
