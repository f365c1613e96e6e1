"""Specification of `ot.ingest.pixel.parse_pixel`: our no-JavaScript image beacon."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ot.errors import InvalidInput
from ot.ingest.hit import PAGEVIEW, IncomingHit, PayloadLimits, Revenue
from ot.ingest.pixel import parse_pixel

LIMITS = PayloadLimits()
# No example database: it would write a .hypothesis folder into the work tree.
PROPERTY = settings(database=None, deadline=None, max_examples=300)


def parse(params: dict[str, str], **kwargs: object) -> IncomingHit:
    options: dict[str, object] = {"user_agent": "Mail/1.0", "ip": "198.51.100.7", "limits": LIMITS}
    options.update(kwargs)
    return parse_pixel(params, **options)  # type: ignore[arg-type]


def refused(params: dict[str, str]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(params)
    return caught.value


def test_a_domain_alone_is_a_pageview_of_its_home_page():
    assert parse({"d": "example.com"}) == IncomingHit(
        name=PAGEVIEW,
        url="https://example.com/",
        user_agent="Mail/1.0",
        ip="198.51.100.7",
        domains=("example.com",),
    )


def test_the_home_page_is_that_of_the_first_domain():
    hit = parse({"d": "Shop.Example, example.com"})
    assert hit.url == "https://shop.example/"
    assert hit.domains == ("shop.example", "example.com")


def test_every_parameter_of_a_full_pixel_is_kept():
    hit = parse(
        {
            "d": "example.com",
            "u": "https://example.com/newsletter/42",
            "r": "https://mail.example/",
            "n": "pageview",
            "eid": "open-42-a",
            "vid": "abc_DEF-1",
        }
    )
    assert hit.url == "https://example.com/newsletter/42"
    assert hit.referrer == "https://mail.example/"
    assert hit.name == PAGEVIEW
    assert (hit.event_id, hit.client_visitor_id) == ("open-42-a", "abc_DEF-1")


def test_an_email_open_is_a_custom_event():
    hit = parse({"d": "example.com", "n": "Email Open", "u": "https://example.com/mail/7"})
    assert hit.name == "Email Open"


def test_long_parameter_names_work_as_in_the_plausible_body():
    hit = parse({"domain": "example.com", "name": "Signup", "url": "https://example.com/x"})
    assert (hit.name, hit.url) == ("Signup", "https://example.com/x")


def test_props_and_revenue_come_as_json_strings():
    hit = parse(
        {
            "d": "example.com",
            "n": "Purchase",
            "p": json.dumps({"campaign": "spring", "issue": 7}),
            "revenue": json.dumps({"currency": "EUR", "amount": "9.99"}),
        }
    )
    assert hit.props == {"campaign": "spring", "issue": "7"}
    assert hit.revenue == Revenue(amount=Decimal("9.99"), currency="EUR")


def test_empty_props_are_no_props():
    assert parse({"d": "example.com", "p": ""}).props == {}


@pytest.mark.parametrize(
    ("text", "expected"), [("0", False), ("false", False), ("1", True), ("", True)]
)
def test_interactive_is_read_from_text(text: str, expected: bool):
    assert parse({"d": "example.com", "i": text}).interactive is expected


@pytest.mark.parametrize(("text", "expected"), [("1", True), ("true", True), ("0", False)])
def test_hash_mode_is_read_from_text(text: str, expected: bool):
    assert parse({"d": "example.com", "h": text}).hash_routing is expected


def test_do_not_track_comes_from_the_caller():
    assert parse({"d": "example.com"}, do_not_track=True).do_not_track is True


@pytest.mark.parametrize("params", [{}, {"u": "https://example.com/"}, {"d": " , "}])
def test_a_missing_or_blank_domain_is_refused(params: dict[str, str]):
    error = refused(params)
    assert error.field == "domain"
    assert "domain" in error.message


def test_a_blank_name_is_refused_rather_than_counted_as_a_pageview():
    assert refused({"d": "example.com", "n": " "}).field == "name"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"d": "example.com", "n": "x" * 121}, "name"),
        ({"d": "example.com", "u": "https://example.com/" + "a" * 2048}, "url"),
        ({"d": "example.com", "p": "{broken"}, "props"),
        ({"d": "example.com", "p": "[1, 2]"}, "props"),
        ({"d": "example.com", "revenue": "12"}, "revenue"),
        ({"d": "example.com", "i": "perhaps"}, "interactive"),
        ({"d": "example.com", "h": "2"}, "hashMode"),
        ({"d": "example.com", "eid": "not safe!"}, "eid"),
        ({"d": "example.com", "vid": "v" * 65}, "vid"),
        ({"d": "example.com", "u": "https://example.com/\x00"}, "url"),
    ],
)
def test_bad_parameters_are_refused_by_name(params: dict[str, str], field: str):
    error = refused(params)
    assert error.field == field
    assert field in error.message


pixel_params = st.dictionaries(
    st.sampled_from(["d", "u", "r", "n", "p", "m", "h", "i", "eid", "vid", "revenue", "x"]),
    st.text(max_size=40) | st.sampled_from(["example.com", "1", "0", "{}", '{"a": 1}']),
    max_size=8,
)


@PROPERTY
@given(pixel_params)
def test_any_parameters_parse_to_a_hit_or_raise_invalid_input(params: dict[str, str]):
    try:
        hit = parse(params)
    except InvalidInput as error:
        assert error.field
        return
    assert hit.domains
    assert hit.url
