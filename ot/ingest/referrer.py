"""Name the source of a visit: a search engine, a social network, a site, or "Direct / None".

As in Plausible, a tagged source (`utm_source`, `source` or `ref` in the page URL) wins over the
Referer header: a newsletter link opened in webmail says "newsletter", not "Gmail". A well-known
tagged value ("google", "FB", "x.com") is written as that source's proper name; any other is
kept as sent. A referrer on the page's own host (ignoring "www.") is internal and counts as
none. Known hosts map to a name through the tables below, looked up by the host and then each
parent domain, so "l.facebook.com" and "de.m.wikipedia.org" need no line of their own; any other
referrer is named by its host without "www.".
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DIRECT = "Direct / None"

# Host (or parent domain) -> source name. Adding a source is one line.
SOURCES_BY_DOMAIN: dict[str, str] = {
    # Search engines
    "bing.com": "Bing",
    "ntp.msn.com": "Bing",
    "duckduckgo.com": "DuckDuckGo",
    "baidu.com": "Baidu",
    "ecosia.org": "Ecosia",
    "qwant.com": "Qwant",
    "search.brave.com": "Brave",
    "startpage.com": "Startpage",
    "naver.com": "Naver",
    "seznam.cz": "Seznam",
    "ya.ru": "Yandex",
    "ask.com": "Ask",
    "search.aol.com": "AOL",
    "sogou.com": "Sogou",
    "so.com": "360 Search",
    "daum.net": "Daum",
    "kagi.com": "Kagi",
    "mojeek.com": "Mojeek",
    "you.com": "You.com",
    "metager.org": "MetaGer",
    "metager.de": "MetaGer",
    "swisscows.com": "Swisscows",
    "presearch.com": "Presearch",
    "perplexity.ai": "Perplexity",
    "chatgpt.com": "ChatGPT",
    "chat.openai.com": "ChatGPT",
    "copilot.microsoft.com": "Copilot",
    "gemini.google.com": "Gemini",
    "claude.ai": "Claude",
    # Social networks and communities
    "facebook.com": "Facebook",
    "fb.com": "Facebook",
    "fb.me": "Facebook",
    "messenger.com": "Messenger",
    "instagram.com": "Instagram",
    "threads.net": "Threads",
    "threads.com": "Threads",
    "twitter.com": "Twitter",
    "x.com": "Twitter",
    "t.co": "Twitter",
    "linkedin.com": "LinkedIn",
    "lnkd.in": "LinkedIn",
    "reddit.com": "Reddit",
    "redd.it": "Reddit",
    "youtube.com": "YouTube",
    "youtu.be": "YouTube",
    "tiktok.com": "TikTok",
    "news.ycombinator.com": "Hacker News",
    "lobste.rs": "Lobsters",
    "producthunt.com": "Product Hunt",
    "bsky.app": "Bluesky",
    "mastodon.social": "Mastodon",
    "mastodon.online": "Mastodon",
    "mstdn.social": "Mastodon",
    "fosstodon.org": "Mastodon",
    "hachyderm.io": "Mastodon",
    "infosec.exchange": "Mastodon",
    "tumblr.com": "Tumblr",
    "vk.com": "VK",
    "ok.ru": "Odnoklassniki",
    "weibo.com": "Weibo",
    "quora.com": "Quora",
    "snapchat.com": "Snapchat",
    "twitch.tv": "Twitch",
    "discord.com": "Discord",
    "discordapp.com": "Discord",
    "t.me": "Telegram",
    "telegram.org": "Telegram",
    "whatsapp.com": "WhatsApp",
    "slack.com": "Slack",
    "teams.microsoft.com": "Microsoft Teams",
    "statics.teams.cdn.office.net": "Microsoft Teams",
    "linktr.ee": "Linktree",
    "flipboard.com": "Flipboard",
    "feedly.com": "Feedly",
    # Knowledge and code
    "wikipedia.org": "Wikipedia",
    "github.com": "GitHub",
    "gitlab.com": "GitLab",
    "stackoverflow.com": "Stack Overflow",
    "medium.com": "Medium",
    "substack.com": "Substack",
    "dev.to": "DEV",
    # Mail and Google's other products (more specific than the "google" brand below)
    "mail.google.com": "Gmail",
    "news.google.com": "Google News",
    "scholar.google.com": "Google Scholar",
    "outlook.live.com": "Outlook",
    "outlook.office.com": "Outlook",
    "outlook.office365.com": "Outlook",
    "mail.yahoo.com": "Yahoo Mail",
}

# Brands on many country domains: matched as "<brand>.<tld>" or "<brand>.<co|com|...>.<cc>",
# so "google.co.uk", "www.google.com.br" and "yandex.kz" count while "google.evil.com" doesn't.
SOURCES_BY_BRAND: dict[str, str] = {
    "google": "Google",
    "yahoo": "Yahoo",
    "yandex": "Yandex",
    "pinterest": "Pinterest",
    "amazon": "Amazon",
}
_SECOND_LEVEL_LABELS = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "or", "ne"})

# Android app referrers ("android-app://<package>/") -> source name; others keep the package.
SOURCES_BY_ANDROID_APP: dict[str, str] = {
    "com.google.android.gm": "Gmail",
    "com.google.android.googlequicksearchbox": "Google",
    "com.google.android.youtube": "YouTube",
    "com.google.android.apps.messaging": "Google Messages",
    "com.facebook.katana": "Facebook",
    "com.facebook.lite": "Facebook",
    "com.facebook.orca": "Messenger",
    "com.instagram.android": "Instagram",
    "com.instagram.barcelona": "Threads",
    "com.twitter.android": "Twitter",
    "com.linkedin.android": "LinkedIn",
    "com.reddit.frontpage": "Reddit",
    "com.zhiliaoapp.musically": "TikTok",
    "com.pinterest": "Pinterest",
    "org.telegram.messenger": "Telegram",
    "com.whatsapp": "WhatsApp",
    "com.slack": "Slack",
    "com.discord": "Discord",
    "com.microsoft.teams": "Microsoft Teams",
    "com.microsoft.office.outlook": "Outlook",
    "com.microsoft.bing": "Bing",
    "com.duckduckgo.mobile.android": "DuckDuckGo",
}

# Shorthands seen in utm_source, lower-cased -> source name. Proper names ("google",
# "hacker news") and known hosts ("x.com") need no line here: they are matched anyway.
SOURCE_ALIASES: dict[str, str] = {
    "fb": "Facebook",
    "fb-ads": "Facebook",
    "facebook-ads": "Facebook",
    "facebook_ads": "Facebook",
    "ig": "Instagram",
    "tw": "Twitter",
    "x": "Twitter",
    "li": "LinkedIn",
    "yt": "YouTube",
    "hn": "Hacker News",
    "gh": "GitHub",
    "adwords": "Google",
    "google-ads": "Google",
    "google_ads": "Google",
    "googleads": "Google",
    "gads": "Google",
    "bing-ads": "Bing",
    "reddit-ads": "Reddit",
    "tiktok-ads": "TikTok",
    "twitter-ads": "Twitter",
    "wiki": "Wikipedia",
}

_PROPER_NAMES: dict[str, str] = {
    name.lower(): name
    for table in (SOURCES_BY_DOMAIN, SOURCES_BY_BRAND, SOURCES_BY_ANDROID_APP)
    for name in table.values()
}


@dataclass(frozen=True, slots=True)
class ReferrerInfo:
    """The source a visit is credited to, and the referrer URL stored with it ("" if none)."""

    source: str
    url: str


def classify_referrer(
    referrer_url: str, page_hostname: str, source_param: str = ""
) -> ReferrerInfo:
    """Credit a hit to a source; `referrer_url` comes from `parse_referrer_url`."""
    scheme, host = _scheme_and_host(referrer_url)
    if not host or _without_www(host) == _without_www(page_hostname.lower()):
        referrer_url = ""
    tagged = source_param.strip()
    if tagged:
        return ReferrerInfo(_tagged_source_name(tagged), referrer_url)
    if not referrer_url:
        return ReferrerInfo(DIRECT, "")
    if scheme == "android-app":
        return ReferrerInfo(SOURCES_BY_ANDROID_APP.get(host, host), referrer_url)
    return ReferrerInfo(_source_for_host(host) or _without_www(host), referrer_url)


def _tagged_source_name(value: str) -> str:
    lowered = value.lower()
    known = SOURCE_ALIASES.get(lowered) or _PROPER_NAMES.get(lowered)
    if known:
        return known
    if "." in lowered:
        host = lowered.removeprefix("https://").removeprefix("http://").partition("/")[0]
        known = _source_for_host(host)
    return known or value


def _source_for_host(host: str) -> str:
    labels = host.split(".")
    for start in range(len(labels) - 1):
        name = SOURCES_BY_DOMAIN.get(".".join(labels[start:]))
        if name:
            return name
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL_LABELS and len(labels[-1]) == 2:
        brand = labels[-3]
    elif len(labels) >= 2:
        brand = labels[-2]
    else:
        return ""
    return SOURCES_BY_BRAND.get(brand, "")


def _scheme_and_host(url: str) -> tuple[str, str]:
    if not url:
        return "", ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "", ""
    return parts.scheme.lower(), host.removesuffix(".")


def _without_www(host: str) -> str:
    return host.removeprefix("www.")
