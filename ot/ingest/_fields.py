"""Field rules shared by the Plausible event parser and the pixel parser (and a few by Matomo's).

Every check raises `InvalidInput` naming the field. Messages never quote what the client sent:
values may be personal data or secrets, and error messages end up in logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from ot.errors import InvalidInput
from ot.ingest.hit import PAGEVIEW, IncomingHit, PayloadLimits, Revenue
from ot.json_input import parse_json

# Each field's aliases in the order Plausible reads them: the short name first.
NAME = ("n", "name")
URL = ("u", "url")
DOMAIN = ("d", "domain")
REFERRER = ("r", "referrer")
PROPS = ("m", "meta", "p", "props")
REVENUE = ("revenue", "$")
HASH_MODE = ("h", "hashMode")
INTERACTIVE = ("i", "interactive")
VISITOR_ID = ("vid",)
EVENT_ID = ("eid",)

MAX_DOMAIN_LENGTH = 253  # the longest DNS name
MAX_REVENUE_AMOUNT = Decimal(10) ** 15  # bounded so it fits any numeric column we use

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE_TEXTS = frozenset({"1", "true"})
_FALSE_TEXTS = frozenset({"0", "false"})


def load_json(text: str, *, field: str) -> object:
    """Parse JSON with floats as exact `Decimal`s (so 12.34 stays 12.34), without the NaN and
    Infinity extensions Python's parser would otherwise accept, and nested no deeper than
    `ot.json_input.MAX_DEPTH`."""
    return parse_json(text, field=field, exact_decimals=True)


def json_object_body(body: bytes, limits: PayloadLimits, *, what: str) -> dict[str, object]:
    """A request body that must hold one JSON object (`what` says which, for the message)."""
    if len(body) > limits.max_body_bytes:
        raise InvalidInput(f"body is larger than {limits.max_body_bytes} bytes", field="body")
    try:
        text = body.decode("utf-8-sig")  # tolerate a byte-order mark, as browsers do
    except UnicodeDecodeError:
        raise InvalidInput("body is not UTF-8 text", field="body") from None
    payload = load_json(text, field="body")
    if not isinstance(payload, dict):
        raise InvalidInput(f"body must be a JSON object {what}", field="body")
    return payload


def pick(fields: Mapping[str, object], aliases: tuple[str, ...]) -> object:
    """The value of the first alias that is present and not null, else None."""
    for alias in aliases:
        value = fields.get(alias)
        if value is not None:
            return value
    return None


def utf8_length(text: str, *, field: str) -> int:
    """The stored size of `text`, refusing what no database column can hold."""
    if "\x00" in text:
        # PostgreSQL text columns cannot hold NUL: refuse it here rather than fail the batch.
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates: JSON's \ud800 escapes and surrogate-escaped query strings make them.
        raise InvalidInput(f"{field} is not valid Unicode text", field=field) from None


def event_name(value: object, limits: PayloadLimits, *, field: str = "name") -> str:
    """A required event name; "pageview" is the page view. Plausible takes integers (404)."""
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if not value.strip():
        raise InvalidInput(f"{field} must not be blank", field=field)
    utf8_length(value, field=field)
    if len(value) > limits.max_event_name_length:
        raise InvalidInput(
            f"{field} is longer than {limits.max_event_name_length} characters", field=field
        )
    return PAGEVIEW if value == "pageview" else value


def page_url(value: object, limits: PayloadLimits, *, field: str = "url") -> str:
    """A required page URL: only type, presence and size here; `ot.ingest.urls` reads it later."""
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if not value.strip():
        raise InvalidInput(f"{field} must not be blank", field=field)
    if utf8_length(value, field=field) > limits.max_url_length:
        raise InvalidInput(f"{field} is longer than {limits.max_url_length} bytes", field=field)
    return value


def referrer_url(value: object, limits: PayloadLimits, *, field: str = "referrer") -> str | None:
    """An optional referrer. An over-long one is cut, as Plausible does: search engines send
    huge referrers, the visit is still real, and only the host and path are kept anyway."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string or null", field=field)
    if not value.strip():
        return None
    if utf8_length(value, field=field) > limits.max_url_length:
        cut = value.encode("utf-8")[: limits.max_url_length]
        value = cut.decode("utf-8", errors="ignore")  # drop a character split by the cut
    return value


def domain_list(value: object, limits: PayloadLimits, *, field: str = "domain") -> tuple[str, ...]:
    """A required comma-separated list of site domains: trimmed, lower-cased, deduplicated."""
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    utf8_length(value, field=field)
    domains: list[str] = []
    for piece in value.split(","):
        domain = piece.strip().lower()
        if domain and domain not in domains:
            domains.append(domain)
    if not domains:
        raise InvalidInput(f"{field} must not be blank", field=field)
    if len(domains) > limits.max_domains:
        raise InvalidInput(f"{field} lists more than {limits.max_domains} domains", field=field)
    if any(len(domain) > MAX_DOMAIN_LENGTH for domain in domains):
        raise InvalidInput(
            f"{field} has a domain longer than {MAX_DOMAIN_LENGTH} characters", field=field
        )
    return tuple(domains)


