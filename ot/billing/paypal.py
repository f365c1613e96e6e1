"""The payment gateway through PayPal's REST API (v1 payments) and its SDK, `paypalrestsdk`: the
one module that imports the SDK (import-linter holds everything else to that).

The SDK is blocking (`requests` underneath), so every call runs in a thread and the event loop
never waits on PayPal. Each gateway has its own `Api` (never the SDK's global `configure`) with
a timeout on every request, which the SDK itself does not set. Every POST carries the caller's
`PayPal-Request-Id`; a request that timed out, could not connect or met a PayPal 5xx is sent
again with the same id, so PayPal answers a retry of what it already did with its first answer.
A webhook is verified by asking PayPal, the event sent back in the bytes PayPal signed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import paypalrestsdk
import requests
from paypalrestsdk import exceptions as sdk_errors
from paypalrestsdk.resource import Resource

from ot.billing.gateway import (
    CreatedPayment,
    ExecutedPayment,
    GatewayRefused,
    GatewayUnavailable,
    PaymentGateway,
    Refund,
)
from ot.config import PayPalSettings
from ot.errors import InvalidInput
from ot.json_input import parse_json

log = logging.getLogger(__name__)

# In sandbox mode the SDK logs every request's headers and body at DEBUG (the client's secret in
# the token call's Basic header, access tokens, payers' e-mail addresses): none of that may reach
# our log, whatever its level.
logging.getLogger("paypalrestsdk").setLevel(logging.WARNING)

T = TypeVar("T")

VERIFY_WEBHOOK_PATH = "v1/notifications/verify-webhook-signature"
# verify-webhook-signature's fields, and the headers PayPal sends each webhook with them in.
SIGNATURE_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}
# Currencies PayPal takes in whole units only; every other one it takes with two decimals.
WHOLE_UNIT_CURRENCIES = {"HUF", "JPY", "TWD"}
MAX_REQUEST_ID_LENGTH = 108  # PayPal's limit for PayPal-Request-Id


class _TimedApi(paypalrestsdk.Api):
    """The SDK's `Api` with a timeout on each HTTP request: the SDK hands none to `requests`, so
    a PayPal that never answers would hold a thread for ever."""

    def __init__(self, *, timeout_seconds: float, **options: Any) -> None:
        super().__init__(options)
        self.timeout_seconds = timeout_seconds

    def http_call(self, url: str, method: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout_seconds)
        return super().http_call(url, method, **kwargs)


class PayPalGateway(PaymentGateway):  # named, so that mypy checks it keeps the protocol
    """The payment gateway through PayPal. `attempts`: how often a request is
    sent before PayPal counts as unavailable; `pause_seconds`: the wait before each retry
    (tests make it 0)."""

    def __init__(
        self, settings: PayPalSettings, *, attempts: int = 3, pause_seconds: float = 1.0
    ) -> None:
        if not settings.client_id or not settings.client_secret:
            raise ValueError(
                "PayPal is not configured: set OT_PAYPAL__CLIENT_ID and OT_PAYPAL__CLIENT_SECRET"
            )
        options: dict[str, Any] = {
            "mode": settings.mode,
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
        }
        if settings.endpoint:
            options["endpoint"] = settings.endpoint
        self._api = _TimedApi(timeout_seconds=settings.request_timeout_seconds, **options)
        self._webhook_id = settings.webhook_id
        self._timeout_seconds = settings.request_timeout_seconds
        self._attempts = attempts
        self._pause_seconds = pause_seconds

    async def create_payment(
        self,
        *,
        reference: str,
        amount: Decimal,
        currency: str,
        description: str,
        return_url: str,
        cancel_url: str,
        request_id: str,
    ) -> CreatedPayment:
        _check_request_id(request_id)
        payment = paypalrestsdk.Payment(
            {
                "intent": "sale",
                "payer": {"payment_method": "paypal"},
                "redirect_urls": {"return_url": return_url, "cancel_url": cancel_url},
                "transactions": [
                    {
                        "amount": paypal_amount(amount, currency),
                        "description": description,
                        # PayPal shows it to the payer and, when the merchant's account asks
                        # for it, refuses a second payment of the same invoice number.
                        "invoice_number": reference,
                    }
                ],
            },
            api=self._api,
        )
        payment.request_id = request_id  # the SDK sends it as PayPal-Request-Id
        await self._send("create a payment", request_id, payment.create)
        if payment.error:
            raise refusal(payment.error)
        [approval_url] = [link.href for link in payment.links if link.rel == "approval_url"]
        return CreatedPayment(payment_id=payment.id, approval_url=approval_url)

    async def execute_payment(
        self, *, payment_id: str, payer_id: str, request_id: str
    ) -> ExecutedPayment:
        _check_request_id(request_id)
        _check_paypal_id(payment_id, "payment_id")
        payment = paypalrestsdk.Payment({"id": payment_id}, api=self._api)
        execution = _carrying(request_id, {"payer_id": payer_id}, self._api)
        await self._send("execute a payment", request_id, lambda: payment.execute(execution))
        if payment.error:
            raise refusal(payment.error)
        sale = payment.transactions[0].related_resources[0].sale
        payer = payment.payer.payer_info
        return ExecutedPayment(
            payment_id=payment.id,
            sale_id=sale.id,
            state=sale.state,
            payer_id=payer.payer_id,
            payer_email=payer.email,
        )

    async def refund_sale(
        self, *, sale_id: str, amount: Decimal, currency: str, request_id: str
    ) -> Refund:
        _check_request_id(request_id)
        _check_paypal_id(sale_id, "sale_id")
        sale = paypalrestsdk.Sale({"id": sale_id}, api=self._api)
        asked = _carrying(request_id, {"amount": paypal_amount(amount, currency)}, self._api)
        refund = await self._send("refund a sale", request_id, lambda: sale.refund(asked))
        if refund.error:
            raise refusal(refund.error)
        return Refund(refund_id=refund.id, state=refund.state)

    async def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> bool:
        if not self._webhook_id:
            raise ValueError(
                "PayPal's webhooks cannot be verified: set OT_PAYPAL__WEBHOOK_ID to the id "
                "PayPal gave the webhook"
            )
        by_name = {name.lower(): value for name, value in headers.items()}
        if any(header not in by_name for header in SIGNATURE_HEADERS.values()):
            return False  # not signed: nothing to ask PayPal
        try:
            text = body.decode("utf-8")
            event = parse_json(text, field="webhook event")
        except (UnicodeDecodeError, InvalidInput):
            return False
        if not isinstance(event, dict):
            return False
        fields = {field: by_name[header] for field, header in SIGNATURE_HEADERS.items()}
        fields["webhook_id"] = self._webhook_id
        # PayPal signed the event's bytes as it sent them; parsed and written again (other
        # spacing, escapes or number forms) they may no longer match. So the event goes back
        # as received, a checked JSON object spliced in whole (as PayPal's PHP SDK does).
        question = json.dumps(fields)[:-1] + ', "webhook_event": ' + text + "}"
        # Asking charges nothing, but every POST to PayPal carries an id, kept across retries.
        request_id = str(uuid.uuid4())
        try:
            answer = await self._send(
                "verify a webhook",
                request_id,
                lambda: self._post_as_is(VERIFY_WEBHOOK_PATH, question, request_id),
            )
        except GatewayRefused as refused:
            # Headers made up by a forger can be malformed enough for PayPal to refuse the
            # question itself. Logged by name: wrong credentials or webhook id show here.
            log.warning("paypal refused to verify a webhook", extra={"paypal_error": refused.name})
            return False
        return bool(answer.get("verification_status") == "SUCCESS")

    def _post_as_is(self, path: str, body: str, request_id: str) -> Any:
        """POST `body` unchanged (`Api.post` would encode it again), authorised by the SDK's
        token; a token PayPal no longer takes is replaced once, as `Api.request` does."""
        url = f"{self._api.endpoint}/{path}"

        def post() -> Any:
            headers = {**self._api.headers(), "PayPal-Request-Id": request_id}
            return self._api.http_call(url, "POST", data=body.encode(), headers=headers)

        try:
            return post()
        except sdk_errors.UnauthorizedAccess:
            self._api.token_hash = None
            return post()

    async def _send(self, act: str, request_id: str, call: Callable[[], T]) -> T:
        """`call` (which sends `request_id` each time) in a thread, again after a timeout, a
        connection error or a PayPal 5xx; a PayPal 4xx is its answer, not retried."""
        problem = ""
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self._pause_seconds)
            try:
                return await asyncio.to_thread(call)
            except requests.exceptions.Timeout:
                problem = f"no answer within {self._timeout_seconds:g} seconds"
            except requests.exceptions.ConnectionError:
                problem = f"cannot connect to {self._api.endpoint}"
            except requests.exceptions.RequestException as error:  # an answer broken off
                problem = f"the answer broke off ({type(error).__name__})"
            except sdk_errors.ClientError as error:
                raise refusal(_answer_of(error), status=error.response.status_code) from None
            except sdk_errors.ConnectionError as error:  # a 5xx, or a status PayPal never sends
                status = getattr(error.response, "status_code", "?")
                answer = _answer_of(error)
                problem = f"PayPal answered {status}: {answer.get('message') or 'no message'}"
            log.warning(
                "paypal request failed",
                extra={
                    "act": act,
                    "attempt": attempt,
                    "request_id": request_id,
                    "problem": problem,
                },
            )
        raise GatewayUnavailable(
            f"PayPal is unavailable: could not {act} ({problem}; {self._attempts} attempts "
            f"with request id {request_id}); try again later with the same request id"
        )


def paypal_amount(amount: Decimal, currency: str) -> dict[str, str]:
    """PayPal's amount object (`{"total": "12.50", "currency": "EUR"}`), or InvalidInput for an
    amount PayPal cannot take exactly: a float, nothing or less, more decimals than the
    currency has."""
    if not isinstance(amount, Decimal):
        raise InvalidInput(
            f"amount must be a Decimal, not {type(amount).__name__}: money is never a float",
            field="amount",
        )
    if not (len(currency) == 3 and currency.isascii() and currency.isupper()):
        raise InvalidInput(
            f"currency must be an ISO 4217 code such as EUR, not '{currency}'", field="currency"
        )
    decimals = 0 if currency in WHOLE_UNIT_CURRENCIES else 2
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput(f"amount must be more than 0, not {amount}", field="amount")
    try:
        exact = amount.quantize(Decimal(1).scaleb(-decimals))
    except InvalidOperation:  # more digits than Decimal's context holds
        raise InvalidInput(f"amount {amount} is too large", field="amount") from None
    if exact != amount:
        raise InvalidInput(
            f"amount {amount} has more decimals than {currency} takes ({decimals})", field="amount"
        )
    return {"total": f"{exact:f}", "currency": currency}


def refusal(error: Mapping[str, Any], *, status: int | None = None) -> GatewayRefused:
    """PayPal's error answer as GatewayRefused, its message (and the fields it names) quoted.
    PayPal's REST errors are `{name, message, debug_id, details: [{field, issue}]}`; its OAuth
    errors `{error, error_description}`."""
    name = str(error.get("name") or error.get("error") or f"HTTP_{status}")
    message = str(error.get("message") or error.get("error_description") or "no message")
    details = [
        f"{detail.get('field', '?')}: {detail.get('issue', '?')}"
        for detail in error.get("details") or []
        if isinstance(detail, Mapping)
    ]
    if details:
        message += f" ({'; '.join(details)})"
    debug_id = error.get("debug_id")
    return GatewayRefused(
        f"PayPal refused: {message} [{name}]",
        name=name,
        debug_id=str(debug_id) if debug_id else None,
    )


def _answer_of(error: sdk_errors.ConnectionError) -> dict[str, Any]:
    """The JSON object PayPal answered with an error status, or {} if it sent none."""
    try:
        answer = parse_json(error.content or "", field="PayPal's answer")
    except InvalidInput:
        return {}
    return answer if isinstance(answer, dict) else {}


def _carrying(request_id: str, attributes: dict[str, Any], api: Any) -> Any:
    """The body of a POST on a resource (execute, refund) as the SDK sends it: a `Resource`,
    whose own `request_id` becomes the PayPal-Request-Id (the SDK would make up a new one for a
    plain dict, on each retry)."""
    body = Resource(attributes, api=api)
    body.request_id = request_id
    return body


def _check_request_id(request_id: str) -> None:
    printable = request_id.isascii() and request_id.isprintable()
    if not request_id or len(request_id) > MAX_REQUEST_ID_LENGTH or not printable:
        raise InvalidInput(
            f"request_id must be 1 to {MAX_REQUEST_ID_LENGTH} printable ASCII characters",
            field="request_id",
        )


def _check_paypal_id(value: str, field: str) -> None:
    # The SDK pastes ids into the URL as they are, and a payment's id comes back to us in the
    # payer's return URL: "PAY-1/../../sale/2/refund" must not reach another endpoint.
    if not (0 < len(value) <= 128 and value.isascii() and value.replace("-", "").isalnum()):
        raise InvalidInput(f"{field} is not a PayPal id (letters, digits and -)", field=field)
