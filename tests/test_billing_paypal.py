"""The payment gateway through PayPal (`ot.billing.paypal`): the real `paypalrestsdk` against a
PayPal-compatible fake on loopback (`tests/paypal_fake.py`). Payments are created, approved,
executed and refunded; webhooks are believed only when PayPal verifies them; PayPal's refusals
keep its words; a request PayPal may have done already is sent again as the same request, so
nothing is charged twice; and the event loop never waits on PayPal."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ot.billing.gateway import (
    CreatedPayment,
    ExecutedPayment,
    GatewayRefused,
    GatewayUnavailable,
    PaymentGateway,
)
from ot.billing.paypal import PayPalGateway
from ot.config import PayPalSettings
from ot.errors import InvalidInput
from tests.paypal_fake import (
    CLIENT_ID,
    CLIENT_SECRET,
    PAYMENTS_PATH,
    TOKEN_PATH,
    VERIFY_PATH,
    WEBHOOK_ID,
    FakePayPal,
    paypal,
)

__all__ = ["paypal"]  # the fixture, used by name

PAYER_ID = "QYR5Z8XDVJNXQ"
PAYER_EMAIL = "buyer@example.com"
SALE_COMPLETED = {
    "id": "WH-2WR32451HC0233532-67976317FL4543714",
    "create_time": "2026-12-06T18:00:00.000Z",
    "resource_type": "sale",
    "event_type": "PAYMENT.SALE.COMPLETED",
    "summary": "Payment completed for € 12.50 EUR",
    "resource": {
        "id": "SALE-FAKE000002",
        "state": "completed",
        "amount": {"total": "12.50", "currency": "EUR"},
        "parent_payment": "PAYID-FAKE000001",
    },
}


def gateway_to(paypal: FakePayPal, **settings: Any) -> PaymentGateway:
    """A gateway to the fake with the test app's credentials, retrying without a pause."""
    values = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "endpoint": paypal.endpoint,
        "webhook_id": WEBHOOK_ID,
        **settings,
    }
    return PayPalGateway(PayPalSettings(**values), pause_seconds=0)


@pytest.fixture
def gateway(paypal: FakePayPal) -> PaymentGateway:
    """The gateway as billing will use it, pointed at the fake."""
    return gateway_to(paypal)


async def create(
    gateway: PaymentGateway, *, request_id: str = "INV-2026-0001-pay-1", **changes: Any
) -> CreatedPayment:
    """Invoice INV-2026-0001's payment of 12.50 EUR."""
    arguments: dict[str, Any] = {
        "reference": "INV-2026-0001",
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "description": "opentracker, November 2026",
        "return_url": "https://stats.example/billing/paypal/return",
        "cancel_url": "https://stats.example/billing",
        "request_id": request_id,
        **changes,
    }
    return await gateway.create_payment(**arguments)


async def paid(gateway: PaymentGateway, paypal: FakePayPal) -> ExecutedPayment:
    """A payment created, approved by its payer at PayPal, and executed."""
    created = await create(gateway)
    paypal.approve(created.payment_id, payer_id=PAYER_ID, email=PAYER_EMAIL)
    return await gateway.execute_payment(
        payment_id=created.payment_id, payer_id=PAYER_ID, request_id="INV-2026-0001-execute-1"
    )


def request_ids(paypal: FakePayPal, path: str) -> list[str | None]:
    return [request.headers.get("PayPal-Request-Id") for request in paypal.requests_to(path)]


# Paying.


