"""Specification of referrer classification: which source a visit is credited to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ot.errors import InvalidInput
from ot.ingest.referrer import (
    DIRECT,
    SOURCES_BY_ANDROID_APP,
    SOURCES_BY_DOMAIN,
    ReferrerInfo,
    classify_referrer,
)
from ot.ingest.urls import parse_referrer_url

REAL_LOG = Path("/work/shared/data/apache_combined_10k.log")
_COMBINED_LOG_TAIL = re.compile(r'"[^"]*" \d{3} \S+ "([^"]*)" "([^"]*)"')


def source(referrer: str, page_hostname: str = "example.com", source_param: str = "") -> str:
    """The source a raw referrer is credited to, through the same reduction as the write path."""
    return classify_referrer(parse_referrer_url(referrer), page_hostname, source_param).source


# --- direct and internal ------------------------------------------------------------------


def test_no_referrer_is_direct() -> None:
    assert classify_referrer("", "example.com") == ReferrerInfo(DIRECT, "")


def test_referrer_on_the_same_host_is_internal_and_counts_as_direct() -> None:
    assert classify_referrer("https://example.com/blog/", "example.com") == ReferrerInfo(DIRECT, "")


def test_www_does_not_make_the_same_site_external() -> None:
    assert classify_referrer("https://www.example.com/", "example.com").source == DIRECT
    assert classify_referrer("https://example.com/", "www.example.com").source == DIRECT


def test_a_subdomain_is_another_site() -> None:
    info = classify_referrer("https://blog.example.com/post", "example.com")
    assert info == ReferrerInfo("blog.example.com", "https://blog.example.com/post")


# --- tagged sources -----------------------------------------------------------------------


def test_source_param_names_the_source_when_there_is_no_referrer() -> None:
    assert classify_referrer("", "example.com", "newsletter") == ReferrerInfo("newsletter", "")


def test_well_known_source_params_get_their_proper_name() -> None:
    assert classify_referrer("", "example.com", "google").source == "Google"
    assert classify_referrer("", "example.com", "FACEBOOK").source == "Facebook"
    assert classify_referrer("", "example.com", "twitter").source == "Twitter"
    assert classify_referrer("", "example.com", "hacker news").source == "Hacker News"


def test_common_source_shorthands_get_their_proper_name() -> None:
    assert classify_referrer("", "example.com", "fb").source == "Facebook"
    assert classify_referrer("", "example.com", "ig").source == "Instagram"
    assert classify_referrer("", "example.com", "adwords").source == "Google"


def test_a_host_given_as_source_param_is_named_like_a_referrer() -> None:
    assert classify_referrer("", "example.com", "news.ycombinator.com").source == "Hacker News"
    assert classify_referrer("", "example.com", "https://x.com").source == "Twitter"


def test_unknown_source_param_is_kept_as_sent() -> None:
    assert classify_referrer("", "example.com", "Spring-Mailing").source == "Spring-Mailing"


def test_source_param_wins_over_the_referrer_as_in_plausible() -> None:
    # A newsletter link opened in webmail is credited to the newsletter, not to the webmail.
    info = classify_referrer("https://mail.google.com/", "example.com", "newsletter")
    assert info == ReferrerInfo("newsletter", "https://mail.google.com/")


def test_source_param_with_an_internal_referrer_is_the_source_param() -> None:
    assert classify_referrer("https://example.com/", "example.com", "qr") == ReferrerInfo("qr", "")


# --- search engines -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "referrer",
    [
        "https://www.google.com/",
        "https://google.com/",
        "https://www.google.co.uk/",
        "https://www.google.de/",
        "https://www.google.com.br/",
        "https://www.google.co.jp/",
        "https://www.google.fr/url",
        "android-app://com.google.android.googlequicksearchbox/",
    ],
)
def test_google_from_any_country_tld_is_google(referrer: str) -> None:
    assert source(referrer) == "Google"


def test_a_lookalike_of_google_is_not_google() -> None:
    assert source("https://google.evil.com/") == "google.evil.com"
    assert source("https://notgoogle.com/") == "notgoogle.com"


@pytest.mark.parametrize(
    ("referrer", "name"),
    [
        ("https://www.bing.com/", "Bing"),
        ("https://cn.bing.com/", "Bing"),
        ("https://duckduckgo.com/", "DuckDuckGo"),
        ("https://search.yahoo.com/", "Yahoo"),
        ("https://search.yahoo.co.jp/", "Yahoo"),
        ("https://yandex.ru/", "Yandex"),
        ("https://yandex.com.tr/", "Yandex"),
        ("https://www.baidu.com/", "Baidu"),
        ("https://www.ecosia.org/", "Ecosia"),
        ("https://www.qwant.com/", "Qwant"),
        ("https://search.brave.com/", "Brave"),
        ("https://www.startpage.com/", "Startpage"),
        ("https://search.naver.com/", "Naver"),
        ("https://search.seznam.cz/", "Seznam"),
        ("https://kagi.com/", "Kagi"),
    ],
)
def test_search_engines_have_readable_names(referrer: str, name: str) -> None:
    assert source(referrer) == name


# --- social networks and communities ------------------------------------------------------


@pytest.mark.parametrize(
    ("referrer", "name"),
    [
        ("https://www.facebook.com/", "Facebook"),
        ("https://l.facebook.com/", "Facebook"),
        ("https://m.facebook.com/", "Facebook"),
        ("https://lm.facebook.com/", "Facebook"),
        ("https://fb.me/", "Facebook"),
        ("https://twitter.com/", "Twitter"),
        ("https://x.com/", "Twitter"),
        ("https://t.co/", "Twitter"),
        ("https://www.linkedin.com/", "LinkedIn"),
        ("https://lnkd.in/", "LinkedIn"),
        ("https://www.reddit.com/r/python/", "Reddit"),
        ("https://old.reddit.com/", "Reddit"),
        ("https://www.youtube.com/", "YouTube"),
        ("https://youtu.be/", "YouTube"),
        ("https://www.instagram.com/", "Instagram"),
        ("https://l.instagram.com/", "Instagram"),
        ("https://www.pinterest.com/", "Pinterest"),
        ("https://www.pinterest.de/", "Pinterest"),
        ("https://news.ycombinator.com/item", "Hacker News"),
        ("https://www.tiktok.com/", "TikTok"),
        ("https://mastodon.social/", "Mastodon"),
        ("https://github.com/someone/project", "GitHub"),
        ("https://en.wikipedia.org/wiki/Web_analytics", "Wikipedia"),
        ("https://de.m.wikipedia.org/wiki/Webanalyse", "Wikipedia"),
        ("https://mail.google.com/", "Gmail"),
    ],
)
def test_social_networks_and_communities_have_readable_names(referrer: str, name: str) -> None:
    assert source(referrer) == name


# --- apps and everything else -------------------------------------------------------------


def test_gmail_android_app_is_gmail() -> None:
    assert source("android-app://com.google.android.gm/") == "Gmail"


def test_unknown_android_app_is_named_by_its_package() -> None:
    assert source("android-app://org.example.reader/") == "org.example.reader"


def test_unknown_site_is_its_host_without_www() -> None:
    info = classify_referrer(parse_referrer_url("https://www.markosaric.com/blog"), "example.com")
    assert info == ReferrerInfo("markosaric.com", "https://www.markosaric.com/blog")


def test_every_table_name_is_tidy() -> None:
    for name in [*SOURCES_BY_DOMAIN.values(), *SOURCES_BY_ANDROID_APP.values()]:
        assert name == name.strip() and name
    for host in SOURCES_BY_DOMAIN:
        assert host == host.lower() and not host.startswith("www.")


def test_real_referrers_are_classified_without_raising() -> None:
    with REAL_LOG.open(encoding="utf-8", errors="replace") as log:
        referrers = {m.group(1) for line in log if (m := _COMBINED_LOG_TAIL.search(line))}
    sources = set()
    for referrer in referrers:
        try:
            reduced = parse_referrer_url("" if referrer == "-" else referrer)
        except InvalidInput:
            continue
        sources.add(classify_referrer(reduced, "semicomplete.com").source)
    assert {"Google", "Direct / None"} <= sources


@given(referrer=st.text(max_size=200), host=st.text(max_size=30), tagged=st.text(max_size=30))
def test_classification_never_raises_and_always_names_a_source(
    referrer: str, host: str, tagged: str
) -> None:
    info = classify_referrer(referrer, host, tagged)
    assert info.source
