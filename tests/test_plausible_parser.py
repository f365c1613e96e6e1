"""Specification of `ot.ingest.plausible.parse_event`: the Plausible Events API body."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ot.errors import InvalidInput
from ot.ingest.hit import PAGEVIEW, IncomingHit, PayloadLimits, Revenue
from ot.ingest.plausible import ENGAGEMENT, parse_event

LIMITS = PayloadLimits()
MINIMAL = {"n": "pageview", "u": "https://example.com/page", "d": "example.com"}
# No example database: it would write a .hypothesis folder into the work tree.
PROPERTY = settings(database=None, deadline=None, max_examples=300)


def parse(payload: object, limits: PayloadLimits = LIMITS, **kwargs: object) -> IncomingHit:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    options: dict[str, object] = {"user_agent": "Mozilla/5.0", "ip": "203.0.113.9"}
    options.update(kwargs)
    return parse_event(body, limits=limits, **options)  # type: ignore[arg-type]


def refused(payload: object, limits: PayloadLimits = LIMITS) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(payload, limits)
    return caught.value


def with_fields(**fields: object) -> dict[str, object]:
    return {**MINIMAL, **fields}


# --- accepted shapes ---------------------------------------------------------------------------


def test_a_minimal_pageview_with_short_names_becomes_a_pageview_hit():
    hit = parse(MINIMAL)
    assert hit == IncomingHit(
        name=PAGEVIEW,
        url="https://example.com/page",
        user_agent="Mozilla/5.0",
        ip="203.0.113.9",
        domains=("example.com",),
    )


def test_long_field_names_are_accepted():
    hit = parse(
        {
            "name": "Signup",
            "url": "https://example.com/",
            "domain": "example.com",
            "referrer": "https://search.example/",
            "props": {"plan": "pro"},
            "interactive": False,
            "hashMode": 1,
        }
    )
    assert (hit.name, hit.url, hit.domains) == ("Signup", "https://example.com/", ("example.com",))
    assert hit.referrer == "https://search.example/"
    assert hit.props == {"plan": "pro"}
    assert hit.interactive is False
    assert hit.hash_routing is True


def test_a_short_name_wins_over_its_long_name():
    hit = parse(with_fields(name="Ignored", url="https://ignored.example/"))
    assert hit.name == PAGEVIEW
    assert hit.url == "https://example.com/page"


def test_a_null_short_name_falls_back_to_the_long_name():
    assert parse(with_fields(n=None, name="Signup")).name == "Signup"


def test_the_body_is_read_as_json_whatever_the_content_type_said():
    # The Plausible script posts text/plain; the parser only ever sees bytes.
    assert parse(b'{"n":"pageview","u":"https://example.com/","d":"example.com"}').name == PAGEVIEW


def test_a_utf8_byte_order_mark_is_tolerated():
    assert parse(b"\xef\xbb\xbf" + json.dumps(MINIMAL).encode()).name == PAGEVIEW


def test_a_custom_event_name_is_kept_as_sent():
    assert parse(with_fields(n="Outbound Link: Click")).name == "Outbound Link: Click"


def test_an_integer_event_name_becomes_text_as_plausible_allows_for_404_tracking():
    assert parse(with_fields(n=404)).name == "404"


def test_user_agent_ip_and_do_not_track_come_from_the_caller():
    hit = parse(MINIMAL, user_agent="curl/8", ip="2001:db8::1", do_not_track=True)
    assert (hit.user_agent, hit.ip, hit.do_not_track) == ("curl/8", "2001:db8::1", True)


def test_an_engagement_event_passes_through_for_the_caller_to_keep_or_drop():
    # Plausible's current script sends one when a page is left; it is no custom event.
    hit = parse(with_fields(n=ENGAGEMENT, sd=80, e=5400))
    assert (hit.name, hit.props) == ("engagement", {})


def test_unknown_fields_are_ignored():
    assert parse(with_fields(v=23, sd=40, e=1200, other={"x": [1]})).name == PAGEVIEW


def test_several_domains_are_trimmed_lower_cased_and_deduplicated_in_order():
    hit = parse(with_fields(d=" Example.com, blog.example.com ,example.COM,,"))
    assert hit.domains == ("example.com", "blog.example.com")


def test_a_null_referrer_is_no_referrer():
    assert parse(with_fields(r=None)).referrer is None


def test_a_blank_referrer_is_no_referrer():
    assert parse(with_fields(r="  ")).referrer is None


def test_an_over_long_referrer_is_cut_not_refused():
    hit = parse(with_fields(r="https://search.example/?q=" + "é" * 2000))
    assert hit.referrer is not None
    assert hit.referrer.startswith("https://search.example/?q=é")
    assert len(hit.referrer.encode()) <= LIMITS.max_url_length


def test_props_values_that_are_numbers_or_booleans_become_text_as_sent():
    body = b'{"n":"pageview","u":"https://e.com/","d":"e.com",' + (
        b'"p":{"count":3,"price":9.90,"member":true,"trial":false}}'
    )
    assert parse(body).props == {"count": "3", "price": "9.90", "member": "true", "trial": "false"}


def test_props_with_null_nested_or_blank_values_are_dropped_as_plausible_drops_them():
    hit = parse(
        with_fields(p={"kept": "yes", "none": None, "obj": {"a": 1}, "list": [1], "blank": " "})
    )
    assert hit.props == {"kept": "yes"}


def test_props_with_a_blank_key_are_dropped():
    assert parse(with_fields(p={" ": "value", "k": "v"})).props == {"k": "v"}


def test_props_may_be_a_json_string_of_an_object_as_older_scripts_send():
    assert parse(with_fields(p=json.dumps({"author": "Ann"}))).props == {"author": "Ann"}


@pytest.mark.parametrize("alias", ["m", "meta", "p", "props"])
def test_props_are_read_from_each_of_their_aliases(alias: str):
    assert parse(with_fields(**{alias: {"k": "v"}})).props == {"k": "v"}


def test_an_empty_props_array_is_no_props_as_php_clients_encode_it():
    assert parse(with_fields(props=[])).props == {}


def test_exactly_the_maximum_number_of_props_is_accepted():
    props = {f"k{i}": "v" for i in range(LIMITS.max_props)}
    assert len(parse(with_fields(p=props)).props) == LIMITS.max_props


def test_revenue_with_a_string_amount_is_exact():
    hit = parse(with_fields(n="Purchase", revenue={"currency": "EUR", "amount": "12.34"}))
    assert hit.revenue == Revenue(amount=Decimal("12.34"), currency="EUR")


def test_revenue_with_a_number_amount_is_exact_too():
    hit = parse(with_fields(revenue={"currency": "usd", "amount": 12.34}))
    assert hit.revenue == Revenue(amount=Decimal("12.34"), currency="USD")


def test_revenue_may_be_a_json_string_of_an_object():
    hit = parse(with_fields(revenue=json.dumps({"currency": "EUR", "amount": 20})))
    assert hit.revenue == Revenue(amount=Decimal(20), currency="EUR")


def test_a_null_revenue_is_no_revenue():
    assert parse(with_fields(revenue=None)).revenue is None


@pytest.mark.parametrize("value", [1, True, "1", "true"])
def test_hash_mode_is_on_for_one_or_true(value: object):
    assert parse(with_fields(h=value)).hash_routing is True


def test_hash_mode_is_off_by_default():
    assert parse(MINIMAL).hash_routing is False


def test_an_event_is_interactive_unless_it_says_otherwise():
    assert parse(MINIMAL).interactive is True
    assert parse(with_fields(i=False)).interactive is False
    assert parse(with_fields(i=None)).interactive is True


def test_our_visitor_id_and_event_id_extensions_are_kept():
    hit = parse(with_fields(vid="v_123-abc", eid="E-9"))
    assert (hit.client_visitor_id, hit.event_id) == ("v_123-abc", "E-9")


def test_ids_at_their_length_limits_are_accepted():
    hit = parse(
        with_fields(vid="v" * LIMITS.max_visitor_id_length, eid="e" * LIMITS.max_event_id_length)
    )
    assert hit.event_id is not None
    assert len(hit.event_id) == LIMITS.max_event_id_length


def test_the_url_is_not_judged_here_only_its_presence_type_and_size():
    # ot.ingest.urls decides what an acceptable page URL is.
    assert parse(with_fields(u="app://localhost/login")).url == "app://localhost/login"


def test_limits_come_from_the_caller():
    limits = PayloadLimits(max_event_name_length=5)
    assert parse(with_fields(n="Short"), limits).name == "Short"
    assert refused(with_fields(n="Longer"), limits).field == "name"


# --- refused shapes ----------------------------------------------------------------------------


def test_a_body_that_is_not_utf8_is_refused():
    error = refused(b'{"n":"\xff"}')
    assert error.field == "body"
    assert "UTF-8" in error.message


@pytest.mark.parametrize("body", [b"", b"defnotjson", b'{"n":', b"{'n': 'x'}"])
def test_a_body_that_is_not_json_is_refused(body: bytes):
    error = refused(body)
    assert error.field == "body"
    assert "JSON" in error.message


@pytest.mark.parametrize("body", [b"[]", b'"<script>"', b"42", b"null"])
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes):
    assert refused(body).field == "body"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_python_json_extensions_are_not_json(constant: str):
    body = json.dumps(MINIMAL)[:-1] + f', "p": {{"x": {constant}}}}}'
    assert refused(body.encode()).field == "body"


def test_a_body_over_the_size_limit_is_refused():
    error = refused(MINIMAL, PayloadLimits(max_body_bytes=20))
    assert error.field == "body"
    assert "20 bytes" in error.message


def test_deeply_nested_json_is_refused_not_crashing():
    assert refused(b"[" * 50_000 + b"]" * 50_000, PayloadLimits(max_body_bytes=10**6)).field == (
        "body"
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"u": "https://example.com/", "d": "example.com"}, "name"),
        ({"n": "pageview", "d": "example.com"}, "url"),
        ({"n": "pageview", "u": "https://example.com/"}, "domain"),
    ],
)
def test_a_missing_required_field_is_refused_by_name(fields: dict[str, object], field: str):
    error = refused(fields)
    assert error.field == field
    assert field in error.message
    assert "required" in error.message


@pytest.mark.parametrize("field", ["n", "u", "d"])
def test_a_blank_required_field_is_refused(field: str):
    error = refused(with_fields(**{field: "   "}))
    assert error.field == {"n": "name", "u": "url", "d": "domain"}[field]
    assert "blank" in error.message


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"n": ["list"]}, "name"),
        ({"n": True}, "name"),
        ({"n": 4.5}, "name"),
        ({"u": 42}, "url"),
        ({"d": ["example.com"]}, "domain"),
        ({"r": 7}, "referrer"),
        ({"p": 5}, "props"),
        ({"p": ["a", "b"]}, "props"),
        ({"p": "[1]"}, "props"),
        ({"p": "{not json"}, "props"),
        ({"revenue": 12}, "revenue"),
        ({"i": "maybe"}, "interactive"),
        ({"h": 2}, "hashMode"),
        ({"vid": 12345}, "vid"),
        ({"eid": ["x"]}, "eid"),
    ],
)
def test_a_wrongly_typed_field_is_refused_by_name(fields: dict[str, object], field: str):
    error = refused(with_fields(**fields))
    assert error.field == field
    assert field in error.message


def test_an_over_long_event_name_is_refused():
    error = refused(with_fields(n="x" * (LIMITS.max_event_name_length + 1)))
    assert error.field == "name"
    assert str(LIMITS.max_event_name_length) in error.message


def test_an_event_name_at_the_limit_is_accepted():
    assert parse(with_fields(n="é" * LIMITS.max_event_name_length)).name.startswith("é")


def test_an_over_long_url_is_refused():
    url = "https://example.com/" + "a" * LIMITS.max_url_length
    assert refused(with_fields(u=url)).field == "url"


def test_too_many_domains_are_refused():
    domains = ",".join(f"site{i}.example" for i in range(LIMITS.max_domains + 1))
    assert refused(with_fields(d=domains)).field == "domain"


def test_an_over_long_domain_is_refused():
    assert refused(with_fields(d="a" * 254 + ".example")).field == "domain"


def test_more_props_than_the_limit_are_refused_where_plausible_would_keep_30():
    props = {f"k{i}": "v" for i in range(LIMITS.max_props + 1)}
    error = refused(with_fields(p=props))
    assert error.field == "props"
    assert str(LIMITS.max_props) in error.message


def test_an_over_long_prop_key_is_refused():
    error = refused(with_fields(p={"k" * (LIMITS.max_prop_key_length + 1): "v"}))
    assert error.field == "props"
    assert "key" in error.message


def test_an_over_long_prop_value_is_refused_counting_bytes():
    # 1001 two-byte characters: under the limit in characters, over it in bytes.
    error = refused(with_fields(p={"k": "é" * (LIMITS.max_prop_value_length // 2 + 1)}))
    assert error.field == "props"
    assert "value" in error.message


@pytest.mark.parametrize(
    "revenue",
    [
        {"currency": "EU", "amount": "1"},
        {"currency": "EURO", "amount": "1"},
        {"currency": 978, "amount": "1"},
        {"amount": "1"},
        {"currency": "EUR"},
        {"currency": "EUR", "amount": "twelve"},
        {"currency": "EUR", "amount": "1_000"},
        {"currency": "EUR", "amount": "NaN"},
        {"currency": "EUR", "amount": "Infinity"},
        {"currency": "EUR", "amount": True},
        {"currency": "EUR", "amount": "1e15"},
        {"currency": "EUR", "amount": "1e99999999999999999999"},
        "not json",
        "[]",
    ],
)
def test_bad_revenue_is_refused_where_plausible_would_ignore_it(revenue: object):
    assert refused(with_fields(revenue=revenue)).field == "revenue"


@pytest.mark.parametrize(("field", "value"), [("vid", "has space"), ("eid", "é"), ("eid", "")])
def test_ids_with_characters_outside_the_safe_set_are_refused(field: str, value: str):
    assert refused(with_fields(**{field: value})).field == field


def test_over_long_ids_are_refused():
    assert refused(with_fields(vid="v" * (LIMITS.max_visitor_id_length + 1))).field == "vid"
    assert refused(with_fields(eid="e" * (LIMITS.max_event_id_length + 1))).field == "eid"


def test_text_no_database_can_store_is_refused():
    assert refused(with_fields(n="nul\x00byte")).field == "name"
    assert refused(b'{"n":"\\ud800","u":"https://e.com/","d":"e.com"}').field == "name"
    assert refused(with_fields(p={"k": "a\x00b"})).field == "props"


def test_error_messages_never_quote_what_the_client_sent():
    secret = "user@example.com"
    for payload in (
        with_fields(n=secret * 20),
        with_fields(vid=secret),
        with_fields(p={"email": secret * 200}),
        with_fields(revenue={"currency": secret, "amount": "1"}),
    ):
        assert secret not in refused(payload).message


# --- properties --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "n",
        "name",
        "u",
        "url",
        "d",
        "domain",
        "r",
        "referrer",
        "p",
        "props",
        "m",
        "meta",
        "revenue",
        "$",
        "h",
        "hashMode",
        "i",
        "interactive",
        "vid",
        "eid",
        "v",
    ]
)
plausible_like = st.fixed_dictionaries(
    {"n": st.text(max_size=10), "u": st.text(max_size=30), "d": st.text(max_size=20)}
) | st.dictionaries(field_names, json_values, max_size=10)


def parses_or_refuses(body: bytes) -> None:
    try:
        hit = parse(body)
    except InvalidInput as error:
        assert error.field
        return
    assert isinstance(hit, IncomingHit)
    assert hit.name and hit.url and hit.domains
    assert all(isinstance(value, str) for value in hit.props.values())


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_parse_to_a_hit_or_raise_invalid_input(body: bytes):
    parses_or_refuses(body)


@PROPERTY
@given(json_values)
def test_any_json_value_parses_to_a_hit_or_raises_invalid_input(value: object):
    parses_or_refuses(json.dumps(value).encode())


@PROPERTY
@given(plausible_like)
def test_any_plausible_like_object_parses_to_a_hit_or_raises_invalid_input(value: object):
    parses_or_refuses(json.dumps(value).encode())
