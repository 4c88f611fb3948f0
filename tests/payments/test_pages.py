"""The paid-ticket pages over real HTTP (Litestar's test client): the event page, the checkout
step and its security policy, the return page, Stripe's webhook endpoint, and bad input."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from community.config import Settings
from community.models import Payment, SoldOutMode, Theme
from community.sandbox.stripe_standin import StripeStandIn, _free_port
from tests.payments.conftest import (
    MakeEvent,
    WebhookRelay,
    deliver,
    stand_in_pays,
    stripe_settings,
)

Client = AsyncTestClient[Litestar]


def json_ld(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert found
    return dict(json.loads(found.group(1)))


async def start(client: Client, slug: str, email: str, *, htmx: bool = True) -> httpx.Response:
    headers = {"hx-request": "true"} if htmx else {}
    return await client.post(
        f"/events/{slug}/checkout",
        data={"name": "Ada Lovelace", "email": email},
        headers=headers,
        follow_redirects=False,
    )


async def payment_of(session_maker: Any, token: str) -> Payment:
    async with session_maker() as session:
        payment = await session.scalar(select(Payment).where(Payment.token == token))
    assert payment is not None
    return payment


@pytest.mark.parametrize("theme", [Theme.MEETUP, Theme.LUMA])
async def test_the_event_page_sells_the_ticket_without_loading_stripe(
    client: Client, make_paid_event: MakeEvent, settings: Settings, theme: Theme
) -> None:
    event = await make_paid_event(theme=theme, price_cents=1550, refund_days_before=7)
    page = await client.get(f"/events/{event.slug}")
    assert page.status_code == 200
    html = page.text
    assert "€15.50" in html
    assert f'action="/events/{event.slug}/checkout"' in html
    assert "Get ticket" in html
    assert "We hold your seat for 10 minutes while you pay" in html
    assert "Full refund if you cancel at least 7 days before" in html
    # Stripe.js only ever loads on the checkout step.
    assert "js.stripe.com" not in html and settings.stripe.api_base not in html
    assert settings.stripe.api_base not in page.headers["content-security-policy"]
    offer = json_ld(html)["offers"]
    assert (offer["price"], offer["priceCurrency"]) == ("15.50", "EUR")
    assert offer["availability"] == "https://schema.org/InStock"


async def test_get_ticket_leads_to_a_checkout_step_that_alone_allows_stripe(
    client: Client, make_paid_event: MakeEvent, settings: Settings, session_maker: Any
) -> None:
    event = await make_paid_event(capacity=3)
    answer = await start(client, event.slug, "ada@buyers.example")
    assert answer.status_code == 200
    where = answer.headers["hx-redirect"]
    assert re.fullmatch(r"/checkout/[A-Za-z0-9_-]{20,64}", where)
    # Without JavaScript: a plain redirect to the same checkout (the hold is reused).
    plain = await start(client, event.slug, "ada@buyers.example", htmx=False)
    assert (plain.status_code, plain.headers["location"]) == (303, where)

    page = await client.get(where)
    assert page.status_code == 200
    html = page.text
    assert f'<script src="{settings.stripe.js_url}"></script>' in html
    payment = await payment_of(session_maker, where.rsplit("/", 1)[1])
    assert f'data-client-secret="{payment.client_secret}"' in html
    assert 'id="hold-left">' in html and "Pay €15" in html
    policy = page.headers["content-security-policy"]
    origin = settings.stripe.api_base
    assert f"script-src 'self' {origin};" in policy
    assert f"connect-src 'self' {origin};" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-robots-tag"] == "noindex, nofollow"
    assert page.headers["referrer-policy"] == "no-referrer"
    # The return page (and everything else) keeps the strict policy.
    done = await client.get(f"{where}/done")
    assert origin not in done.headers["content-security-policy"]
    assert "Confirming your payment" in done.text


async def test_paying_then_the_webhook_then_the_ticket(
    client: Client,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=3)
    where = (await start(client, event.slug, "pay@buyers.example")).headers["hx-redirect"]
    token = where.rsplit("/", 1)[1]
    payment = await payment_of(session_maker, token)
    await stand_in_pays(stripe_standin, payment.client_secret)
    # Paid, but Stripe's webhook has not come: the return page only says "confirming".
    status = await client.get(f"{where}/status", headers={"hx-request": "true"})
    assert status.status_code == 200 and "Confirming your payment" in status.text
    [delivery] = await relay.wait_for(
        payment.stripe_payment_intent_id or "", "payment_intent.succeeded"
    )
    hook = await deliver(client, delivery)
    assert hook.status_code == 200 and hook.json() == {"outcome": "confirmed: seat 1"}
    again = await deliver(client, delivery)
    assert again.status_code == 200 and again.json() == {"outcome": "duplicate"}

    status = await client.get(f"{where}/status", headers={"hx-request": "true"})
    ticket_url = status.headers["hx-redirect"]
    assert ticket_url.startswith("/tickets/") and ticket_url.endswith("?new=1")
    ticket = await client.get(ticket_url)
    assert ticket.status_code == 200
    assert "<svg" in ticket.text and "Confirmed" in ticket.text
    # The event page now knows this visitor holds a ticket.
    assert "You're going" in (await client.get(f"/events/{event.slug}")).text
    done = await client.get(f"{where}/done", follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, ticket_url)


async def test_stripes_webhook_refuses_what_it_did_not_sign(
    client: Client,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=2)
    where = (await start(client, event.slug, "forge@buyers.example")).headers["hx-redirect"]
    payment = await payment_of(session_maker, where.rsplit("/", 1)[1])
    await stand_in_pays(stripe_standin, payment.client_secret)
    intent = payment.stripe_payment_intent_id or ""
    [delivery] = await relay.wait_for(intent, "payment_intent.succeeded")
    forged = replace(delivery, body=delivery.body.replace(b'"amount": 1500', b'"amount": 1'))
    for bad in (
        await deliver(client, forged),
        await deliver(client, delivery, signature="t=1700000000,v1=" + "ab" * 32),
        await deliver(client, delivery, signature=""),
        await client.post("/webhooks/stripe", content=b"{not json", headers={
            "stripe-signature": delivery.signature}),
    ):  # fmt: skip
        assert bad.status_code == 400, bad.text
        assert "<html" not in bad.text
    assert (await payment_of(session_maker, payment.token)).status == "holding"
    assert (await deliver(client, delivery)).json()["outcome"].startswith("confirmed")


async def test_letting_the_seat_go(
    client: Client, make_paid_event: MakeEvent, session_maker: Any
) -> None:
    event = await make_paid_event(capacity=1)
    where = (await start(client, event.slug, "bye@buyers.example")).headers["hx-redirect"]
    gone = await client.post(f"{where}/release", follow_redirects=False)
    assert (gone.status_code, gone.headers["location"]) == (303, f"{where}/done")
    done = await client.get(f"{where}/done")
    assert "Seat given back" in done.text and "Nothing was charged" in done.text
    assert (await client.get(where, follow_redirects=False)).status_code == 303
    # The seat is for sale again.
    assert (await start(client, event.slug, "next@buyers.example")).headers.get("hx-redirect")


async def test_bad_input_gets_a_clear_4xx(
    client: Client, make_paid_event: MakeEvent, stripe_standin: StripeStandIn
) -> None:
    event = await make_paid_event(capacity=1)
    bad_email = await client.post(
        f"/events/{event.slug}/checkout", data={"name": "Ada", "email": "not-an-address"}
    )
    assert bad_email.status_code == 422 and "e-mail" in bad_email.text.lower()
    no_name = await client.post(
        f"/events/{event.slug}/checkout", data={"name": "", "email": "a@buyers.example"}
    )
    assert no_name.status_code == 422 and "Enter your name" in no_name.text
    assert (await client.post("/events/no-such/checkout", data={})).status_code == 404
    for token in ("unknown-token", "x" * 300, "../../etc"):
        assert (await client.get(f"/checkout/{token}")).status_code == 404
        assert (await client.post(f"/checkout/{token}/release")).status_code in (404, 405)
    assert (await client.get("/checkout/unknown/status")).status_code == 286
    free = await make_paid_event(price_cents=0)
    refused = await client.post(
        f"/events/{free.slug}/checkout", data={"name": "Ada", "email": "a@buyers.example"}
    )
    assert refused.status_code == 409 and "This event is free" in refused.text
    sold = await start(client, event.slug, "one@buyers.example")
    assert sold.status_code == 200
    again = await start(client, event.slug, "two@buyers.example")
    assert again.status_code == 409 and "sold out" in again.text.lower()
    assert (await client.post("/webhooks/stripe", content=b"x" * (300 * 1024))).status_code == 413


async def test_a_paid_event_full_in_waitlist_mode_queues_for_free(
    client: Client, make_paid_event: MakeEvent
) -> None:
    event = await make_paid_event(capacity=1, mode=SoldOutMode.WAITLIST)
    await start(client, event.slug, "first@buyers.example")
    page = await client.get(f"/events/{event.slug}")
    assert "Join the waitlist: if a seat opens up, we'll e-mail you a link to pay" in page.text
    queued = await start(client, event.slug, "second@buyers.example")
    assert queued.status_code == 200
    assert "You're on the waitlist" in queued.text and "a link to pay for it" in queued.text


async def test_stripe_out_of_reach_holds_no_seat(
    settings: Settings, redis: Any, stripe_standin: StripeStandIn, make_paid_event: MakeEvent
) -> None:
    from community.app import create_app

    unreachable = f"http://127.0.0.1:{_free_port('127.0.0.1')}"
    dead = replace(settings, stripe=stripe_settings(stripe_standin, api_base=unreachable))
    event = await make_paid_event(capacity=1)
    async with AsyncTestClient(app=create_app(dead)) as client:
        answer = await start(client, event.slug, "ada@buyers.example")
        assert answer.status_code == 503
        assert "no seat was held and nothing was charged" in answer.text
        # The one seat is still for sale.
        page = await client.get(f"/events/{event.slug}")
        assert f'action="/events/{event.slug}/checkout"' in page.text


async def test_a_paid_seat_cannot_be_taken_by_registering_for_free(
    client: Client, make_paid_event: MakeEvent, session_maker: Any
) -> None:
    """The free registration form and the JSON API refuse a paid event: only a checkout's
    payment makes its ticket (the Traffic Cop itself refuses a free native seat)."""
    event = await make_paid_event(capacity=5)
    page = await client.post(
        f"/events/{event.slug}/register", data={"name": "Ada", "email": "free@buyers.example"}
    )
    assert page.status_code == 409 and "This event sells tickets" in page.text
    api = await client.post(
        f"/api/events/{event.id}/registrations",
        json={"name": "Ada", "email": "free@buyers.example"},
    )
    assert api.status_code == 409 and api.json()["code"] == "tickets_on_sale"
    async with session_maker() as session:
        from community.models import Registration

        count = await session.scalar(
            select(func.count()).select_from(Registration).where(Registration.event_id == event.id)
        )
    assert count == 0
