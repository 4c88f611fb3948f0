"""The demo's Stripe: the local stand-in (localstripe), started and stopped with the demo.

Unless Stripe keys are configured, `community demo` runs the stand-in on a free loopback port,
points the settings at it (test keys of its own, a fresh webhook signing secret) and has it
deliver its signed webhooks to the demo's own endpoint. Its objects are kept in the data
folder, so payments made in an earlier run can still be refunded.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from community.config import Settings, StripeSettings
from community.sandbox.stripe_standin import StripeStandIn


@dataclass
class DemoStripe:
    standin: StripeStandIn | None
    settings: Settings  # pointing at the stand-in (or at the configured Stripe)

    def describe(self) -> list[str]:
        if self.standin is None:
            return ["  Stripe:          the configured Stripe account (STRIPE_* settings)"]
        return [
            f"  Stripe stand-in: {self.standin.base_url}  (pay with 4242 4242 4242 4242,"
            " any future date, any CVC)"
        ]

    async def stop(self) -> None:
        if self.standin is not None:
            await self.standin.astop()


async def start_demo_stripe(settings: Settings, base_url: str) -> DemoStripe:
    if settings.stripe.configured:
        return DemoStripe(None, settings)
    secret = "whsec_demo_" + secrets.token_urlsafe(24)
    standin = StripeStandIn(
        webhook_url=f"{base_url}/webhooks/stripe",
        webhook_secret=secret,
        state_file=settings.data_dir / "stripe-stand-in.pickle",
        log_file=settings.data_dir / "stripe-stand-in.log",
    )
    await standin.astart()
    pointed = replace(
        settings,
        stripe=StripeSettings(
            secret_key="sk_test_demo_" + secrets.token_hex(8),
            publishable_key="pk_test_demo_" + secrets.token_hex(8),
            webhook_secret=secret,
            api_base=standin.base_url,
            hold_minutes=settings.stripe.hold_minutes,
        ),
    )
    return DemoStripe(standin, pointed)
