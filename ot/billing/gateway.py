"""What billing asks of a payment provider: the `PaymentGateway` protocol, the plain values that
cross it and its two errors. `ot.billing.paypal` implements it with PayPal's SDK, which nothing
else imports, so that another SDK (or a test's stand-in) can take its place unnoticed.

Every call that could move money takes the caller's `request_id`: the caller makes one per act
(this invoice's payment, that refund) and stores it with its own record *before* calling, so a
call repeated after a timeout, a crash or a restart is the same request to the provider, which
answers it without charging or refunding twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ot.errors import OtError


@dataclass(frozen=True)
class CreatedPayment:
    """A payment waiting for its payer: they approve it at `approval_url` (the provider's page),
    which sends them back to our return URL, where it is executed."""

    payment_id: str
    approval_url: str


@dataclass(frozen=True)
class ExecutedPayment:
    """A payment executed after its payer approved it. `state` is its sale's: `completed` when
    the money arrived, `pending` when it is still on its way (the provider's webhook tells when
    it completes). The payer's id and e-mail are customer information: store them encrypted."""

    payment_id: str
    sale_id: str
    state: str
    payer_id: str
    payer_email: str


@dataclass(frozen=True)
class Refund:
    """Money sent back for (part of) a sale; `state` is `completed` once the payer has it."""

    refund_id: str
    state: str


class GatewayRefused(OtError):
    """The provider answered and said no: bad input, a payment not approved, a refund beyond the
    sale, wrong credentials. Retrying the same request will not help. `name` is the provider's
    name for the error (`PAYMENT_NOT_APPROVED_FOR_EXECUTION`), `debug_id` what its support asks
    for; the message quotes the provider's own."""

    code = "payment_refused"

    def __init__(self, message: str, *, name: str, debug_id: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.debug_id = debug_id


class GatewayUnavailable(OtError):
    """The provider could not be reached, or did not answer in time, or failed on its side, on
    every attempt. Whether it acted is unknown: try again later with the same request id (the
    provider then answers what it did, or does it once)."""

    code = "payment_gateway_unavailable"
    retry_after = 60


class PaymentGateway(Protocol):
    """A payment provider. Amounts are `Decimal` in the currency's major unit (12.50 EUR), never
    float; currencies are ISO 4217 codes. Bad arguments raise `ot.errors.InvalidInput` before
    anything is sent."""

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
        """Ask for a payment of `amount` (`reference`: our invoice number, shown to the payer
        and in the provider's records); the payer approves it at the answer's URL."""
        ...

    async def execute_payment(
        self, *, payment_id: str, payer_id: str, request_id: str
    ) -> ExecutedPayment:
        """Take the money of a payment its payer approved (`payer_id`: what the provider put in
        the return URL)."""
        ...

    async def refund_sale(
        self, *, sale_id: str, amount: Decimal, currency: str, request_id: str
    ) -> Refund:
        """Send `amount` of a sale back to its payer."""
        ...

    async def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether a webhook request (its headers, any case, and its body as received) comes
        from the provider unaltered: True only when the provider says so. Nothing in an event
        may be believed before."""
        ...
