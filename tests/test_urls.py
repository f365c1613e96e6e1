"""Specification of page and referrer URL parsing: what is kept, what is refused, and why."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ot.errors import InvalidInput
from ot.ingest.urls import MAX_URL_LENGTH, PageUrl, parse_page_url, parse_referrer_url

NO_PARAMS: frozenset[str] = frozenset()


def page(url: str, *allowed: str, hash_routing: bool = False) -> PageUrl:
    return parse_page_url(url, allowed_query_params=frozenset(allowed), hash_routing=hash_routing)


def refused(url: str) -> str:
    """The message parse_page_url refuses `url` with (and check it blames the url field)."""
    with pytest.raises(InvalidInput) as caught:
        page(url)
    assert caught.value.field == "url"
    return caught.value.message


# --- hostname -----------------------------------------------------------------------------


def test_hostname_is_lower_cased_and_loses_its_port() -> None:
    assert page("https://WWW.Example.COM:8443/").hostname == "www.example.com"


def test_www_is_kept_in_the_hostname() -> None:
    assert page("https://www.example.com/").hostname == "www.example.com"


def test_credentials_in_the_url_are_dropped() -> None:
    parsed = page("https://user:secret@example.com/private")
    assert parsed.hostname == "example.com"
    assert "secret" not in repr(parsed)


def test_trailing_dot_of_a_fully_qualified_host_is_dropped() -> None:
    assert page("https://example.com./").hostname == "example.com"


def test_unicode_hostname_is_stored_in_punycode_as_browsers_send_it() -> None:
    assert page("https://bücher.example/").hostname == "xn--bcher-kva.example"
    assert page("https://xn--bcher-kva.example/").hostname == "xn--bcher-kva.example"


def test_ip_and_localhost_hosts_are_accepted() -> None:
    assert page("http://localhost:3000/").hostname == "localhost"
    assert page("http://192.0.2.10/").hostname == "192.0.2.10"
    assert page("http://[2001:DB8::1]:8080/").hostname == "[2001:db8::1]"


# --- pathname -----------------------------------------------------------------------------


def test_pathname_always_starts_with_a_slash() -> None:
    assert page("https://example.com").pathname == "/"
    assert page("https://example.com?x=1").pathname == "/"


def test_trailing_slash_is_kept() -> None:
    assert page("https://example.com/blog/").pathname == "/blog/"
    assert page("https://example.com/blog").pathname == "/blog"


def test_percent_encoded_and_raw_unicode_paths_are_the_same_page() -> None:
    assert page("https://example.com/caf%C3%A9").pathname == "/café"
    assert page("https://example.com/café").pathname == "/café"
    assert page("https://example.com/a%20b").pathname == "/a b"


def test_escapes_that_are_not_utf8_text_leave_the_path_as_sent() -> None:
    assert page("https://example.com/%FF%FE").pathname == "/%FF%FE"
    assert page("https://example.com/a%00b").pathname == "/a%00b"


def test_fragment_is_dropped() -> None:
    assert page("https://example.com/docs#install").pathname == "/docs"


def test_hash_routing_appends_the_route_to_the_path() -> None:
    assert page("https://app.example/#/settings", hash_routing=True).pathname == "/#/settings"
    assert page("https://app.example/app#!/users", hash_routing=True).pathname == "/app#!/users"


def test_hash_routing_drops_the_query_part_of_the_route() -> None:
    parsed = page("https://app.example/#/reset?token=abc123", hash_routing=True)
    assert parsed.pathname == "/#/reset"


def test_hash_routing_without_a_fragment_is_just_the_path() -> None:
    assert page("https://app.example/about", hash_routing=True).pathname == "/about"


# --- query --------------------------------------------------------------------------------


def test_query_keeps_only_allowed_parameters_in_original_order() -> None:
    parsed = page("https://example.com/?q=shoes&email=a%40b.c&page=2&sort=asc", "page", "q")
    assert parsed.query == "q=shoes&page=2"


def test_query_is_empty_when_no_parameter_is_allowed() -> None:
    assert page("https://example.com/?q=shoes&page=2").query == ""


def test_kept_parameters_are_url_encoded() -> None:
    assert page("https://example.com/?q=red%20shoes%26socks", "q").query == "q=red+shoes%26socks"


# --- campaign parameters ------------------------------------------------------------------


def test_utm_parameters_are_read_whatever_the_allow_list() -> None:
    parsed = page(
        "https://example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
        "&utm_content=banner&utm_term=running+shoes"
    )
    assert (
        parsed.utm_source,
        parsed.utm_medium,
        parsed.utm_campaign,
        parsed.utm_content,
        parsed.utm_term,
    ) == ("newsletter", "email", "spring", "banner", "running shoes")
    assert parsed.query == ""


def test_missing_utm_parameters_are_empty() -> None:
    parsed = page("https://example.com/")
    assert parsed.utm_source == parsed.utm_medium == parsed.utm_campaign == ""
    assert parsed.utm_content == parsed.utm_term == parsed.source_param == ""


def test_source_param_prefers_utm_source_then_source_then_ref() -> None:
    assert page("https://e.com/?ref=a&source=b&utm_source=c").source_param == "c"
    assert page("https://e.com/?ref=a&source=b").source_param == "b"
    assert page("https://e.com/?ref=producthunt").source_param == "producthunt"
    assert page("https://e.com/?ref=a&utm_source=").source_param == "a"


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "DATA:text/plain,hello",
    ],
)
def test_data_and_javascript_urls_are_refused_as_no_page(url: str) -> None:
    assert "scheme" in refused(url)


@pytest.mark.parametrize(
    ("url", "hostname", "pathname"),
    [
        ("app://localhost/settings", "localhost", "/settings"),  # Plausible's Flutter client
        ("app://com.Example.Notes/notes/42?utm_source=widget", "com.example.notes", "/notes/42"),
        ("capacitor://localhost/home", "localhost", "/home"),
        ("tauri://localhost", "localhost", "/"),
        ("chrome-extension://abcdefghijklmnop/popup.html", "abcdefghijklmnop", "/popup.html"),
        ("ftp://files.example.com/pub/readme", "files.example.com", "/pub/readme"),
        ("file:///Users/ann/app/index.html", "", "/Users/ann/app/index.html"),
        ("app:/home", "", "/home"),
        ("app:home", "", "/home"),
    ],
)
def test_desktop_and_mobile_app_urls_are_pages_like_any_other(
    url: str, hostname: str, pathname: str
) -> None:
    parsed = page(url)
    assert (parsed.hostname, parsed.pathname) == (hostname, pathname)


def test_campaign_parameters_of_an_app_url_are_read() -> None:
    assert page("app://com.example.notes/?utm_source=widget").utm_source == "widget"


def test_a_host_given_in_another_scheme_must_still_be_a_host() -> None:
    assert "host" in refused("app://exa mple/")
    assert "port" in refused("app://localhost:99999/")


@pytest.mark.parametrize("url", ["/relative/path", "example.com/page", ""])
def test_relative_urls_are_refused(url: str) -> None:
    assert "absolute" in refused(url)


def test_a_web_url_without_host_is_refused() -> None:
    assert "no host" in refused("http:///path")
    assert "no host" in refused("https:/path")


@pytest.mark.parametrize(
    "url",
    [
        "http://exa mple.com/",
        "http://exa_mple..com/",
        "http://-/",
        "http://999.1.1.1/",
        "http://exa%41mple.com/",
        "http://[not-ipv6]/",
        "http://" + "a" * 64 + ".com/",
    ],
)
def test_invalid_hosts_are_refused(url: str) -> None:
    assert "host" in refused(url)


def test_invalid_port_is_refused() -> None:
    assert "port" in refused("http://example.com:99999/")
    assert "port" in refused("http://example.com:http/")


def test_overlong_url_is_refused() -> None:
    url = "https://example.com/" + "a" * MAX_URL_LENGTH
    assert "2,048" in refused(url)


def test_url_of_exactly_the_maximum_length_is_accepted() -> None:
    base = "https://example.com/"
    assert page(base + "a" * (MAX_URL_LENGTH - len(base))).pathname.startswith("/aaa")


@pytest.mark.parametrize("character", ["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused(character: str) -> None:
    assert "control" in refused(f"https://example.com/a{character}b")


@given(st.text(max_size=300))
def test_any_text_is_parsed_or_refused_with_invalid_input(text: str) -> None:
    try:
        parsed = parse_page_url(text, allowed_query_params=frozenset({"q"}))
    except InvalidInput:
        return
    assert isinstance(parsed, PageUrl)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp", "javascript", ""]),
    host=st.text(max_size=40),
    rest=st.text(max_size=80),
    hash_routing=st.booleans(),
)
def test_url_shaped_text_is_parsed_or_refused_with_invalid_input(
    scheme: str, host: str, rest: str, hash_routing: bool
) -> None:
    try:
        parsed = parse_page_url(
            f"{scheme}://{host}{rest}",
            allowed_query_params=frozenset({"q"}),
            hash_routing=hash_routing,
        )
    except InvalidInput:
        return
    assert parsed.pathname.startswith("/")
    assert parsed.hostname == parsed.hostname.lower()
    assert not any(ord(character) < 0x20 for character in parsed.pathname)


# --- referrers ----------------------------------------------------------------------------


def test_empty_referrer_is_empty() -> None:
    assert parse_referrer_url("") == ""
    assert parse_referrer_url("   ") == ""


def test_referrer_is_reduced_to_scheme_host_and_path() -> None:
    assert (
        parse_referrer_url("https://News.YCombinator.com:443/item?id=1#comments")
        == "https://news.ycombinator.com/item"
    )


def test_origin_only_referrer_gets_a_root_path() -> None:
    assert parse_referrer_url("https://www.google.com") == "https://www.google.com/"


def test_android_app_referrer_is_accepted() -> None:
    assert (
        parse_referrer_url("android-app://com.google.android.gm/")
        == "android-app://com.google.android.gm/"
    )


@pytest.mark.parametrize(
    "referrer",
    ["garbage", "about:blank", "javascript:void(0)", "http://", "http://a b/", "x" * 3000],
)
def test_garbage_referrer_is_refused(referrer: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_referrer_url(referrer)
    assert caught.value.field == "referrer"


@given(st.text(max_size=300))
def test_any_referrer_text_is_reduced_or_refused_with_invalid_input(text: str) -> None:
    try:
        reduced = parse_referrer_url(text)
    except InvalidInput:
        return
    assert reduced == "" or "://" in reduced
    assert "?" not in reduced.partition("://")[2].partition("/")[0]


def test_campaign_values_lose_control_characters_that_databases_refuse() -> None:
    parsed = page("https://example.com/?utm_source=news%00letter&utm_medium=%0Aemail%09")
    assert (parsed.utm_source, parsed.utm_medium) == ("newsletter", "email")
    assert page("https://example.com/?q=a%00b", "q").query == "q=a%00b"
