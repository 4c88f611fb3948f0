"""A person buys a ticket in headless Chromium, end to end against a live server and a real
localstripe: event page -> hold -> card typed into the (fake) Stripe.js Card Element -> Stripe's
signed webhook -> the ticket with its QR code. Screenshots at 1280 and 390 px wide are kept in
PAYMENT_SCREENSHOTS (a temporary folder by default) for people to look at."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect

from community.config import Settings
from community.models import Theme
from community.sandbox.stripe_standin import _free_port
from tests.conftest import watch_csp
from tests.payments.conftest import MakeEvent, WebhookRelay

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = Path(os.environ.get("PAYMENT_SCREENSHOTS") or tempfile.mkdtemp(prefix="checkout-shots-"))


@pytest.fixture
def live_server(settings: Settings, redis: Any, relay: WebhookRelay) -> Iterator[str]:
    """The whole app under uvicorn in a thread; localstripe's webhooks are passed on to it."""
    from community.app import create_app

    port = _free_port("127.0.0.1")
    served = replace(settings, base_url=f"http://127.0.0.1:{port}", port=port)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(served), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    relay.forward_to = f"{served.base_url}/webhooks/stripe"
    yield served.base_url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


async def new_page(browser: Browser, viewport: dict[str, int]) -> Page:
    context = await browser.new_context(viewport=viewport, is_mobile=viewport == PHONE)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    await watch_csp(page)
    return page


async def shot(page: Page, name: str) -> None:
    # (Playwright makes the folder.)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def type_card(page: Page, number: str) -> None:
    """Type into the Card Element (the stand-in's fake one is made of plain inputs)."""
    card = page.locator("#card-element")
    await card.locator("input[placeholder=number]").fill(number)
    await card.locator("input[placeholder=exp_month]").fill("12")
    await card.locator("input[placeholder=exp_year]").fill("30")
    await card.locator("input[placeholder=cvc]").fill("123")
    await card.locator("input[placeholder=postal_code]").fill("10115")


@pytest.mark.parametrize(
    ("theme", "viewport", "label"),
    [(Theme.MEETUP, WIDE, "meetup-1280"), (Theme.LUMA, PHONE, "luma-390")],
)
async def test_a_person_buys_a_ticket_with_the_test_card(
    browser: Browser,
    live_server: str,
    make_paid_event: MakeEvent,
    relay: WebhookRelay,
    theme: Theme,
    viewport: dict[str, int],
    label: str,
) -> None:
    event = await make_paid_event(theme=theme, capacity=12, price_cents=1500, refund_days_before=7)
    page = await new_page(browser, viewport)
    stripe_loaded: list[str] = []
    page.on(
        "request",
        lambda r: stripe_loaded.append(r.url) if "/js.stripe.com/" in r.url else None,
    )
    await page.goto(f"{live_server}/events/{event.slug}")
    await expect(page.locator("#register-body")).to_contain_text("€15")
    assert stripe_loaded == []  # never on the event page
    await shot(page, f"{label}-1-event")

    await page.locator("#reg-name").fill("Ada Lovelace")
    await page.locator("#reg-email").fill("ada@buyers.example")
    await page.locator("#register-submit").click()
    await page.wait_for_url(f"{live_server}/checkout/**")
    await expect(page.locator("#hold-left")).to_contain_text(":")
    first = await page.locator("#hold-left").inner_text()
    await expect(page.locator("#pay-button")).to_be_enabled()
    assert len(stripe_loaded) == 1
    # The countdown moves (a second at a time; a loaded machine may take a little longer).
    await expect(page.locator("#hold-left")).not_to_have_text(first, timeout=5000)

    # A declined card first: the person may try again while the seat is held.
    await type_card(page, "4000 0000 0000 0341")
    await page.locator("#pay-button").click()
    await expect(page.locator("#card-errors")).to_contain_text("declined")
    await expect(page.locator("#pay-button")).to_be_enabled()
    await type_card(page, "4242 4242 4242 4242")
    await shot(page, f"{label}-2-checkout")
    await page.locator("#pay-button").click()

    await page.wait_for_url("**/done")
    await expect(page.locator("[data-testid=checkout-status]")).to_contain_text("Confirming")
    await shot(page, f"{label}-3-confirming")
    # Stripe's webhook confirms it; the page follows to the ticket by itself.
    await page.wait_for_url(f"{live_server}/tickets/**", timeout=20_000)
    await expect(page.locator(".qr svg")).to_be_visible()
    await expect(page.locator(".ticket")).to_contain_text("Confirmed")
    await shot(page, f"{label}-4-ticket")
    assert relay.forwarded and all(code == 200 for code in relay.forwarded)

    await page.goto(f"{live_server}/events/{event.slug}")
    await expect(page.locator("[data-testid=you-are-going]")).to_be_visible()
    await page.context.close()
