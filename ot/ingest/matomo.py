"""The Matomo Tracking HTTP API (`/matomo.php`, one request or a bulk body) turned into hits.

What a request becomes (checked in this order):
- `ping=1` (a heartbeat, which only lengthens a visit in Matomo): nothing is recorded.
- `idgoal`: `idgoal=0` with `ec_id` is an ecommerce order, the event "Ecommerce Order" whose
  `revenue` (required) is returned apart as `revenue_amount`, because Matomo sends no currency;
  its event id is derived from `ec_id`, so a re-sent order counts once (as in Matomo). A cart
  update (`idgoal=0`, no `ec_id`) and a goal conversion (`idgoal` > 0: we keep no Matomo goals)
  record nothing. `ec_items`, `ec_st`, `ec_tx`, `ec_sh`, `ec_dt` are ignored.
- an event: `e_c` (category) and `e_a` (action) come together, trimmed as Matomo trims them;
  the hit is named after the action, with props {"category": e_c, "label": e_n, "value": e_v}
  where empty ones are left out. `e_v` must be a number.
- `link`: the event "Outbound Link: Click" with props {"url": link}; `download`: the event
  "File Download" with props {"url": download}. These are the names Plausible's script uses.
- content tracking (`c_n`, `c_i`) and other custom actions (`ca=1`: media, crash analytics...)
  record nothing: Matomo documents that such requests are never page views.
- anything else is a page view of `url` (a site search too; its keyword is not kept). The page
  title `action_name` is not stored.

The visitor is the hashed `uid` (never kept raw), else `cid`, else `_id`. `cip` and `cdt` come
back apart from the hit: the caller applies them only for a valid `token_auth` (Matomo lets a
`cdt` younger than 24 hours through without one). Messages never quote what the client sent.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl

from ot.errors import InvalidInput
from ot.ingest._fields import (
    decimal_amount,
    decimal_text,
    event_name,
    json_object_body,
    page_url,
    referrer_url,
    utf8_length,
)
from ot.ingest.hit import PAGEVIEW, IncomingHit, PayloadLimits

OUTBOUND_LINK = "Outbound Link: Click"
FILE_DOWNLOAD = "File Download"
ECOMMERCE_ORDER = "Ecommerce Order"

MAX_SITE_ID = 2**31 - 1  # fits every integer column a site id lives in
USER_ID_PREFIX = "uid-"
ORDER_ID_PREFIX = "ec-"

_SMALL_NUMBER = re.compile(r"\d{1,10}")  # int() of a 5,000-digit string would raise, not parse
_VISITOR_HEX = re.compile(r"[0-9a-fA-F]{16}")
_SCREEN = re.compile(r"(\d{1,5})[xX](\d{1,5})")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_UNIX_TIME = re.compile(r"(\d{1,11})(?:\.(\d{1,9}))?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class MatomoRequest:
    """One validated Matomo tracking request.

    `hit` is None for requests that record nothing (see the module docstring). `override_ip` and
    `override_time` (aware, UTC) are what `cip` and `cdt` asked for; they are not applied to the
    hit, since only the caller can check `token_auth` against the database. `revenue_amount` is
    an ecommerce order's revenue, in the site's currency, which Matomo does not send.
    """

    hit: IncomingHit | None
    token_auth: str | None
    override_ip: str | None
    override_time: datetime | None
    revenue_amount: Decimal | None = None


@dataclass(slots=True)
class _Action:
    name: str
    props: dict[str, str] = field(default_factory=dict)
    event_id: str | None = None
    revenue_amount: Decimal | None = None


def parse_tracking_request(
    params: Mapping[str, str],
    *,
    user_agent: str,
    ip: str,
    limits: PayloadLimits,
    do_not_track: bool = False,
) -> MatomoRequest:
    """Validate one tracking request's (already URL-decoded) parameters."""
    site_id = _site_id(_param(params, "idsite"))
    if _param(params, "rec").strip() != "1":
        raise InvalidInput("rec must be 1 for a request to be recorded", field="rec")
    request = MatomoRequest(
        hit=None,
        token_auth=_param(params, "token_auth").strip() or None,
        override_ip=_override_ip(_param(params, "cip")),
        override_time=_override_time(_param(params, "cdt")),
    )
    action = _action(params, limits)
    if action is None:
        return request
    request.revenue_amount = action.revenue_amount
    request.hit = IncomingHit(
        name=action.name,
        url=page_url(params.get("url"), limits),
        user_agent=_param(params, "ua").strip() or user_agent,
        ip=ip,
        site_id=site_id,
        referrer=referrer_url(params.get("urlref"), limits, field="urlref"),
        props=action.props,
        client_visitor_id=_visitor_id(params, limits),
        event_id=action.event_id,
        language=_language(_param(params, "lang")),
        screen=_screen(_param(params, "res")),
        do_not_track=do_not_track,
    )
    return request


