"""Collector handlers: parse the request, let the core enrich and commit it, answer.

The answer goes out only after the hits are committed (see ot.ingest.writer).
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qsl

from aiohttp import web

from ot import metrics
from ot.accounts.api_keys import token_may_track
from ot.clock import utcnow
from ot.errors import InvalidInput, OtError
from ot.ingest import matomo, pixel, plausible
from ot.ingest.collector import DropReason
from ot.ingest.hit import IncomingHit, Revenue
from ot.server.answers import NO_STORE, json_answer
from ot.server.app_keys import COLLECTOR, ENGINE, LIMITS, TRACKER_SCRIPT
from ot.server.auth import RouteNeeds, endpoint
from ot.server.bodies import read_body
from ot.server.clients import client_ip_of, header_text
from ot.server.errors import domain_error_response

# The smallest transparent GIF, as image beacons return.
TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _client(request: web.Request) -> tuple[str, str, bool]:
    """The visitor's IP, User-Agent and Do-Not-Track wish."""
    ip = client_ip_of(request)
    user_agent = header_text(request, "User-Agent")
    do_not_track = request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"
    return ip, user_agent, do_not_track


def _rejected(endpoint: str, error: OtError) -> None:
    metrics.requests_rejected.labels(endpoint, error.code).inc()


async def _collect(request: web.Request, endpoint: str, incomings: list[IncomingHit]) -> None:
    collector = request.app[COLLECTOR]
    try:
        await collector.collect(incomings, endpoint=endpoint, now=utcnow())
    except OtError as error:
        _rejected(endpoint, error)
        raise


# Plausible's names for the fields its 400 answers name ({"errors": {"<key>": [...]}}).
_PLAUSIBLE_ERROR_KEYS = {"body": "request", "name": "event_name"}


def plausible_error(error: OtError) -> web.Response:
    """Our error shape plus Plausible's `errors` object, so clients of either understand it."""
    response = domain_error_response(error)
    if response.status == 400:
        key = _PLAUSIBLE_ERROR_KEYS.get(error.field or "", error.field or "request")
        body = {
            "errors": {key: [error.message]},
            "error": {"code": error.code, "message": error.message, "field": error.field},
        }
        response = json_answer(body, status=400)
    return response


@endpoint(RouteNeeds.COLLECTOR, summary="Record a pageview or custom event (Plausible Events API)")
async def plausible_event(request: web.Request) -> web.StreamResponse:
    """POST /api/event — the Plausible Events API."""
    ip, user_agent, do_not_track = _client(request)
    try:
        body = await read_body(request)
        incoming = plausible.parse_event(
            body,
            user_agent=user_agent,
            ip=ip,
            limits=request.app[LIMITS],
            do_not_track=do_not_track,
        )
        if incoming.name == plausible.ENGAGEMENT:
            # Plausible's newer script reports time on page when a page is left; it is not a
            # custom event and we do not use it yet, so it is acknowledged and not stored.
            metrics.hits_dropped.labels(DropReason.ENGAGEMENT).inc()
            return web.Response(status=202, text="ok", headers=NO_STORE)
        await request.app[COLLECTOR].collect([incoming], endpoint="plausible", now=utcnow())
    except OtError as error:
        _rejected("plausible", error)
        return plausible_error(error)
    return web.Response(status=202, text="ok", headers=NO_STORE)


@endpoint(RouteNeeds.COLLECTOR, summary="Record a pageview from a tracking pixel")
async def pixel_gif(request: web.Request) -> web.StreamResponse:
    """GET /pixel.gif — the image beacon for pages and e-mails without JavaScript."""
    ip, user_agent, do_not_track = _client(request)
    params = dict(request.query)
    referer = header_text(request, "Referer")
    if "u" not in params and "url" not in params and referer.startswith(("http://", "https://")):
        params["u"] = referer  # the page that shows the image, when it sends its address
    try:
        incoming = pixel.parse_pixel(
            params,
            user_agent=user_agent,
            ip=ip,
            limits=request.app[LIMITS],
            do_not_track=do_not_track,
        )
    except OtError as error:
        _rejected("pixel", error)
        raise
    await _collect(request, "pixel", [incoming])
    return web.Response(body=TRANSPARENT_GIF, content_type="image/gif", headers=NO_STORE)


