"""Stripe settings (one clear sentence per mistake) and the demo's Stripe stand-in."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from community.config import ConfigError, Settings, StripeSettings, load_settings
from community.demo.stripe import start_demo_stripe


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"DATA_DIR": str(tmp_path), "SECRET_KEY": "k" * 40, **values}


def test_stripe_settings_are_read_and_checked(tmp_path: Path) -> None:
    assert not load_settings(env(tmp_path)).stripe.configured
    settings = load_settings(
        env(
            tmp_path,
            STRIPE_SECRET_KEY="sk_test_abc",
            STRIPE_PUBLISHABLE_KEY="pk_test_abc",
            STRIPE_WEBHOOK_SECRET="whsec_abc",
            STRIPE_API_BASE="http://127.0.0.1:8420/",
            PAYMENT_HOLD_MINUTES="15",
        )
    )
    stripe = settings.stripe
    assert stripe.configured and stripe.hold_minutes == 15
    assert stripe.api_base == "http://127.0.0.1:8420"
    assert stripe.js_url == "http://127.0.0.1:8420/js.stripe.com/v3/"
    assert StripeSettings().js_url == "https://js.stripe.com/v3/"
    assert "sk_test_abc" not in repr(settings)  # secrets stay out of logs and tracebacks

    mistakes = {
        "STRIPE_SECRET_KEY": ({"STRIPE_SECRET_KEY": "pk_oops"}, "must start with sk_ or rk_"),
        "partial": ({"STRIPE_SECRET_KEY": "sk_test_abc"}, "need all three Stripe keys"),
        "hold": ({"PAYMENT_HOLD_MINUTES": "0"}, "PAYMENT_HOLD_MINUTES must be between 1"),
        "base": ({"STRIPE_API_BASE": "ftp://x"}, "STRIPE_API_BASE must be a URL"),
    }
    for values, sentence in mistakes.values():
        with pytest.raises(ConfigError) as raised:
            load_settings(env(tmp_path, **values))
        assert sentence in str(raised.value)


async def test_the_demo_runs_a_stripe_stand_in_and_stops_it(
    base_settings: Settings, tmp_path: Path
) -> None:
    settings = replace(base_settings, data_dir=tmp_path, stripe=StripeSettings())
    demo = await start_demo_stripe(settings, "http://127.0.0.1:9")
    try:
        assert demo.standin is not None and demo.settings.stripe.configured
        assert demo.settings.stripe.api_base == demo.standin.base_url
        async with httpx.AsyncClient() as client:
            js = await client.get(demo.settings.stripe.js_url)
        assert js.status_code == 200 and "confirmCardPayment" in js.text
        assert "4242 4242 4242 4242" in demo.describe()[0]
    finally:
        await demo.stop()
    assert demo.standin.process is None
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(demo.settings.stripe.js_url)
    # With keys of its own, the demo uses the configured Stripe and starts nothing.
    configured = replace(
        settings,
        stripe=StripeSettings(secret_key="sk_x", publishable_key="pk_x", webhook_secret="whsec_x"),
    )
    kept = await start_demo_stripe(configured, "http://127.0.0.1:9")
    assert kept.standin is None and kept.settings is configured