async def test_a_payment_is_created_with_a_token_fetched_with_the_client_credentials(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    created = await create(gateway)

    [token_request] = paypal.requests_to(TOKEN_PATH)
    credentials = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {credentials}"
    assert token_request.body == "grant_type=client_credentials"
    [create_request] = paypal.requests_to(PAYMENTS_PATH)
    assert create_request.headers["Authorization"] == f"Bearer {paypal.tokens[0]}"
    assert create_request.headers["PayPal-Request-Id"] == "INV-2026-0001-pay-1"
    [transaction] = create_request.body["transactions"]
    assert transaction["amount"] == {"total": "12.50", "currency": "EUR"}
    assert transaction["invoice_number"] == "INV-2026-0001"
    assert create_request.body["redirect_urls"] == {
        "return_url": "https://stats.example/billing/paypal/return",
        "cancel_url": "https://stats.example/billing",
    }
    assert created.payment_id in paypal.payments
    assert paypal.payments[created.payment_id]["state"] == "created"
    assert created.approval_url.startswith("https://www.sandbox.paypal.com/cgi-bin/webscr?")


async def test_the_token_is_fetched_once_and_reused(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    await create(gateway, request_id="first")
    await create(gateway, request_id="second")
    assert len(paypal.requests_to(TOKEN_PATH)) == 1
    assert len(paypal.payments) == 2


async def test_an_approved_payment_is_executed_into_a_sale_with_the_payers_id_and_email(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    executed = await paid(gateway, paypal)

    assert executed.sale_id in paypal.sales
    assert executed.state == "completed"
    assert executed.payer_id == PAYER_ID
    assert executed.payer_email == PAYER_EMAIL
    assert paypal.payments[executed.payment_id]["state"] == "approved"
    [execute] = paypal.requests_to(f"{PAYMENTS_PATH}/{executed.payment_id}/execute")
    assert execute.body == {"payer_id": PAYER_ID}
    assert execute.headers["PayPal-Request-Id"] == "INV-2026-0001-execute-1"


async def test_executing_a_payment_its_payer_has_not_approved_is_refused_in_paypals_words(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    created = await create(gateway)
    with pytest.raises(GatewayRefused) as refused:
        await gateway.execute_payment(
            payment_id=created.payment_id, payer_id=PAYER_ID, request_id="execute-1"
        )
    assert refused.value.name == "PAYMENT_NOT_APPROVED_FOR_EXECUTION"
    assert "Payer has not approved payment" in str(refused.value)
    assert refused.value.debug_id
    assert paypal.sales == {}


async def test_a_sale_is_refunded_in_part_then_a_refund_beyond_what_is_left_is_refused(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    executed = await paid(gateway, paypal)
    refund = await gateway.refund_sale(
        sale_id=executed.sale_id, amount=Decimal("10.00"), currency="EUR", request_id="refund-1"
    )
    assert refund.state == "completed"
    assert paypal.refunds[refund.refund_id]["amount"] == {"total": "10.00", "currency": "EUR"}
    [asked] = paypal.requests_to(f"/v1/payments/sale/{executed.sale_id}/refund")
    assert asked.headers["PayPal-Request-Id"] == "refund-1"

    with pytest.raises(GatewayRefused, match="Refund amount exceeds transaction amount"):
        await gateway.refund_sale(
            sale_id=executed.sale_id, amount=Decimal("2.51"), currency="EUR", request_id="refund-2"
        )
    assert len(paypal.refunds) == 1
    assert paypal.sales[executed.sale_id]["refunded"] == "10.00"


# PayPal says no.


@pytest.mark.parametrize(
    ("status", "name", "message"),
    [
        (400, "VALIDATION_ERROR", "Invalid request - see details"),
        (403, "PERMISSION_DENIED", "No permission for the requested operation"),
        (422, "UNPROCESSABLE_ENTITY", "The requested action could not be performed"),
    ],
)
async def test_a_paypal_refusal_keeps_its_name_and_message_and_is_not_retried(
    paypal: FakePayPal, gateway: PaymentGateway, status: int, name: str, message: str
) -> None:
    paypal.fail_next(PAYMENTS_PATH, status, name, message)
    with pytest.raises(GatewayRefused) as refused:
        await create(gateway)
    assert refused.value.name == name
    assert message in str(refused.value)
    assert len(paypal.requests_to(PAYMENTS_PATH)) == 1
    assert paypal.payments == {}


async def test_the_fields_paypal_finds_wrong_are_named(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    with pytest.raises(GatewayRefused) as refused:
        await create(gateway, description="x" * 128)
    assert refused.value.name == "VALIDATION_ERROR"
    assert "transactions[0].description: Length must be 127 or less" in str(refused.value)
    assert paypal.payments == {}


async def test_wrong_client_credentials_are_refused_with_paypals_message(
    paypal: FakePayPal,
) -> None:
    gateway = gateway_to(paypal, client_secret="not-the-secret")
    with pytest.raises(GatewayRefused) as refused:
        await create(gateway)
    assert refused.value.name == "invalid_client"
    assert "Client Authentication failed" in str(refused.value)
    assert paypal.requests_to(PAYMENTS_PATH) == []


# A retry is the same request.


async def test_a_create_that_timed_out_is_sent_again_with_the_same_request_id_and_pays_once(
    paypal: FakePayPal,
) -> None:
    gateway = gateway_to(paypal, request_timeout_seconds=1)
    paypal.hold_next(PAYMENTS_PATH)  # PayPal creates the payment; its answer never arrives

    created = await create(gateway, request_id="INV-2026-0001-pay-1")

    assert request_ids(paypal, PAYMENTS_PATH) == ["INV-2026-0001-pay-1"] * 2
    assert list(paypal.payments) == [created.payment_id]


async def test_an_execute_that_timed_out_is_sent_again_with_the_same_request_id_and_charges_once(
    paypal: FakePayPal,
) -> None:
    gateway = gateway_to(paypal, request_timeout_seconds=1)
    created = await create(gateway)
    paypal.approve(created.payment_id, payer_id=PAYER_ID, email=PAYER_EMAIL)
    execute_path = f"{PAYMENTS_PATH}/{created.payment_id}/execute"
    paypal.hold_next(execute_path)

    executed = await gateway.execute_payment(
        payment_id=created.payment_id, payer_id=PAYER_ID, request_id="execute-1"
    )

    assert request_ids(paypal, execute_path) == ["execute-1", "execute-1"]
    assert list(paypal.sales) == [executed.sale_id]


async def test_a_paypal_server_error_is_retried_as_the_same_request(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    paypal.fail_next(PAYMENTS_PATH, 503, "SERVICE_UNAVAILABLE", "Service unavailable.")
    created = await create(gateway, request_id="pay-1")
    assert request_ids(paypal, PAYMENTS_PATH) == ["pay-1", "pay-1"]
    assert list(paypal.payments) == [created.payment_id]


async def test_paypal_failing_on_every_attempt_is_unavailable_in_its_own_words(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    paypal.fail_next(
        PAYMENTS_PATH, 500, "INTERNAL_SERVICE_ERROR", "An internal service error occurred.", count=3
    )
    with pytest.raises(GatewayUnavailable) as unavailable:
        await create(gateway, request_id="pay-1")
    assert "An internal service error occurred." in str(unavailable.value)
    assert "same request id" in str(unavailable.value)
    assert request_ids(paypal, PAYMENTS_PATH) == ["pay-1"] * 3


async def test_paypal_never_answering_is_unavailable_after_the_attempts(
    paypal: FakePayPal,
) -> None:
    gateway = PayPalGateway(
        PayPalSettings(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            endpoint=paypal.endpoint,
            request_timeout_seconds=1,
        ),
        attempts=2,
        pause_seconds=0,
    )
    paypal.hold_next(PAYMENTS_PATH, count=2)
    with pytest.raises(GatewayUnavailable, match="no answer within 1 seconds"):
        await create(gateway, request_id="pay-1")
    assert request_ids(paypal, PAYMENTS_PATH) == ["pay-1", "pay-1"]
    assert len(paypal.payments) == 1, "done once by PayPal, though no answer came back"


async def test_an_unreachable_paypal_is_unavailable() -> None:
    with socket.socket() as nothing_listens:  # bound, so no other test can take the port
        nothing_listens.bind(("127.0.0.1", 0))
        port = nothing_listens.getsockname()[1]
        gateway = PayPalGateway(
            PayPalSettings(
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                endpoint=f"http://127.0.0.1:{port}",
            ),
            pause_seconds=0,
        )
        with pytest.raises(GatewayUnavailable, match=f"cannot connect to http://127.0.0.1:{port}"):
            await create(gateway)


async def test_the_event_loop_keeps_running_while_paypal_is_slow(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    paypal.hold_next(PAYMENTS_PATH)
    creating = asyncio.create_task(create(gateway))
    # The fake runs on this very loop: it could not even take the request if the SDK's call
    # held the loop.
    await paypal.wait_held(1)
    turns = 0

    async def neighbour() -> None:
        nonlocal turns
        for _ in range(100):
            turns += 1
            await asyncio.sleep(0)  # hands the loop round; waits for no duration

    await neighbour()
    assert turns == 100
    assert not creating.done(), "the payment still waits for PayPal's answer"

    paypal.release()
    created = await creating
    assert list(paypal.payments) == [created.payment_id]


# Webhooks.


def as_paypal_sends(event: dict[str, Any]) -> bytes:
    """An event's body as PayPal sends it: compact, non-ASCII as UTF-8, not as Python writes
    JSON (", " and ": ", \\u escapes)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


SALE_COMPLETED_BODY = as_paypal_sends(SALE_COMPLETED)


async def test_a_webhook_paypal_signed_is_verified_by_asking_paypal(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    headers = paypal.sign(SALE_COMPLETED_BODY)
    assert await gateway.verify_webhook(headers=headers, body=SALE_COMPLETED_BODY)

    [question] = paypal.requests_to(VERIFY_PATH)
    assert question.body == {
        "auth_algo": headers["PAYPAL-AUTH-ALGO"],
        "cert_url": headers["PAYPAL-CERT-URL"],
        "transmission_id": headers["PAYPAL-TRANSMISSION-ID"],
        "transmission_sig": headers["PAYPAL-TRANSMISSION-SIG"],
        "transmission_time": headers["PAYPAL-TRANSMISSION-TIME"],
        "webhook_id": WEBHOOK_ID,
        "webhook_event": SALE_COMPLETED,
    }
    assert question.headers["Authorization"] == f"Bearer {paypal.tokens[0]}"
    assert question.headers["PayPal-Request-Id"]


async def test_a_webhook_goes_back_to_paypal_in_the_bytes_it_was_signed_in(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    """PayPal checks its signature over the event as it sent it, so the event is not parsed and
    written again (here its € would become \\u20ac, and its spacing change)."""
    assert "€".encode() in SALE_COMPLETED_BODY
    assert await gateway.verify_webhook(
        headers=paypal.sign(SALE_COMPLETED_BODY), body=SALE_COMPLETED_BODY
    )
    spaced = json.dumps(SALE_COMPLETED, indent=2).encode()
    assert await gateway.verify_webhook(headers=paypal.sign(spaced), body=spaced)


async def test_webhook_headers_are_read_in_any_case(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    headers = {name.title(): value for name, value in paypal.sign(SALE_COMPLETED_BODY).items()}
    assert await gateway.verify_webhook(headers=headers, body=SALE_COMPLETED_BODY)


def altered(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "resource": {**event["resource"], "amount": {"total": "1250.00"}}}


@pytest.mark.parametrize(
    "forgery",
    ["a made-up signature", "an altered event", "signed for another webhook"],
)
async def test_a_forged_webhook_is_rejected_by_paypal(paypal: FakePayPal, forgery: str) -> None:
    headers = paypal.sign(SALE_COMPLETED_BODY)
    body = SALE_COMPLETED_BODY
    gateway = gateway_to(paypal)
    if forgery == "a made-up signature":
        headers["PAYPAL-TRANSMISSION-SIG"] = base64.b64encode(b"x" * 32).decode()
    elif forgery == "an altered event":
        body = as_paypal_sends(altered(SALE_COMPLETED))
    else:
        gateway = gateway_to(paypal, webhook_id="WH-SOMEONE-ELSES")
    assert not await gateway.verify_webhook(headers=headers, body=body)
    assert len(paypal.requests_to(VERIFY_PATH)) == 1, "PayPal, not us, judged it"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({}, SALE_COMPLETED_BODY, id="unsigned"),
        pytest.param(None, b"{not json", id="not-json"),
        pytest.param(None, b'["an", "array"]', id="not-an-object"),
        pytest.param(None, b'{"summary": "\xff"}', id="not-utf8"),
    ],
)
async def test_a_webhook_without_signature_or_event_is_rejected_without_asking_paypal(
    paypal: FakePayPal, gateway: PaymentGateway, headers: dict[str, str] | None, body: bytes
) -> None:
    signed = paypal.sign(body) if headers is None else headers
    assert not await gateway.verify_webhook(headers=signed, body=body)
    assert paypal.requests == []


async def test_a_webhook_question_paypal_refuses_is_not_a_verification(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    paypal.fail_next(VERIFY_PATH, 400, "VALIDATION_ERROR", "Invalid data provided")
    headers = paypal.sign(SALE_COMPLETED_BODY)
    assert not await gateway.verify_webhook(headers=headers, body=SALE_COMPLETED_BODY)
    assert len(paypal.requests_to(VERIFY_PATH)) == 1


async def test_verifying_webhooks_needs_the_webhook_id(paypal: FakePayPal) -> None:
    gateway = gateway_to(paypal, webhook_id="")
    with pytest.raises(ValueError, match="OT_PAYPAL__WEBHOOK_ID"):
        await gateway.verify_webhook(headers=paypal.sign(b"{}"), body=b"{}")
    assert paypal.requests == []


# Bad input: refused before anything is sent.


@pytest.mark.parametrize(
    ("amount", "currency", "problem"),
    [
        pytest.param(12.5, "EUR", "must be a Decimal, not float", id="float"),
        pytest.param(Decimal("0.00"), "EUR", "must be more than 0", id="zero"),
        pytest.param(Decimal("-5.00"), "EUR", "must be more than 0", id="negative"),
        pytest.param(Decimal("NaN"), "EUR", "must be more than 0", id="nan"),
        pytest.param(Decimal("12.345"), "EUR", "more decimals than EUR takes", id="fraction-cent"),
        pytest.param(Decimal("1250.5"), "JPY", "more decimals than JPY takes", id="fraction-yen"),
        pytest.param(Decimal("1E+30"), "EUR", "is too large", id="too-large"),
        pytest.param(Decimal("12.50"), "eur", "ISO 4217 code such as EUR", id="lower-case"),
        pytest.param(Decimal("12.50"), "EURO", "ISO 4217 code such as EUR", id="not-a-code"),
    ],
)
async def test_an_amount_paypal_cannot_take_exactly_is_refused_before_anything_is_sent(
    paypal: FakePayPal, gateway: PaymentGateway, amount: Any, currency: str, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        await create(gateway, amount=amount, currency=currency)
    with pytest.raises(InvalidInput, match=problem):
        await gateway.refund_sale(
            sale_id="SALE-1", amount=amount, currency=currency, request_id="refund-1"
        )
    assert paypal.requests == []


async def test_whole_amounts_are_sent_as_the_currency_writes_them(
    paypal: FakePayPal, gateway: PaymentGateway
) -> None:
    await create(gateway, amount=Decimal("1250"), currency="JPY", request_id="yen")
    await create(gateway, amount=Decimal("12.5"), currency="EUR", request_id="euro")
    amounts = [r.body["transactions"][0]["amount"] for r in paypal.requests_to(PAYMENTS_PATH)]
    assert amounts == [
        {"total": "1250", "currency": "JPY"},
        {"total": "12.50", "currency": "EUR"},
    ]


@pytest.mark.parametrize("request_id", ["", "x" * 109, "pay-1\n", "betaling-één"])
async def test_a_request_id_paypal_cannot_take_is_refused_before_anything_is_sent(
    paypal: FakePayPal, gateway: PaymentGateway, request_id: str
) -> None:
    with pytest.raises(InvalidInput, match="request_id must be 1 to 108 printable ASCII"):
        await create(gateway, request_id=request_id)
    assert paypal.requests == []


@pytest.mark.parametrize("payment_id", ["PAYID-1/../../sale/SALE-1/refund", "", "PAYID 1"])
async def test_a_payment_id_that_is_not_paypals_is_refused_before_anything_is_sent(
    paypal: FakePayPal, gateway: PaymentGateway, payment_id: str
) -> None:
    with pytest.raises(InvalidInput, match="payment_id is not a PayPal id"):
        await gateway.execute_payment(
            payment_id=payment_id, payer_id=PAYER_ID, request_id="execute-1"
        )
    with pytest.raises(InvalidInput, match="sale_id is not a PayPal id"):
        await gateway.refund_sale(
            sale_id=payment_id, amount=Decimal("1.00"), currency="EUR", request_id="refund-1"
        )
    assert paypal.requests == []


# Settings and secrets.


def test_a_gateway_without_credentials_names_the_settings_to_set() -> None:
    with pytest.raises(ValueError, match="OT_PAYPAL__CLIENT_ID and OT_PAYPAL__CLIENT_SECRET"):
        PayPalGateway(PayPalSettings())


@pytest.mark.parametrize(
    "endpoint",
    ["http://api.sandbox.paypal.com", "ftp://api.paypal.com", "api.paypal.com", "https://"],
)
def test_an_endpoint_that_would_send_the_secret_in_clear_text_is_refused(endpoint: str) -> None:
    with pytest.raises(ValidationError, match="must be an https:// URL"):
        PayPalSettings(endpoint=endpoint)


@pytest.mark.parametrize(
    "endpoint",
    ["https://api.sandbox.paypal.com/", "http://127.0.0.1:8123", "http://[::1]:8123"],
)
def test_https_and_loopback_endpoints_are_taken(endpoint: str) -> None:
    assert PayPalSettings(endpoint=endpoint).endpoint == endpoint.rstrip("/")


async def test_the_log_never_shows_the_secret_the_token_or_the_payers_email(
    paypal: FakePayPal, gateway: PaymentGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    paypal.fail_next(PAYMENTS_PATH, 503, "SERVICE_UNAVAILABLE", "Service unavailable.")
    await paid(gateway, paypal)
    logged = caplog.text + " ".join(str(record.__dict__) for record in caplog.records)
    assert "paypal request failed" in logged  # the retry was logged...
    for secret in (
        CLIENT_SECRET,
        base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
        paypal.tokens[0],
        PAYER_EMAIL,
    ):
        assert secret not in logged  # ...and nothing PayPal's SDK would log at DEBUG
