"""Specification of User-Agent classification: browser, OS, device class and bots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ot.ingest import useragent
from ot.ingest.useragent import ClientInfo, parse_user_agent

REAL_LOG = Path("/work/shared/data/apache_combined_10k.log")
_COMBINED_LOG_TAIL = re.compile(r'"[^"]*" \d{3} \S+ "([^"]*)" "([^"]*)"')

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Safari/537.36"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"
)
SAMSUNG_INTERNET = (
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36"
)
CHROME_OS = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
KINDLE_FIRE = (
    "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/535.19 "
    "(KHTML, like Gecko) Silk/3.4 Mobile Safari/535.19 Silk-Accelerated=true"
)
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.28 Safari/537.36"
)
CUBOT_PHONE = (
    "Mozilla/5.0 (Linux; Android 12; CUBOT P60) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)


def read_real_user_agents() -> list[str]:
    """Every User-Agent of the shared sample of real Apache logs, one per request."""
    user_agents = []
    with REAL_LOG.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            match = _COMBINED_LOG_TAIL.search(line)
            if match:
                user_agents.append(match.group(2))
    return user_agents


# --- browsers and versions ----------------------------------------------------------------


def test_chrome_on_windows_desktop() -> None:
    assert parse_user_agent(CHROME_WINDOWS) == ClientInfo(
        browser="Chrome",
        browser_version="120.0",
        os="Windows",
        os_version="10",
        device="Desktop",
        is_bot=False,
    )


def test_firefox_on_ubuntu_is_firefox_on_gnu_linux_without_os_version() -> None:
    info = parse_user_agent(FIREFOX_LINUX)
    assert (info.browser, info.browser_version, info.os, info.os_version) == (
        "Firefox",
        "121.0",
        "GNU/Linux",
        "",
    )


def test_mac_os_x_is_called_macos() -> None:
    info = parse_user_agent(SAFARI_MAC)
    assert (info.browser, info.browser_version, info.os, info.os_version) == (
        "Safari",
        "17.2",
        "macOS",
        "10.15",
    )


def test_mobile_safari_is_folded_into_safari_on_ios() -> None:
    info = parse_user_agent(SAFARI_IPHONE)
    assert (info.browser, info.os, info.os_version, info.device) == (
        "Safari",
        "iOS",
        "17.2",
        "Mobile",
    )


def test_chrome_mobile_is_folded_into_chrome_on_android() -> None:
    info = parse_user_agent(CHROME_ANDROID_PHONE)
    assert (info.browser, info.browser_version, info.os, info.os_version) == (
        "Chrome",
        "120.0",
        "Android",
        "14",
    )


def test_edge_is_edge_not_chrome() -> None:
    assert parse_user_agent(EDGE_WINDOWS).browser == "Edge"


def test_samsung_internet_keeps_its_name() -> None:
    info = parse_user_agent(SAMSUNG_INTERNET)
    assert (info.browser, info.browser_version) == ("Samsung Internet", "23.0")


def test_chrome_os_is_named_chrome_os() -> None:
    assert parse_user_agent(CHROME_OS).os == "Chrome OS"


def test_internet_explorer_has_its_full_name() -> None:
    info = parse_user_agent("Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko")
    assert (info.browser, info.browser_version, info.os, info.os_version) == (
        "Internet Explorer",
        "11.0",
        "Windows",
        "7",
    )


def test_unknown_browser_and_os_are_empty_strings() -> None:
    info = parse_user_agent("Mozilla/5.0 (Unknown OS) SomethingNew/1.0")
    assert info.browser == "" and info.browser_version == ""
    assert info.os == "" and info.os_version == ""


# --- device classes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (CHROME_WINDOWS, "Desktop"),
        (SAFARI_MAC, "Desktop"),
        (CHROME_OS, "Desktop"),
        (SAFARI_IPHONE, "Mobile"),
        (CHROME_ANDROID_PHONE, "Mobile"),
        (SAMSUNG_INTERNET, "Mobile"),
        (SAFARI_IPAD, "Tablet"),
        (CHROME_ANDROID_TABLET, "Tablet"),
        (KINDLE_FIRE, "Tablet"),
        ("Mozilla/5.0 (Android 13; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0", "Tablet"),
        ("Mozilla/5.0 (Android 13; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0", "Mobile"),
        ("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348)", "Mobile"),
    ],
)
def test_device_class(user_agent: str, device: str) -> None:
    assert parse_user_agent(user_agent).device == device


# --- bots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Twitterbot/1.0",
        "curl/8.5.0",
        "Wget/1.21.4",
        "python-requests/2.31.0",
        "Python/3.11 aiohttp/3.9.1",
        "Go-http-client/2.0",
        "Java/17.0.2",
        "okhttp/4.12.0",
        "Scrapy/2.11.0 (+https://scrapy.org)",
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/534.34 (KHTML, like Gecko) "
        "PhantomJS/1.9.8 Safari/534.34",
        HEADLESS_CHROME,
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/109.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b",
        "Tiny Tiny RSS/1.11 (http://tt-rss.org/)",
    ],
)
def test_crawlers_and_tools_are_bots(user_agent: str) -> None:
    assert parse_user_agent(user_agent).is_bot


@pytest.mark.parametrize("user_agent", ["", "   ", "-", "Mozilla/5.0", "Ruby", "x" * 5])
def test_empty_or_very_short_user_agent_is_a_bot(user_agent: str) -> None:
    assert parse_user_agent(user_agent).is_bot


def test_headless_chrome_is_a_bot_but_still_chrome() -> None:
    info = parse_user_agent(HEADLESS_CHROME)
    assert info.is_bot
    assert info.browser.endswith("Chrome")


@pytest.mark.parametrize(
    "user_agent",
    [
        CHROME_WINDOWS,
        FIREFOX_LINUX,
        SAFARI_MAC,
        SAFARI_IPHONE,
        SAFARI_IPAD,
        CHROME_ANDROID_PHONE,
        CHROME_ANDROID_TABLET,
        EDGE_WINDOWS,
        SAMSUNG_INTERNET,
        CHROME_OS,
        KINDLE_FIRE,
    ],
)
def test_ordinary_browsers_are_not_bots(user_agent: str) -> None:
    assert not parse_user_agent(user_agent).is_bot


def test_a_cubot_phone_is_not_a_robot() -> None:
    info = parse_user_agent(CUBOT_PHONE)
    assert not info.is_bot
    assert info.device == "Mobile"


def test_a_client_recognisable_as_nothing_is_a_bot() -> None:
    assert parse_user_agent("Microsoft Office Protocol Discovery").is_bot


# --- robustness and cost ------------------------------------------------------------------


def test_results_are_memoised() -> None:
    assert parse_user_agent(CHROME_WINDOWS) is parse_user_agent(CHROME_WINDOWS)


def test_an_oversized_user_agent_is_parsed_from_its_start() -> None:
    huge = CHROME_WINDOWS + " " + "x" * 100_000
    info = parse_user_agent(huge)
    assert (info.browser, info.os, info.is_bot) == ("Chrome", "Windows", False)


def test_no_real_user_agent_makes_the_parser_raise_and_about_a_quarter_are_bots() -> None:
    user_agents = read_real_user_agents()
    assert len(user_agents) > 9_000
    results = [parse_user_agent(user_agent) for user_agent in user_agents]
    bot_ratio = sum(info.is_bot for info in results) / len(results)
    # This log comes from a small public site, much crawled: ~29% of its requests are bots.
    assert 0.15 < bot_ratio < 0.40
    assert {info.device for info in results} == {"Desktop", "Mobile", "Tablet"}
    human = [info for info in results if not info.is_bot]
    assert sum(info.browser == "" for info in human) / len(human) < 0.01


def test_a_user_agent_seen_before_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same few User-Agents arrive again and again: parsing one costs ~30 µs, a cached
    answer ~0.2 µs. Counted rather than timed, so a busy machine cannot fail it."""
    resolved = []
    resolver = useragent._resolver

    def counting(user_agent: str, domain: Any) -> Any:
        resolved.append(user_agent)
        return resolver(user_agent, domain)

    monkeypatch.setattr(useragent, "_resolver", counting)
    seen_once = CHROME_WINDOWS.replace("Chrome/", "Chrome/1") + " test-cache"

    answers = {parse_user_agent(seen_once) for _ in range(1000)}

    assert resolved == [seen_once] and len(answers) == 1