def parse_bulk_body(
    body: bytes, *, limits: PayloadLimits
) -> tuple[list[dict[str, str]], str | None]:
    """Split a bulk body, {"requests": ["?idsite=1&rec=1&url=...", {...}], "token_auth": "..."},
    into one parameter dict per request (in order) and the top-level token.

    A request is a query string, with or without its leading "?" (or a whole tracker URL), or an
    object of scalar values. An ill-formed request refuses the whole body, naming its index;
    each dict still goes through `parse_tracking_request`. A request's own `token_auth`, if any,
    stays in its dict: Matomo uses the top-level one first.
    """
    payload = json_object_body(body, limits, what="with a requests list")
    requests = payload.get("requests")
    if not isinstance(requests, list):
        raise InvalidInput("requests must be a list of tracking requests", field="requests")
    if len(requests) > limits.max_bulk_requests:
        raise InvalidInput(
            f"requests holds more than {limits.max_bulk_requests} requests", field="requests"
        )
    params = [_bulk_params(item, field=f"requests[{index}]") for index, item in enumerate(requests)]
    return params, _bulk_token(payload.get("token_auth"))


def _param(params: Mapping[str, str], name: str) -> str:
    return params.get(name) or ""


def _site_id(value: str) -> int:
    text = value.strip()
    if not text:
        raise InvalidInput("idsite is required", field="idsite")
    if not _SMALL_NUMBER.fullmatch(text) or not 0 < int(text) <= MAX_SITE_ID:
        raise InvalidInput("idsite must be a positive whole number", field="idsite")
    return int(text)


def _override_ip(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidInput("cip must be an IPv4 or IPv6 address", field="cip") from None
    # "::ffff:1.2.3.4" is the IPv4 client seen through an IPv6 socket: keep it as IPv4.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return str(mapped or address)


def _override_time(value: str) -> datetime | None:
    """`cdt`: unix seconds, or a UTC date and time ("2011-04-05 00:11:42", or ISO 8601 as some
    clients send). Whether it is recent, or in the future, is for the caller, who knows now."""
    text = value.strip()
    if not text:
        return None
    unix = _UNIX_TIME.fullmatch(text)
    if unix:
        fraction = (unix.group(2) or "")[:6].ljust(6, "0")
        return _EPOCH + timedelta(seconds=int(unix.group(1)), microseconds=int(fraction))
    try:
        moment = datetime.fromisoformat(text)
        # Matomo reads a datetime without offset as UTC; one with an offset is converted.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(
            "cdt must be unix seconds or a UTC date and time (YYYY-MM-DD HH:MM:SS)", field="cdt"
        ) from None


def _action(params: Mapping[str, str], limits: PayloadLimits) -> _Action | None:
    """What the request records, or None when it records nothing we keep."""
    if _param(params, "ping").strip() == "1":
        return None
    if _param(params, "idgoal").strip():
        return _goal(params, limits)
    event = _event(params, limits)
    if event is not None:
        return event
    for parameter, name in (("link", OUTBOUND_LINK), ("download", FILE_DOWNLOAD)):
        target = _param(params, parameter).strip()
        if target:
            return _Action(name, {"url": _prop_value(target, limits, field=parameter)})
    if _param(params, "c_n").strip() or _param(params, "c_i").strip():
        return None
    if _param(params, "ca").strip() == "1":
        return None
    return _Action(PAGEVIEW)


def _goal(params: Mapping[str, str], limits: PayloadLimits) -> _Action | None:
    goal = _param(params, "idgoal").strip()
    if not _SMALL_NUMBER.fullmatch(goal):
        raise InvalidInput("idgoal must be a whole number", field="idgoal")
    order_id = _param(params, "ec_id").strip()
    if int(goal) != 0 or not order_id:
        return None
    amount = decimal_amount(_param(params, "revenue").strip() or None, field="revenue")
    if amount is None:
        raise InvalidInput("revenue is required for an ecommerce order", field="revenue")
    event_id = (ORDER_ID_PREFIX + _digest(order_id))[: limits.max_event_id_length]
    return _Action(ECOMMERCE_ORDER, event_id=event_id, revenue_amount=amount)


