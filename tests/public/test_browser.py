"""What a person sees, in headless Chromium against a real server: htmx and no-JS registration,
the live seat count, the ticket's QR code, both themes on a phone."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Theme
from community.services.seats.hooks import InventoryHooks, PromotionHooks
from community.services.seats.registrations import RegistrationService
from tests.conftest import CSP_VIOLATIONS, watch_csp
from tests.helpers.public import MakeEvent

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server_settings(base_settings: Settings) -> Settings:
    port = _free_port()
    return replace(
        base_settings, redis_prefix=f"tb{secrets.token_hex(4)}:", base_url=f"http://127.0.0.1:{port}",
        port=port,
    )  # fmt: skip


@pytest.fixture(scope="module")
def live_server(server_settings: Settings) -> Iterator[str]:
    """The whole app under uvicorn, in a thread with its own event loop."""
    from community.app import create_app

    config = uvicorn.Config(
        create_app(server_settings),
        host="127.0.0.1",
        port=server_settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    yield server_settings.base_url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        await chromium.close()


@pytest.fixture
def site_registrations(
    server_settings: Settings, redis: Any, session_maker: async_sessionmaker[AsyncSession]
) -> RegistrationService:
    """Registrations made behind the page's back, on the server's Redis prefix."""
    return RegistrationService.build(
        server_settings, redis, session_maker, hooks=InventoryHooks(), promotions=PromotionHooks()
    )


async def new_page(browser: Browser, *, javascript: bool = True, phone: bool = False) -> Page:
    context = await browser.new_context(
        java_script_enabled=javascript,
        viewport=PHONE if phone else {"width": 1280, "height": 900},
        is_mobile=phone,
    )
    page = await context.new_page()
    page.set_default_timeout(8000)
    await watch_csp(page)
    return page


async def test_register_with_htmx_without_a_reload(
    browser: Browser, live_server: str, make_event: MakeEvent
) -> None:
    event = await make_event(theme=Theme.MEETUP, capacity=30, reserve=5)
    page = await new_page(browser)
    await page.goto(f"{live_server}/events/{event.slug}")
    await expect(page.locator("#live-seats")).to_contain_text("30 spots left")
    await page.evaluate("window.__stillHere = true")  # gone if the page reloads
    await page.get_by_label("Your name").fill("Ada Lovelace")
    await page.get_by_label("E-mail").fill("ada@example.com")
    await page.locator("#register-submit").click()
    await expect(page.locator(".outcome-title")).to_have_text("You're in!")
    assert await page.evaluate("window.__stillHere") is True
    assert page.url.endswith(f"/events/{event.slug}")
    await expect(page.locator("#live-seats")).to_contain_text("29 spots left")

    # Same address again, typed differently: told where and when, in place.
    # This browser now knows its place: the page says so instead of offering the form again.
    await page.reload()
    await expect(page.locator('[data-testid="you-are-going"]')).to_contain_text("You're going")
    await page.context.close()

    # Another browser, same address typed differently: told where and when, in place.
    page = await new_page(browser)
    await page.goto(f"{live_server}/events/{event.slug}")
    await page.get_by_label("Your name").fill("Ada L")
    await page.get_by_label("E-mail").fill("ADA@example.com")
    await page.get_by_label("E-mail").press("Enter")  # keyboard only
    await expect(page.locator(".outcome-title")).to_contain_text(
        "already registered (via this page"
    )

    # A field error comes back in place, with focusable, labelled inputs kept.
    await page.reload()
    await page.get_by_label("Your name").fill("Bob")
    await page.get_by_label("E-mail").fill("bob-at-example")
    await page.locator("#register-submit").click()
    await expect(page.locator("#reg-email-error")).to_contain_text("valid e-mail")
    await expect(page.get_by_label("Your name")).to_have_value("Bob")
    await page.context.close()


async def test_register_with_javascript_off(
    browser: Browser, live_server: str, make_event: MakeEvent
) -> None:
    event = await make_event(theme=Theme.LUMA)
    page = await new_page(browser, javascript=False)
    await page.goto(f"{live_server}/events/{event.slug}")
    await page.get_by_label("Your name").fill("Grace Hopper")
    await page.get_by_label("E-mail").fill("grace@example.com")
    await page.locator("#register-submit").click()
    await page.wait_for_url("**/tickets/**")
    await expect(page.locator(".welcome")).to_contain_text("You're registered!")
    qr = page.locator("svg.qr-svg")
    await expect(qr).to_be_visible()
    box = await qr.bounding_box()
    assert box is not None and box["width"] >= 200 and box["height"] >= 200
    await page.context.close()


async def test_live_seat_count_refreshes_by_itself(
    browser: Browser,
    live_server: str,
    make_event: MakeEvent,
    site_registrations: RegistrationService,
) -> None:
    event = await make_event(theme=Theme.LUMA, capacity=12, reserve=0)
    page = await new_page(browser)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    await page.goto(f"{live_server}/events/{event.slug}")
    await expect(page.locator("#live-seats")).to_contain_text("12 spots left")
    for i in range(3):
        await site_registrations.register(event.id, name=f"Guest {i}", email=f"g{i}@example.com")
    # No reload: the fragment polls every few seconds.
    await expect(page.locator("#live-seats")).to_contain_text("9 spots left", timeout=9000)
    await expect(page.locator("#going")).to_contain_text("3 going")
    assert refused == [], refused  # the poll needs nothing the security policy forbids
    await page.context.close()


async def test_a_hidden_tab_does_not_poll_the_seat_count(
    browser: Browser, live_server: str, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=12, reserve=0)
    page = await new_page(browser)
    # The tab is in the background from the start (another tab in front).
    await page.add_init_script(
        "Object.defineProperty(document, 'hidden', {get: () => true, configurable: true})"
    )
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/live" in r.url else None)
    await page.goto(f"{live_server}/events/{event.slug}")
    await page.wait_for_timeout(6500)  # more than one 5 s poll
    assert polls == [], polls
    await page.context.close()


async def test_ticket_page_shows_the_qr_on_a_phone_in_both_themes(
    browser: Browser,
    live_server: str,
    make_event: MakeEvent,
    site_registrations: RegistrationService,
) -> None:
    for theme in (Theme.MEETUP, Theme.LUMA):
        event = await make_event(theme=theme)
        reg = await site_registrations.register(event.id, name="Ann", email="ann@example.com")
        page = await new_page(browser, phone=True)
        for path in (f"/events/{event.slug}", f"/tickets/{reg.ticket_token}"):
            await page.goto(f"{live_server}{path}")
            # Nothing wider than the phone: no sideways scrolling.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (theme, path, width)
        await expect(page.locator("svg.qr-svg")).to_be_visible()
        await expect(page.locator(f"body.theme-{theme.value}")).to_have_count(1)
        await page.context.close()


async def test_the_pages_policy_refuses_inline_script(
    browser: Browser, live_server: str, make_event: MakeEvent
) -> None:
    """The app's own Content-Security-Policy, applied to a page with an inline script: the
    script does not run, and the watch that every browser test carries reports it."""
    import httpx

    event = await make_event()
    async with httpx.AsyncClient() as client:
        real = await client.get(f"{live_server}/events/{event.slug}")
    policy = real.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    page = await new_page(browser)
    probe = f"{live_server}/csp-probe"
    await page.route(
        probe,
        lambda route: route.fulfill(
            status=200,
            headers={"content-type": "text/html", "content-security-policy": policy},
            body="<title>before</title><script>document.title = 'ran'</script>",
        ),
    )
    await page.goto(probe)
    await page.wait_for_timeout(200)
    assert await page.title() == "before"
    seen = [v for v in CSP_VIOLATIONS if "csp-probe" in v]
    assert seen, CSP_VIOLATIONS
    CSP_VIOLATIONS.clear()  # expected here; any other page's violation fails its test
