"""Specification of `ot.ingest.matomo`: Matomo tracking requests and bulk bodies."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ot.errors import InvalidInput
from ot.ingest.hit import PAGEVIEW, IncomingHit, PayloadLimits
from ot.ingest.matomo import (
    ECOMMERCE_ORDER,
    FILE_DOWNLOAD,
    OUTBOUND_LINK,
    MatomoRequest,
    parse_bulk_body,
    parse_tracking_request,
)

LIMITS = PayloadLimits()
PAGE = {"idsite": "3", "rec": "1", "url": "https://example.com/page"}
# No example database: it would write a .hypothesis folder into the work tree.
PROPERTY = settings(database=None, deadline=None, max_examples=300)


def parse(params: dict[str, str], **kwargs: object) -> MatomoRequest:
    options: dict[str, object] = {"user_agent": "Mozilla/5.0", "ip": "192.0.2.1", "limits": LIMITS}
    options.update(kwargs)
    return parse_tracking_request(params, **options)  # type: ignore[arg-type]


def hit_of(params: dict[str, str]) -> IncomingHit:
    hit = parse(params).hit
    assert hit is not None
    return hit


def refused(params: dict[str, str]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(params)
    return caught.value


def with_params(**params: str) -> dict[str, str]:
    return {**PAGE, **params}


# --- page views --------------------------------------------------------------------------------


def test_idsite_rec_and_url_make_a_pageview_for_that_site():
    assert parse(PAGE) == MatomoRequest(
        hit=IncomingHit(
            name=PAGEVIEW,
            url="https://example.com/page",
            user_agent="Mozilla/5.0",
            ip="192.0.2.1",
            site_id=3,
        ),
        token_auth=None,
        override_ip=None,
        override_time=None,
    )


def test_the_referrer_comes_from_urlref_and_the_page_title_is_not_kept():
    hit = hit_of(with_params(urlref="https://search.example/?q=x", action_name="Secret title"))
    assert hit.referrer == "https://search.example/?q=x"
    assert "Secret title" not in repr(hit)


def test_a_site_search_counts_as_a_pageview_without_its_keyword():
    hit = hit_of(with_params(search="my illness", search_cat="health", search_count="3"))
    assert hit.name == PAGEVIEW
    assert "my illness" not in repr(hit)


def test_ua_overrides_the_user_agent_header():
    assert hit_of(with_params(ua="MatomoApp/2.0")).user_agent == "MatomoApp/2.0"
    assert hit_of(with_params(ua=" ")).user_agent == "Mozilla/5.0"


@pytest.mark.parametrize(
    ("lang", "language"),
    [("en-US,en;q=0.9", "en-us"), ("fr", "fr"), ("de-DE;q=0.8", "de-de"), ("*", None), ("", None)],
)
def test_lang_keeps_the_first_language_tag_lower_cased(lang: str, language: str | None):
    assert hit_of(with_params(lang=lang)).language == language


def test_res_is_the_screen_size():
    assert hit_of(with_params(res="1920x1080")).screen == "1920x1080"
    assert hit_of(with_params(res="0390X0844")).screen == "390x844"


def test_send_image_and_unknown_parameters_are_ignored():
    assert hit_of(with_params(send_image="0", rand="12345", apiv="1", _cvar="{}")).name == PAGEVIEW


def test_do_not_track_comes_from_the_caller():
    assert hit_of(PAGE).do_not_track is False
    hit = parse(PAGE, do_not_track=True).hit
    assert hit is not None
    assert hit.do_not_track is True


# --- events, links, downloads ------------------------------------------------------------------


def test_an_event_is_named_after_its_action_with_category_label_and_value_as_props():
    hit = hit_of(with_params(e_c="Videos", e_a="Play", e_n="Intro", e_v="12.5"))
    assert hit.name == "Play"
    assert hit.props == {"category": "Videos", "label": "Intro", "value": "12.5"}


def test_empty_event_parts_are_left_out_and_whitespace_is_trimmed_as_matomo_does():
    hit = hit_of(with_params(e_c=" Videos ", e_a=" Play ", e_n="  ", e_v=""))
    assert hit.name == "Play"
    assert hit.props == {"category": "Videos"}


def test_a_custom_action_flag_on_an_event_changes_nothing():
    assert hit_of(with_params(e_c="Videos", e_a="Play", ca="1")).name == "Play"


def test_an_outbound_link_is_the_event_plausible_uses():
    hit = hit_of(with_params(link="https://other.example/"))
    assert hit.name == OUTBOUND_LINK == "Outbound Link: Click"
    assert hit.props == {"url": "https://other.example/"}


def test_a_download_is_the_event_plausible_uses():
    hit = hit_of(with_params(download="https://example.com/report.pdf"))
    assert hit.name == FILE_DOWNLOAD == "File Download"
    assert hit.props == {"url": "https://example.com/report.pdf"}


# --- requests that record nothing --------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"ping": "1"},
        {"ping": "1", "e_c": "Videos", "e_a": "Play"},
        {"idgoal": "0"},
        {"idgoal": "4", "revenue": "10"},
        {"c_n": "Banner", "c_p": "/ad.png"},
        {"c_i": "click", "c_n": "Banner"},
        {"ca": "1"},
    ],
)
def test_heartbeats_carts_goals_content_and_custom_actions_record_nothing(
    params: dict[str, str],
):
    assert parse(with_params(**params)).hit is None


def test_a_heartbeat_needs_no_url_but_still_a_valid_site():
    assert parse({"idsite": "1", "rec": "1", "ping": "1"}).hit is None
    assert refused({"idsite": "x", "rec": "1", "ping": "1"}).field == "idsite"


# --- ecommerce ---------------------------------------------------------------------------------


def test_an_ecommerce_order_is_an_event_with_its_revenue_apart():
    request = parse(with_params(idgoal="0", ec_id="A-1001", revenue="59.90", ec_items="[]"))
    assert request.hit is not None
    assert request.hit.name == ECOMMERCE_ORDER
    assert request.hit.revenue is None  # Matomo sends no currency: the caller adds the site's
    assert request.revenue_amount == Decimal("59.90")


def test_a_resent_order_carries_the_same_event_id_without_the_order_id():
    first = hit_of(with_params(idgoal="0", ec_id="A-1001", revenue="1"))
    again = hit_of(with_params(idgoal="0", ec_id="A-1001", revenue="1"))
    other = hit_of(with_params(idgoal="0", ec_id="A-1002", revenue="1"))
    assert first.event_id == again.event_id != other.event_id
    assert first.event_id is not None
    assert "A-1001" not in first.event_id
    assert len(first.event_id) <= LIMITS.max_event_id_length


def test_revenue_outside_a_goal_request_is_ignored_as_matomo_ignores_it():
    request = parse(with_params(revenue="12"))
    assert request.revenue_amount is None
    assert request.hit is not None
    assert request.hit.name == PAGEVIEW


@pytest.mark.parametrize("revenue", ["", "abc", "NaN", "1e20"])
def test_an_order_without_a_usable_revenue_is_refused(revenue: str):
    assert refused(with_params(idgoal="0", ec_id="A-1", revenue=revenue)).field == "revenue"


# --- visitors ----------------------------------------------------------------------------------


def test_the_matomo_visitor_id_is_the_client_visitor_id():
    assert hit_of(with_params(_id="ABCDEF0123456789")).client_visitor_id == "abcdef0123456789"


def test_cid_wins_over_the_cookie_id():
    hit = hit_of(with_params(cid="1111111111111111", _id="2222222222222222"))
    assert hit.client_visitor_id == "1111111111111111"


def test_a_user_id_wins_and_is_kept_only_as_a_digest():
    hit = hit_of(with_params(uid="ann@example.com", cid="1111111111111111"))
    digest = hashlib.sha256(b"ann@example.com").hexdigest()[:32]
    assert hit.client_visitor_id == "uid-" + digest
    assert "ann" not in repr(hit)


def test_the_same_user_id_is_the_same_visitor_on_every_device():
    ids = {
        hit_of(with_params(uid="42", _id=device)).client_visitor_id
        for device in ("a" * 16, "b" * 16)
    }
    assert len(ids) == 1


@pytest.mark.parametrize(("param", "value"), [("_id", "abc"), ("_id", "z" * 16), ("cid", "1" * 17)])
def test_a_visitor_id_that_is_not_16_hex_characters_is_refused(param: str, value: str):
    error = refused(with_params(**{param: value}))
    assert error.field == param
    assert "16 hexadecimal" in error.message


# --- trusted overrides: token_auth, cip, cdt ---------------------------------------------------


def test_token_cip_and_cdt_are_returned_apart_and_not_applied():
    request = parse(with_params(token_auth="s3cret", cip="203.0.113.5", cdt="1301919102"))
    assert request.token_auth == "s3cret"
    assert request.override_ip == "203.0.113.5"
    assert request.override_time == datetime(2011, 4, 4, 12, 11, 42, tzinfo=UTC)
    assert request.hit is not None
    assert (request.hit.ip, request.hit.timestamp) == ("192.0.2.1", None)


@pytest.mark.parametrize(
    ("cdt", "expected"),
    [
        ("2011-04-05 00:11:42", datetime(2011, 4, 5, 0, 11, 42, tzinfo=UTC)),
        ("2018-03-22T02:32:22.867Z", datetime(2018, 3, 22, 2, 32, 22, 867000, tzinfo=UTC)),
        ("2018-03-22T04:32:22+02:00", datetime(2018, 3, 22, 2, 32, 22, tzinfo=UTC)),
        ("1301919102.5", datetime(2011, 4, 4, 12, 11, 42, 500000, tzinfo=UTC)),
    ],
)
def test_cdt_takes_unix_seconds_or_a_utc_datetime(cdt: str, expected: datetime):
    assert parse(with_params(cdt=cdt)).override_time == expected


def test_cip_is_normalised_and_an_ipv4_mapped_address_is_ipv4():
    assert parse(with_params(cip="::FFFF:198.51.100.4")).override_ip == "198.51.100.4"
    assert parse(with_params(cip="2001:DB8::1")).override_ip == "2001:db8::1"


def test_empty_overrides_are_no_overrides():
    request = parse(with_params(token_auth="", cip="", cdt=""))
    assert (request.token_auth, request.override_ip, request.override_time) == (None, None, None)


# --- refused requests --------------------------------------------------------------------------


@pytest.mark.parametrize("idsite", [None, "", "0", "-1", "abc", "1.5", "9" * 11, "99999999999"])
def test_idsite_must_be_a_positive_whole_number(idsite: str | None):
    params = {"rec": "1", "url": "https://example.com/"}
    if idsite is not None:
        params["idsite"] = idsite
    error = refused(params)
    assert error.field == "idsite"
    assert "idsite" in error.message


@pytest.mark.parametrize("rec", [None, "", "0", "true", "2"])
def test_rec_must_be_one(rec: str | None):
    params = {"idsite": "1", "url": "https://example.com/"}
    if rec is not None:
        params["rec"] = rec
    error = refused(params)
    assert error.field == "rec"
    assert "rec" in error.message


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"url": ""}, "url"),
        ({"url": "https://example.com/" + "a" * 2048}, "url"),
        ({"urlref": "https://e.com/\x00"}, "urlref"),
        ({"e_c": "Videos"}, "e_a"),
        ({"e_a": "Play"}, "e_c"),
        ({"e_c": "Videos", "e_a": "Play", "e_v": "ten"}, "e_v"),
        ({"e_c": "Videos", "e_a": "pageview"}, "e_a"),
        ({"e_c": "Videos", "e_a": "x" * 121}, "e_a"),
        ({"e_c": "V" * 2001, "e_a": "Play"}, "e_c"),
        ({"link": "https://x.example/" + "a" * 2000}, "link"),
        ({"res": "big"}, "res"),
        ({"res": "0x1080"}, "res"),
        ({"cip": "not-an-ip"}, "cip"),
        ({"cdt": "yesterday"}, "cdt"),
        ({"cdt": "2011-13-45 99:00:00"}, "cdt"),
        ({"idgoal": "one"}, "idgoal"),
        ({"idgoal": "9" * 5000}, "idgoal"),
    ],
)
def test_bad_parameters_are_refused_by_name(params: dict[str, str], field: str):
    error = refused(with_params(**params))
    assert error.field == field
    assert field in error.message


def test_a_missing_url_is_refused():
    error = refused({"idsite": "1", "rec": "1"})
    assert (error.field, error.message) == ("url", "url is required")


def test_error_messages_never_quote_tokens_addresses_or_ids():
    for params in (
        with_params(token_auth="s3cret", cip="s3cret"),
        with_params(cdt="s3cret"),
        with_params(_id="s3cret"),
        with_params(e_c="s3cret" * 400, e_a="Play"),
    ):
        assert "s3cret" not in refused(params).message


# --- bulk bodies -------------------------------------------------------------------------------


def bulk(
    payload: object, limits: PayloadLimits = LIMITS
) -> tuple[list[dict[str, str]], str | None]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_bulk_body(body, limits=limits)


def bulk_refused(payload: object, limits: PayloadLimits = LIMITS) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        bulk(payload, limits)
    return caught.value


def test_bulk_requests_are_query_strings_with_or_without_their_question_mark():
    requests, token = bulk(
        {
            "requests": [
                "?idsite=1&url=https://example.org&action_name=Test bulk log Pageview&rec=1",
                "idsite=2&rec=1&url=https%3A%2F%2Fexample.net%2Ftest.htm",
            ],
            "token_auth": "33dc3f2536d3025974cccb4b4d2d98f4",
        }
    )
    assert requests == [
        {
            "idsite": "1",
            "url": "https://example.org",
            "action_name": "Test bulk log Pageview",
            "rec": "1",
        },
        {"idsite": "2", "rec": "1", "url": "https://example.net/test.htm"},
    ]
    assert token == "33dc3f2536d3025974cccb4b4d2d98f4"


def test_a_bulk_request_may_be_a_whole_tracker_url():
    requests, _ = bulk({"requests": ["https://matomo.example/matomo.php?idsite=4&rec=1#x"]})
    assert requests == [{"idsite": "4", "rec": "1"}]


def test_a_bare_query_whose_url_holds_a_question_mark_is_read_whole():
    requests, _ = bulk({"requests": ["idsite=1&url=https://a.example/?page=2&rec=1"]})
    assert requests == [{"idsite": "1", "url": "https://a.example/?page=2", "rec": "1"}]


def test_a_bulk_request_may_be_an_object_of_scalars():
    requests, token = bulk(
        {"requests": [{"idsite": 5, "rec": True, "url": "https://e.com/", "e_v": 1.5, "x": None}]}
    )
    assert requests == [{"idsite": "5", "rec": "1", "url": "https://e.com/", "e_v": "1.5"}]
    assert token is None


def test_bulk_requests_keep_their_order_and_each_parses_on_its_own():
    requests, _ = bulk({"requests": ["?idsite=1&rec=1&url=https://a/", "?idsite=1&rec=0"]})
    assert hit_of(requests[0]).url == "https://a/"
    assert refused(requests[1]).field == "rec"


def test_an_empty_bulk_is_an_empty_list():
    assert bulk({"requests": []}) == ([], None)


def test_a_blank_bulk_token_is_no_token():
    assert bulk({"requests": [], "token_auth": " "}) == ([], None)


def test_the_bulk_request_limit_is_inclusive():
    limits = PayloadLimits(max_bulk_requests=2)
    assert len(bulk({"requests": ["?idsite=1"] * 2}, limits)[0]) == 2
    assert bulk_refused({"requests": ["?idsite=1"] * 3}, limits).field == "requests"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"\xff\xfe", "body"),
        (b"not json", "body"),
        (b"[]", "body"),
        ({}, "requests"),
        ({"requests": "?idsite=1"}, "requests"),
        ({"requests": [42]}, "requests[0]"),
        ({"requests": ["?idsite=1", None]}, "requests[1]"),
        ({"requests": [{"idsite": [1]}]}, "requests[0]"),
        ({"requests": [{"idsite": {"a": 1}}]}, "requests[0]"),
        ({"requests": ["?url=%ff%fe"]}, "requests[0]"),
        ({"requests": [], "token_auth": 123}, "token_auth"),
    ],
)
def test_ill_formed_bulk_bodies_are_refused_by_name(payload: object, field: str):
    assert bulk_refused(payload).field == field


def test_a_bulk_body_over_the_size_limit_is_refused():
    error = bulk_refused({"requests": ["?idsite=1&rec=1"]}, PayloadLimits(max_body_bytes=10))
    assert error.field == "body"


def test_a_bulk_error_never_quotes_the_token():
    assert "s3cret" not in bulk_refused({"requests": [7], "token_auth": "s3cret"}).message


# --- properties --------------------------------------------------------------------------------

known_params = st.sampled_from(
    [
        "idsite",
        "rec",
        "url",
        "urlref",
        "action_name",
        "_id",
        "cid",
        "uid",
        "ua",
        "lang",
        "res",
        "e_c",
        "e_a",
        "e_n",
        "e_v",
        "link",
        "download",
        "idgoal",
        "ec_id",
        "revenue",
        "cip",
        "cdt",
        "token_auth",
        "ping",
        "ca",
        "c_n",
        "c_i",
        "search",
        "send_image",
    ]
)
param_values = st.text(max_size=30) | st.sampled_from(
    ["1", "0", "3", "https://example.com/", "0123456789abcdef", "1920x1080", "::1", "1301919102"]
)
matomo_params = st.dictionaries(known_params, param_values, max_size=12)
valid_base = st.fixed_dictionaries({"idsite": st.just("1"), "rec": st.just("1")})


def parses_or_refuses(params: dict[str, str]) -> None:
    try:
        request = parse(params)
    except InvalidInput as error:
        assert error.field
        return
    assert isinstance(request, MatomoRequest)
    if request.hit is not None:
        assert request.hit.site_id is not None and request.hit.site_id > 0
        assert request.hit.url


@PROPERTY
@given(matomo_params)
def test_any_parameters_parse_to_a_request_or_raise_invalid_input(params: dict[str, str]):
    parses_or_refuses(params)


@PROPERTY
@given(valid_base, matomo_params)
def test_any_parameters_on_a_valid_site_parse_or_raise_invalid_input(
    base: dict[str, str], params: dict[str, str]
):
    parses_or_refuses({**params, **base})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
bulk_like = st.fixed_dictionaries(
    {"requests": st.lists(st.text() | json_values, max_size=5)},
    optional={"token_auth": json_values},
)


def bulk_parses_or_refuses(body: bytes) -> None:
    try:
        requests, token = parse_bulk_body(body, limits=LIMITS)
    except InvalidInput as error:
        assert error.field
        return
    assert token is None or isinstance(token, str)
    for params in requests:
        assert all(isinstance(key, str) and isinstance(value, str) for key, value in params.items())
        parses_or_refuses(params)


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_split_into_requests_or_raise_invalid_input(body: bytes):
    bulk_parses_or_refuses(body)


@PROPERTY
@given(json_values | bulk_like)
def test_any_json_splits_into_requests_or_raises_invalid_input(value: object):
    bulk_parses_or_refuses(json.dumps(value).encode())