def custom_props(value: object, limits: PayloadLimits, *, field: str = "props") -> dict[str, str]:
    """Custom properties: an object, or a JSON string of one (older Plausible scripts).

    As in Plausible: strings, numbers and booleans become strings; null values, nested objects
    and arrays, and blank keys or values are dropped without error. Unlike Plausible, more than
    `max_props` properties is an error rather than a silent cut to the first 30.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        value = load_json(value, field=field)
    if value == []:
        return {}  # PHP's json_encode writes an empty props array as []
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object", field=field)
    props: dict[str, str] = {}
    for key, raw in value.items():
        text = _prop_text(raw)
        if text is None or not key.strip() or not text.strip():
            continue
        if utf8_length(key, field=field) > limits.max_prop_key_length:
            raise InvalidInput(
                f"{field} has a key longer than {limits.max_prop_key_length} bytes", field=field
            )
        if utf8_length(text, field=field) > limits.max_prop_value_length:
            raise InvalidInput(
                f"{field} has a value longer than {limits.max_prop_value_length} bytes",
                field=field,
            )
        props[key] = text
    if len(props) > limits.max_props:
        raise InvalidInput(f"{field} has more than {limits.max_props} properties", field=field)
    return props


def _prop_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int, and JSON spells it lower case
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    return None  # null, nested object or array: dropped


def revenue(value: object, *, field: str = "revenue") -> Revenue | None:
    """An optional {"currency": "EUR", "amount": "12.34" | 12.34}, or a JSON string of one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = load_json(value, field=field)
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object with currency and amount", field=field)
    currency = value.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise InvalidInput(f"{field} currency must be a three-letter ISO 4217 code", field=field)
    amount = decimal_amount(value.get("amount"), field=field)
    if amount is None:
        raise InvalidInput(f"{field} amount is required", field=field)
    return Revenue(amount=amount, currency=currency.upper())


def decimal_amount(value: object, *, field: str) -> Decimal | None:
    """A finite, bounded decimal from a JSON number or a decimal string; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        value = decimal_text(value)
        if value is None:
            raise InvalidInput(f"{field} amount must be a decimal number", field=field)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise InvalidInput(f"{field} amount must be a decimal number", field=field)
    # copy_abs, unlike abs(), uses no context: 1e999999999 cannot trap an Overflow here.
    if not (value.is_finite() and value.copy_abs() < MAX_REVENUE_AMOUNT):
        raise InvalidInput(f"{field} amount is out of range", field=field)
    return value


def decimal_text(text: str) -> Decimal | None:
    """The number in `text` ("12.34", "-1e3", " 5 "), or None when it holds none.

    Stricter than `Decimal()`, which also reads "NaN", "Infinity" and "1_000"."""
    text = text.strip()
    if not _DECIMAL_TEXT.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except ArithmeticError:  # an exponent beyond what Decimal can represent
        return None


def flag(value: object, *, default: bool, field: str) -> bool:
    """A yes/no field sent as a JSON boolean, 1/0, or (query strings) "1"/"0"/"true"/"false".
    Null, and an empty query parameter (`i=`), leave the default."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_TEXTS:
            return True
        if text in _FALSE_TEXTS:
            return False
    raise InvalidInput(f"{field} must be true or false", field=field)


def safe_id(value: object, max_length: int, *, field: str) -> str | None:
    """An optional client-made id: up to `max_length` of [A-Za-z0-9_-], nothing to escape."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SAFE_ID.fullmatch(value):
        raise InvalidInput(f"{field} must be letters, digits, '_' or '-'", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters", field=field)
    return value


def hit_from_fields(
    fields: Mapping[str, object],
    *,
    user_agent: str,
    ip: str,
    limits: PayloadLimits,
    do_not_track: bool,
    default_name: str | None = None,
    url_from_domain: bool = False,
) -> IncomingHit:
    """Build an `IncomingHit` from Plausible-named fields (a JSON body or pixel parameters).

    `default_name` stands in for a missing name; `url_from_domain` makes a missing URL
    "https://<first domain>/" (the pixel, which may know no page URL).
    """
    raw_name = pick(fields, NAME)
    name = event_name(default_name if raw_name is None else raw_name, limits)
    domains = domain_list(pick(fields, DOMAIN), limits)
    raw_url = pick(fields, URL)
    if raw_url is None and url_from_domain:
        raw_url = f"https://{domains[0]}/"
    return IncomingHit(
        name=name,
        url=page_url(raw_url, limits),
        user_agent=user_agent,
        ip=ip,
        domains=domains,
        referrer=referrer_url(pick(fields, REFERRER), limits),
        props=custom_props(pick(fields, PROPS), limits),
        revenue=revenue(pick(fields, REVENUE)),
        interactive=flag(pick(fields, INTERACTIVE), default=True, field="interactive"),
        hash_routing=flag(pick(fields, HASH_MODE), default=False, field="hashMode"),
        client_visitor_id=safe_id(
            pick(fields, VISITOR_ID), limits.max_visitor_id_length, field="vid"
        ),
        event_id=safe_id(pick(fields, EVENT_ID), limits.max_event_id_length, field="eid"),
        do_not_track=do_not_track,
    )
