"""The Stripe gateway against a real localstripe: intents, cancel, refunds, signatures."""

from __future__ import annotations

import json
import secrets

import pytest

from community.config import Settings
from community.sandbox.stripe_standin import StripeStandIn, _free_port
from community.services.payments.gateway import (
    GatewayUnavailable,
    SignatureInvalid,
    StripeGateway,
)
from tests.payments.conftest import WebhookRelay, stand_in_pays, stripe_settings


async def test_an_intent_is_created_paid_and_refunded(
    settings: Settings, stripe_standin: StripeStandIn, relay: WebhookRelay
) -> None:
    gateway = StripeGateway(settings.stripe)
    try:
        key = f"hold-{secrets.token_hex(6)}"
        intent = await gateway.create_intent(
            1500, "EUR", idempotency_key=key, metadata={"payment_id": key}
        )
        assert (intent.amount, intent.currency, intent.status) == (
            1500,
            "EUR",
            "requires_payment_method",
        )
        assert intent.client_secret.startswith(intent.id)
        assert intent.metadata == {"payment_id": key}

        paid = await stand_in_pays(stripe_standin, intent.client_secret)
        assert paid.status_code == 200, paid.text
        # Paid meanwhile: cancelling is refused by Stripe, and the gateway says it is paid.
        after = await gateway.cancel_intent(intent.id)
        assert after.status == "succeeded" and after.paid_or_paying

        [delivery] = await relay.wait_for(intent.id, "payment_intent.succeeded")
        event = gateway.verify(delivery.body, delivery.signature)
        assert event.type == "payment_intent.succeeded"
        assert event.data.object.id == intent.id

        refund = await gateway.refund(
            intent.id, 1500, idempotency_key=f"refund-{key}", metadata={"payment_id": key}
        )
        assert (refund.amount, refund.status) == (1500, "succeeded")
        assert [r.metadata.get("payment_id") for r in await gateway.refunds_of(intent.id)] == [key]
    finally:
        await gateway.aclose()


async def test_an_unpaid_intent_is_cancelled(settings: Settings) -> None:
    gateway = StripeGateway(settings.stripe)
    try:
        intent = await gateway.create_intent(
            700, "GBP", idempotency_key=secrets.token_hex(8), metadata={}
        )
        assert (await gateway.cancel_intent(intent.id)).status == "canceled"
    finally:
        await gateway.aclose()


async def test_a_forged_or_stale_signature_is_refused(
    settings: Settings, stripe_standin: StripeStandIn, relay: WebhookRelay
) -> None:
    gateway = StripeGateway(settings.stripe)
    try:
        intent = await gateway.create_intent(
            900, "EUR", idempotency_key=secrets.token_hex(8), metadata={}
        )
        await stand_in_pays(stripe_standin, intent.client_secret)
        [delivery] = await relay.wait_for(intent.id, "payment_intent.succeeded")
        tampered = json.loads(delivery.body)
        tampered["data"]["object"]["amount"] = 1
        with pytest.raises(SignatureInvalid):
            gateway.verify(json.dumps(tampered).encode(), delivery.signature)
        with pytest.raises(SignatureInvalid):
            gateway.verify(delivery.body, "t=1,v1=" + "0" * 64)
        with pytest.raises(SignatureInvalid):
            gateway.verify(delivery.body, "")
        other = StripeGateway(stripe_settings(stripe_standin, webhook_secret="whsec_other"))
        with pytest.raises(SignatureInvalid):
            other.verify(delivery.body, delivery.signature)
        await other.aclose()
    finally:
        await gateway.aclose()


async def test_stripe_out_of_reach_is_one_clear_error(stripe_standin: StripeStandIn) -> None:
    dead = stripe_settings(stripe_standin, api_base=f"http://127.0.0.1:{_free_port('127.0.0.1')}")
    gateway = StripeGateway(dead, timeout_s=2)
    try:
        with pytest.raises(GatewayUnavailable) as raised:
            await gateway.create_intent(100, "EUR", idempotency_key="k", metadata={})
        assert "not available right now" in raised.value.message
    finally:
        await gateway.aclose()
