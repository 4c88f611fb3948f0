"""`POST /webhooks/stripe`: Stripe's signed events, the only confirmation of a payment.

The body is verified with the endpoint's signing secret (stripe.Webhook.construct_event) before
anything is read from it: a bad or missing signature is answered 400 and changes nothing. A
good one is handed to the payments service, which acts on each Stripe event id once. When our
side cannot act now (the database or Redis out of reach) the answer is 503, and Stripe sends
the event again later.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, post
from litestar.exceptions import HTTPException

from community.config import Settings
from community.errors import UNAVAILABLE, error_spec
from community.services.payments.confirmations import handle_webhook
from community.services.payments.context import Payments
from community.services.payments.gateway import SignatureInvalid
from community.services.seats.refusals import RegistrationUnavailable

log = logging.getLogger("community.payments")

MAX_BODY = 256 * 1024

RESPONSES = {
    400: error_spec(400, "Not signed by Stripe with this endpoint's secret", "Bad signature."),
    413: error_spec(413, "Body too large", "The webhook body is too large."),
    503: UNAVAILABLE,
}


class StripeWebhookController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]
    request_max_body_size = MAX_BODY

    @post("/stripe", name="webhooks:stripe", status_code=200, responses=RESPONSES)
    async def stripe(
        self, request: Request[Any, Any, Any], settings: Settings, payments: Payments
    ) -> dict[str, str]:
        """A Stripe event (payment_intent.succeeded, .payment_failed, .canceled)."""
        if not settings.stripe.configured:
            raise HTTPException(status_code=400, detail="Paid tickets are not configured here.")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(status_code=413, detail="The webhook body is too large.")
        signature = request.headers.get("stripe-signature", "")
        try:
            outcome = await handle_webhook(payments, body, signature)
        except SignatureInvalid:
            log.warning("stripe webhook refused: bad signature")
            raise HTTPException(status_code=400, detail="Bad signature.") from None
        except RegistrationUnavailable as exc:
            raise HTTPException(
                status_code=exc.status, detail="Try again later.", headers={"retry-after": "30"}
            ) from None
        return {"outcome": outcome}
