"""A PayPal-compatible fake on loopback: the part of PayPal's REST API (v1) that
`paypalrestsdk` calls for us (OAuth token, payment create and execute, sale refund, webhook
signature verification), answering as PayPal documents, errors in PayPal's shape.

Like PayPal it honours `PayPal-Request-Id`: a POST whose id it has already answered with success
gets that first answer again and changes nothing. It records every request for the tests to read,
and takes orders: `fail_next` (the next request to a path fails with a status and error),
`hold_next` (the next answers to a path wait until `release`, beyond any client timeout; what
the request asked is done first, as when PayPal's answer is lost on the way), `approve` (the payer
approving a payment on PayPal's page) and `sign` (PayPal signing a webhook event).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"
WEBHOOK_ID = "WH-TEST-4GN04418RF4712345"

TOKEN_PATH = "/v1/oauth2/token"
PAYMENTS_PATH = "/v1/payments/payment"
VERIFY_PATH = "/v1/notifications/verify-webhook-signature"

# What "PayPal" signs webhooks with: real PayPal uses an RSA key behind `cert_url`, over
# `transmission_id|transmission_time|webhook_id|crc32(body)`. Here an HMAC over the same string.
_SIGNING_KEY = b"the fake's webhook signing key"

Handler = Callable[[web.Request, Any], Awaitable[tuple[int, dict[str, Any]]]]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: Any  # the JSON sent, or the form text of a token request


@dataclass
class _Order:
    path: str
    count: int


@dataclass
class _Failure(_Order):
    status: int = 500
    name: str = "INTERNAL_SERVICE_ERROR"
    message: str = "An internal service error has occurred."


@dataclass
class FakePayPal:
    endpoint: str = ""  # set once the server listens
    requests: list[RecordedRequest] = field(default_factory=list)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    sales: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    _approvals: dict[str, dict[str, str]] = field(default_factory=dict)
    _answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _holds: list[_Order] = field(default_factory=list)
    _held: int = 0
    _held_changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # What the tests order.

    def fail_next(self, path: str, status: int, name: str, message: str, *, count: int = 1) -> None:
        """The next `count` requests to `path` fail with PayPal's error `name` and `message`,
        before anything is done."""
        self._failures.append(_Failure(path, count, status, name, message))

    def hold_next(self, path: str, *, count: int = 1) -> None:
        """The next `count` answers to `path` wait until `release()`."""
        self._holds.append(_Order(path, count))

    async def wait_held(self, count: int) -> None:
        """Until `count` answers are being held."""
        async with self._held_changed:
            await self._held_changed.wait_for(lambda: self._held >= count)

    def release(self) -> None:
        """Every answer held, and every one held from now on, goes out."""
        self._released.set()

    def approve(self, payment_id: str, *, payer_id: str, email: str) -> None:
        """The payer logs in at the approval URL and approves the payment."""
        self._approvals[payment_id] = {"payer_id": payer_id, "email": email}

    def sign(self, body: bytes) -> dict[str, str]:
        """The headers PayPal would send the event `body` to our webhook with."""
        transmission_id = f"tr-{next(self._ids)}"
        time = "2026-12-06T18:00:00Z"
        signature = _signature(transmission_id, time, WEBHOOK_ID, body)
        return {
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-TRANSMISSION-TIME": time,
        }

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    # The server.

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(TOKEN_PATH, self._token)
        app.router.add_post(PAYMENTS_PATH, self._answering(self._create_payment))
        app.router.add_post(
            PAYMENTS_PATH + "/{payment_id}/execute", self._answering(self._execute_payment)
        )
        app.router.add_post("/v1/payments/sale/{sale_id}/refund", self._answering(self._refund))
        app.router.add_post(VERIFY_PATH, self._answering(self._verify_webhook))
        return app

    async def _record(self, request: web.Request) -> Any:
        text = await request.text()
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        self.requests.append(
            RecordedRequest(request.method, request.path, CIMultiDict(request.headers), body)
        )
        return body

    def _take(self, orders: list[Any], path: str) -> Any:
        for order in orders:
            if order.path == path and order.count > 0:
                order.count -= 1
                return order
        return None

    async def _token(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        failure = self._take(self._failures, request.path)
        if failure:
            return _error(failure.status, failure.name, failure.message)
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response(
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
                status=401,
            )
        if body != "grant_type=client_credentials":
            return web.json_response(
                {"error": "unsupported_grant_type", "error_description": "Grant type not set"},
                status=400,
            )
        token = f"A21AA-fake-token-{next(self._ids)}"
        self.tokens.append(token)
        return web.json_response(
            {
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": 32400,
                "nonce": f"2026-12-06T18:00:00Z{token}",
            }
        )

    def _answering(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """A REST resource's route: authenticated, idempotent by PayPal-Request-Id, failing or
        held as ordered."""

        async def route(request: web.Request) -> web.Response:
            body = await self._record(request)
            failure = self._take(self._failures, request.path)
            if failure:
                return _error(failure.status, failure.name, failure.message)
            authorization = request.headers.get("Authorization", "")
            if authorization.removeprefix("Bearer ") not in self.tokens:
                return _error(
                    401,
                    "AUTHENTICATION_FAILURE",
                    "Authentication failed due to invalid authentication credentials or a "
                    "missing Authorization header.",
                )
            request_id = request.headers.get("PayPal-Request-Id")
            if request_id and request_id in self._answers:
                status, answer = self._answers[request_id]
            else:
                status, answer = await handler(request, body)
                if request_id and status < 300:
                    self._answers[request_id] = (status, answer)
            if self._take(self._holds, request.path):
                await self._hold()
            return web.json_response(answer, status=status, headers={"Paypal-Debug-Id": "d1"})

        return route

    async def _hold(self) -> None:
        async with self._held_changed:
            self._held += 1
            self._held_changed.notify_all()
        await self._released.wait()

    # PayPal's resources.

    async def _create_payment(self, request: web.Request, body: Any) -> tuple[int, dict[str, Any]]:
        problems = _payment_problems(body)
        if problems:
            return _error_answer(400, "VALIDATION_ERROR", "Invalid request - see details", problems)
        payment_id = f"PAYID-FAKE{next(self._ids):06d}"
        base = str(request.url.origin())
        payment = {
            "id": payment_id,
            "intent": "sale",
            "state": "created",
            "payer": {"payment_method": "paypal"},
            "transactions": body["transactions"],
            "create_time": "2026-12-06T18:00:00Z",
            "links": [
                {"href": f"{base}{PAYMENTS_PATH}/{payment_id}", "rel": "self", "method": "GET"},
                {
                    "href": "https://www.sandbox.paypal.com/cgi-bin/webscr"
                    f"?cmd=_express-checkout&token=EC-{payment_id}",
                    "rel": "approval_url",
                    "method": "REDIRECT",
                },
                {
                    "href": f"{base}{PAYMENTS_PATH}/{payment_id}/execute",
                    "rel": "execute",
                    "method": "POST",
                },
            ],
        }
        self.payments[payment_id] = payment
        return 201, payment

    async def _execute_payment(self, request: web.Request, body: Any) -> tuple[int, dict[str, Any]]:
        payment_id = request.match_info["payment_id"]
        payment = self.payments.get(payment_id)
        if payment is None:
            return _error_answer(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found.")
        if payment["state"] != "created":
            return _error_answer(
                400, "PAYMENT_ALREADY_DONE", "Payment has been done already for this cart."
            )
        approval = self._approvals.get(payment_id)
        if approval is None:
            return _error_answer(
                400, "PAYMENT_NOT_APPROVED_FOR_EXECUTION", "Payer has not approved payment"
            )
        if not isinstance(body, dict) or body.get("payer_id") != approval["payer_id"]:
            return _error_answer(
                400,
                "PAYER_ID_INVALID",
                "Payer ID is invalid",
                [{"field": "payer_id", "issue": "Not the payer who approved the payment"}],
            )
        amount = payment["transactions"][0]["amount"]
        sale_id = f"SALE-FAKE{next(self._ids):06d}"
        sale = {
            "id": sale_id,
            "state": "completed",
            "amount": amount,
            "parent_payment": payment_id,
            "refunded": "0",
        }
        self.sales[sale_id] = sale
        payment["state"] = "approved"
        payment["payer"] = {
            "payment_method": "paypal",
            "status": "VERIFIED",
            "payer_info": {
                "email": approval["email"],
                "first_name": "Test",
                "last_name": "Buyer",
                "payer_id": approval["payer_id"],
                "country_code": "NL",
            },
        }
        payment["transactions"][0]["related_resources"] = [{"sale": sale}]
        return 200, payment

    async def _refund(self, request: web.Request, body: Any) -> tuple[int, dict[str, Any]]:
        sale = self.sales.get(request.match_info["sale_id"])
        if sale is None:
            return _error_answer(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found.")
        asked = (body or {}).get("amount") or sale["amount"]
        if asked.get("currency") != sale["amount"]["currency"]:
            return _error_answer(
                400,
                "TRANSACTION_REFUSED",
                "The request was refused",
                [{"field": "amount.currency", "issue": "Not the sale's currency"}],
            )
        total, refunded = Decimal(sale["amount"]["total"]), Decimal(sale["refunded"])
        if refunded + Decimal(asked["total"]) > total:
            return _error_answer(
                400,
                "REFUND_EXCEEDED_TRANSACTION_AMOUNT",
                "Refund amount exceeds transaction amount",
            )
        sale["refunded"] = str(refunded + Decimal(asked["total"]))
        sale["state"] = "refunded" if Decimal(sale["refunded"]) == total else "partially_refunded"
        refund_id = f"REF-FAKE{next(self._ids):06d}"
        refund = {
            "id": refund_id,
            "state": "completed",
            "amount": asked,
            "sale_id": sale["id"],
            "parent_payment": sale["parent_payment"],
        }
        self.refunds[refund_id] = refund
        return 201, refund

    async def _verify_webhook(self, request: web.Request, body: Any) -> tuple[int, dict[str, Any]]:
        wanted = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
            "webhook_event",
        )
        missing = [name for name in wanted if not (isinstance(body, dict) and body.get(name))]
        if missing:
            details = [{"field": name, "issue": "Required field is missing"} for name in missing]
            return _error_answer(400, "VALIDATION_ERROR", "Invalid data provided", details)
        # Like PayPal, the signature is checked over the event's bytes as they were signed.
        event = _member_as_sent(await request.text(), "webhook_event").encode()
        expected = _signature(
            body["transmission_id"], body["transmission_time"], body["webhook_id"], event
        )
        genuine = body["webhook_id"] == WEBHOOK_ID and hmac.compare_digest(
            expected, body["transmission_sig"]
        )
        return 200, {"verification_status": "SUCCESS" if genuine else "FAILURE"}


def _signature(transmission_id: str, time: str, webhook_id: str, event: bytes) -> str:
    signed = f"{transmission_id}|{time}|{webhook_id}|{binascii.crc32(event)}".encode()
    return base64.b64encode(hmac.new(_SIGNING_KEY, signed, hashlib.sha256).digest()).decode()


def _member_as_sent(text: str, name: str) -> str:
    """The text of member `name` of the JSON object `text`, as it stands there."""
    decoder = json.JSONDecoder()
    index = text.index("{") + 1
    while True:
        index = _after_space(text, index)
        if text[index] == "}":
            raise KeyError(name)
        key, index = decoder.raw_decode(text, index)
        index = _after_space(text, _after_space(text, index) + 1)  # past the colon
        start = index
        _, index = decoder.raw_decode(text, index)
        if key == name:
            return text[start:index]
        index = _after_space(text, index)
        if text[index] == ",":
            index += 1


def _after_space(text: str, index: int) -> int:
    while text[index] in " \t\r\n":
        index += 1
    return index


def _payment_problems(body: Any) -> list[dict[str, str]]:
    """What PayPal's validation would name in a payment to create."""
    if not isinstance(body, dict):
        return [{"field": "body", "issue": "Request body is not a JSON object"}]
    problems = []
    if body.get("intent") != "sale":
        problems.append({"field": "intent", "issue": "Value is invalid"})
    if (body.get("payer") or {}).get("payment_method") != "paypal":
        problems.append({"field": "payer.payment_method", "issue": "Value is invalid"})
    urls = body.get("redirect_urls") or {}
    for name in ("return_url", "cancel_url"):
        if not str(urls.get(name, "")).startswith(("http://", "https://")):
            problems.append({"field": f"redirect_urls.{name}", "issue": "Value is invalid"})
    transactions = body.get("transactions") or [{}]
    amount = transactions[0].get("amount") or {}
    try:
        total = Decimal(str(amount.get("total")))
        exact = total == total.quantize(Decimal("0.01")) and total > 0
    except InvalidOperation:
        exact = False
    if not exact:
        problems.append(
            {
                "field": "transactions[0].amount.total",
                "issue": "Currency amount must be non-negative number, may optionally "
                "contain exactly 2 decimal places separated by '.'",
            }
        )
    if len(str(amount.get("currency", ""))) != 3:
        problems.append({"field": "transactions[0].amount.currency", "issue": "Value is invalid"})
    if len(str(transactions[0].get("description", ""))) > 127:
        problems.append(
            {"field": "transactions[0].description", "issue": "Length must be 127 or less"}
        )
    return problems


def _error_answer(
    status: int, name: str, message: str, details: list[dict[str, str]] | None = None
) -> tuple[int, dict[str, Any]]:
    answer: dict[str, Any] = {
        "name": name,
        "message": message,
        "debug_id": "f1d2c3b4a5e6",
        "information_link": f"https://developer.paypal.com/docs/api/payments/#errors/{name}",
    }
    if details:
        answer["details"] = details
    return status, answer


def _error(
    status: int, name: str, message: str, details: list[dict[str, str]] | None = None
) -> web.Response:
    status, answer = _error_answer(status, name, message, details)
    return web.json_response(answer, status=status)


@pytest.fixture
async def paypal(aiohttp_server: Any) -> AsyncIterator[FakePayPal]:
    """PayPal as the SDK sees it, on a loopback port (`endpoint`). Answers still held when the
    test ends are released, so the server can stop."""
    fake = FakePayPal()
    server = await aiohttp_server(fake.app())
    fake.endpoint = str(server.make_url("/")).rstrip("/")
    try:
        yield fake
    finally:
        fake.release()