def _event(params: Mapping[str, str], limits: PayloadLimits) -> _Action | None:
    category = _param(params, "e_c").strip()
    action = _param(params, "e_a").strip()
    if not category and not action:
        return None
    if not category:
        raise InvalidInput("e_c (event category) must come with e_a", field="e_c")
    if not action:
        raise InvalidInput("e_a (event action) must come with e_c", field="e_a")
    name = event_name(action, limits, field="e_a")
    if name == PAGEVIEW:
        # The action names the hit: "pageview" would turn an event into a page view.
        raise InvalidInput("e_a must not be 'pageview', the name of page views", field="e_a")
    props = {"category": _prop_value(category, limits, field="e_c")}
    label = _param(params, "e_n").strip()
    if label:
        props["label"] = _prop_value(label, limits, field="e_n")
    value = _param(params, "e_v").strip()
    if value:
        if decimal_text(value) is None:
            raise InvalidInput("e_v (event value) must be a number", field="e_v")
        props["value"] = _prop_value(value, limits, field="e_v")
    return _Action(name, props)


def _prop_value(text: str, limits: PayloadLimits, *, field: str) -> str:
    if utf8_length(text, field=field) > limits.max_prop_value_length:
        raise InvalidInput(
            f"{field} is longer than {limits.max_prop_value_length} bytes", field=field
        )
    return text


def _visitor_id(params: Mapping[str, str], limits: PayloadLimits) -> str | None:
    user_id = _param(params, "uid")
    if user_id.strip():
        # The user id is often an e-mail address: keep only a digest, which still follows the
        # same user from device to device.
        return (USER_ID_PREFIX + _digest(user_id))[: limits.max_visitor_id_length]
    for parameter in ("cid", "_id"):
        visitor = _param(params, parameter).strip()
        if visitor:
            if not _VISITOR_HEX.fullmatch(visitor):
                raise InvalidInput(
                    f"{parameter} must be 16 hexadecimal characters", field=parameter
                )
            return visitor.lower()
    return None


def _digest(text: str) -> str:
    """32 hex characters standing for `text`; surrogates pass so any decoded string hashes."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _language(value: str) -> str | None:
    """The visitor's preferred language: the first tag of an Accept-Language value, lower-cased
    as Matomo stores it ("en-us"). A value that holds none ("*", garbage) is only a missing hint."""
    first = value.split(",", 1)[0].split(";", 1)[0].strip()
    return first.lower() if _LANGUAGE_TAG.fullmatch(first) else None


def _screen(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    size = _SCREEN.fullmatch(text)
    if size is None or int(size.group(1)) == 0 or int(size.group(2)) == 0:
        raise InvalidInput("res must be WIDTHxHEIGHT in pixels, as 1920x1080", field="res")
    return f"{int(size.group(1))}x{int(size.group(2))}"


def _bulk_params(item: object, *, field: str) -> dict[str, str]:
    if isinstance(item, str):
        try:
            return dict(_query_pairs(item))
        except ValueError:  # percent-escapes that are not UTF-8
            raise InvalidInput(f"{field} is not a valid query string", field=field) from None
    if isinstance(item, dict):
        params: dict[str, str] = {}
        for key, value in item.items():
            if value is None:
                continue
            text = _scalar_text(value)
            if text is None:
                raise InvalidInput(f"{field} has a value that is not a scalar", field=field)
            params[key] = text
        return params
    raise InvalidInput(f"{field} must be a query string or an object", field=field)


def _query_pairs(text: str) -> list[tuple[str, str]]:
    query = text.strip().split("#", 1)[0]
    head, question_mark, tail = query.partition("?")
    # "?idsite=1&..." and "https://host/matomo.php?idsite=1&..." both carry the query after the
    # first "?"; "idsite=1&url=https://a/?x=1" is a bare query whose url holds a "?".
    if question_mark and "=" not in head and "&" not in head:
        query = tail
    # Later duplicates win, as in PHP's parse_str.
    return parse_qsl(query, keep_blank_values=True, errors="strict")


def _scalar_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        return str(value)
    return None


def _bulk_token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("token_auth must be a string", field="token_auth")
    return value.strip() or None
