"""The one client of Stripe: the official `stripe` library on its async httpx client.

Everything else asks this module and gets plain values back (an `Intent`, a `Refund`) or one
of two errors: `GatewayUnavailable` (Stripe could not be reached or failed: try later) and
`GatewayRefused` (Stripe answered no: this request will not succeed as it is). Keys, client
secrets and card details are never logged; an error keeps Stripe's code and type only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import stripe

from community.config import StripeSettings

log = logging.getLogger("community.payments")
# The library's own INFO lines repeat every request (and its DEBUG ones the parameters): ours
# say what happened, without identifiers a log reader has no use for.
logging.getLogger("stripe").setLevel(logging.WARNING)

TIMEOUT_S = 10.0
# Stripe's own advice: retry network failures (the library sends the idempotency key again).
NETWORK_RETRIES = 1

# PaymentIntent statuses in which no money has moved and none can move any more.
CANCELLED = "canceled"
SUCCEEDED = "succeeded"
# The payment went through or is going through: the PaymentIntent can no longer be cancelled.
PAID_OR_PAYING = frozenset({"succeeded", "processing", "requires_capture"})


class GatewayError(Exception):
    """Stripe did not do what we asked; `message` is safe to show and to log."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class GatewayUnavailable(GatewayError):
    """Stripe could not be reached, timed out, limited us or failed: try again later."""


class GatewayRefused(GatewayError):
    """Stripe refused the request itself (a 4xx): repeating it will not help."""


class SignatureInvalid(Exception):
    """A webhook whose body or signature does not check out: it is not from Stripe."""


@dataclass(frozen=True)
class Intent:
    id: str
    status: str
    amount: int
    currency: str
    client_secret: str
    metadata: dict[str, str]

    @property
    def paid_or_paying(self) -> bool:
        return self.status in PAID_OR_PAYING


@dataclass(frozen=True)
class Refund:
    id: str
    status: str
    amount: int
    metadata: dict[str, str]


def _intent(stripe_object: Any) -> Intent:
    obj = stripe_object.to_dict() if hasattr(stripe_object, "to_dict") else dict(stripe_object)
    metadata = obj.get("metadata") or {}
    return Intent(
        id=str(obj["id"]),
        status=str(obj["status"]),
        amount=int(obj["amount"]),
        currency=str(obj["currency"]).upper(),
        client_secret=str(obj.get("client_secret") or ""),
        metadata={str(k): str(v) for k, v in dict(metadata).items()},
    )


def _refund(stripe_object: Any) -> Refund:
    obj = stripe_object.to_dict() if hasattr(stripe_object, "to_dict") else dict(stripe_object)
    metadata = obj.get("metadata") or {}
    return Refund(
        id=str(obj["id"]),
        status=str(obj.get("status") or ""),
        amount=int(obj["amount"]),
        metadata={str(k): str(v) for k, v in dict(metadata).items()},
    )


def _translate(exc: stripe.StripeError, doing: str) -> GatewayError:
    code = str(getattr(exc, "code", "") or "")
    status = getattr(exc, "http_status", None)
    log.warning(
        "stripe request failed",
        extra={"doing": doing, "error": type(exc).__name__, "code": code, "status": status},
    )
    if isinstance(
        exc,
        stripe.APIConnectionError | stripe.RateLimitError | stripe.AuthenticationError,
    ) or (status is None or status >= 500):
        return GatewayUnavailable(
            "Payments are not available right now; please try again in a few minutes.",
            code=code,
        )
    message = str(getattr(exc, "user_message", "") or "") or "Stripe refused the request."
    return GatewayRefused(message, code=code)


class StripeGateway:
    """Stripe, as this product uses it. One per process (it keeps a connection pool)."""

    def __init__(self, settings: StripeSettings, *, timeout_s: float = TIMEOUT_S) -> None:
        self.settings = settings
        self._http = stripe.HTTPXClient(timeout=timeout_s)
        self._client = stripe.StripeClient(
            settings.secret_key or "sk_unset",
            base_addresses={"api": settings.api_base},
            http_client=self._http,
            max_network_retries=NETWORK_RETRIES,
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # unannotated in stripe

    async def create_intent(
        self, amount: int, currency: str, *, idempotency_key: str, metadata: dict[str, str]
    ) -> Intent:
        """One PaymentIntent for one hold. Asking again with the same key returns the same
        intent at Stripe, so a retried request never creates a second charge."""
        if amount <= 0:
            raise ValueError("a PaymentIntent needs a positive amount")
        try:
            obj = await self._client.v1.payment_intents.create_async(
                params={
                    "amount": amount,
                    "currency": currency.lower(),
                    # Accepted by the API; this release's params type does not list it.
                    "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc, "create payment intent") from None
        return _intent(obj)

    async def retrieve_intent(self, intent_id: str) -> Intent:
        try:
            obj = await self._client.v1.payment_intents.retrieve_async(intent_id)
        except stripe.StripeError as exc:
            raise _translate(exc, "retrieve payment intent") from None
        return _intent(obj)

    async def cancel_intent(self, intent_id: str) -> Intent:
        """Cancel it so it can never be paid; returns the intent as it is afterwards.

        Stripe refuses to cancel an intent that was paid (or is being paid) meanwhile: then
        the intent is read back and returned as it is, paid, for the caller to see.
        """
        try:
            obj = await self._client.v1.payment_intents.cancel_async(intent_id)
        except stripe.StripeError as exc:
            error = _translate(exc, "cancel payment intent")
            if isinstance(error, GatewayUnavailable):
                raise error from None
            return await self.retrieve_intent(intent_id)
        return _intent(obj)

    async def refund(
        self, intent_id: str, amount: int, *, idempotency_key: str, metadata: dict[str, str]
    ) -> Refund:
        try:
            obj = await self._client.v1.refunds.create_async(
                params={"payment_intent": intent_id, "amount": amount, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc, "refund") from None
        return _refund(obj)

    async def refunds_of(self, intent_id: str) -> list[Refund]:
        """The refunds already made on this intent (to find one a crashed job made)."""
        try:
            page = await self._client.v1.refunds.list_async(
                params={"payment_intent": intent_id, "limit": 100}
            )
        except stripe.StripeError as exc:
            raise _translate(exc, "list refunds") from None
        return [_refund(item) for item in page.data]

    def verify(self, payload: bytes, signature: str) -> stripe.Event:
        """The event in a webhook body, if Stripe signed it with our endpoint's secret."""
        if not self.settings.webhook_secret or not signature:
            raise SignatureInvalid("missing signature")
        try:
            event: stripe.Event = stripe.Webhook.construct_event(
                payload, signature, self.settings.webhook_secret
            )
            return event
        except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError):
            raise SignatureInvalid("bad signature") from None