async def _matomo_params(request: web.Request) -> tuple[list[dict[str, str]], str | None, bool]:
    """The tracking requests of a Matomo call: its parameter dicts, the bulk token, and whether
    it was a bulk request."""
    params = dict(request.query)
    if request.method != "POST":
        return [params], None, False
    body = await read_body(request)
    if body.lstrip()[:1] == b"{":
        requests, token = matomo.parse_bulk_body(body, limits=request.app[LIMITS])
        return requests, token, True
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the request body is not UTF-8", field="body") from None
        params.update(parse_qsl(text, keep_blank_values=True))
    return [params], None, False


async def _matomo_hit(
    request: web.Request,
    params: dict[str, str],
    bulk_token: str | None,
    *,
    user_agent: str,
    ip: str,
    do_not_track: bool,
) -> IncomingHit | None:
    """One Matomo tracking request as a hit (None: it records nothing), its overrides of the
    visitor's address and time checked against the token that allows them."""
    parsed = matomo.parse_tracking_request(
        params,
        user_agent=user_agent,
        ip=ip,
        limits=request.app[LIMITS],
        do_not_track=do_not_track,
    )
    if parsed.hit is None:
        return None
    if parsed.revenue_amount is not None and parsed.hit.revenue is None:
        # Matomo orders carry no currency (it is a site setting there): "XXX" is ISO 4217's
        # code for "no currency".
        parsed.hit.revenue = Revenue(parsed.revenue_amount, "XXX")
    if parsed.override_ip or parsed.override_time:
        token = bulk_token or parsed.token_auth  # Matomo: the bulk token comes first
        site_id = parsed.hit.site_id or 0
        if not token or not await token_may_track(request.app[ENGINE], token, site_id):
            raise InvalidInput(
                "cip and cdt need a token_auth of the account that owns the site",
                field="token_auth",
            )
        if parsed.override_ip:
            parsed.hit.ip = parsed.override_ip
        if parsed.override_time:
            parsed.hit.timestamp = parsed.override_time
    return parsed.hit


@endpoint(RouteNeeds.COLLECTOR, summary="Record hits (Matomo Tracking API, single or bulk)")
async def matomo_tracking(request: web.Request) -> web.StreamResponse:
    """GET|POST /matomo.php (and /piwik.php) — the Matomo Tracking HTTP API, incl. bulk."""
    ip, user_agent, do_not_track = _client(request)
    try:
        requests, bulk_token, is_bulk = await _matomo_params(request)
    except OtError as error:
        _rejected("matomo", error)
        raise
    incomings: list[IncomingHit] = []
    positions: list[int] = []  # each incoming's index among the requests
    invalid: list[int] = []
    for index, params in enumerate(requests):
        try:
            hit = await _matomo_hit(
                request, params, bulk_token, user_agent=user_agent, ip=ip, do_not_track=do_not_track
            )
        except OtError as error:
            _rejected("matomo", error)
            if not is_bulk:
                raise
            invalid.append(index)
            continue
        if hit is not None:
            incomings.append(hit)
            positions.append(index)
    if incomings:
        try:
            outcome = await request.app[COLLECTOR].collect(
                incomings, endpoint="matomo", now=utcnow(), partial=is_bulk
            )
        except OtError as error:
            _rejected("matomo", error)
            raise
        for position, refusal in outcome.refused:
            _rejected("matomo", refusal)
            invalid.append(positions[position])
        invalid.sort()
    if is_bulk:
        return json_answer(
            {
                "status": "success",
                "tracked": len(requests) - len(invalid),
                "invalid": len(invalid),
                "invalid_indices": invalid,
            },
            headers=NO_STORE,
        )
    if requests[0].get("send_image") == "0":
        return web.Response(status=204, headers=NO_STORE)
    return web.Response(body=TRANSPARENT_GIF, content_type="image/gif", headers=NO_STORE)


@endpoint(RouteNeeds.COLLECTOR, summary="The tracker script")
async def tracker_script(request: web.Request) -> web.StreamResponse:
    """GET /js/ot.js — our tracker, cached by browsers and revalidated by its ETag."""
    script = request.app[TRACKER_SCRIPT]
    etag = '"' + hashlib.sha256(script).hexdigest()[:16] + '"'
    headers = {"Cache-Control": "public, max-age=3600", "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=script, content_type="application/javascript", charset="utf-8", headers=headers
    )
