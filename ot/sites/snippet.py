"""The tracking snippet a customer pastes into their pages, matching the site's settings."""

from __future__ import annotations

from html import escape

from ot.config import Settings
from ot.models import Site
from ot.privacy import VisitorMode


def collector_url(settings: Settings) -> str:
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/")
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{settings.server.port}"


def tracking_snippet(site: Site, settings: Settings) -> str:
    attributes = [f'data-domain="{escape(site.domain)}"']
    if site.visitor_mode == VisitorMode.COOKIE:
        attributes.append('data-visitor="cookie"')
    if site.hash_routing:
        attributes.append("data-hash")
    if site.respect_do_not_track:
        attributes.append("data-respect-dnt")
    base = collector_url(settings)
    script = f'<script defer {" ".join(attributes)} src="{base}/js/ot.js"></script>'
    noscript = (
        f'<noscript><img src="{base}/pixel.gif?d={escape(site.domain)}" alt="" '
        'referrerpolicy="no-referrer-when-downgrade"></noscript>'
    )
    return f"{script}\n{noscript}"
