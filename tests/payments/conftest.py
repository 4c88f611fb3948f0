"""The payments rig: a real localstripe (our stand-in launcher) and a webhook relay.

localstripe signs each event with our endpoint's secret and POSTs it over HTTP to the relay
here. The relay keeps every delivery (body and Stripe-Signature header, untouched), so a test
can hand a webhook to the app once, twice, late or out of order, through the real endpoint.
With `forward_to` set (a live server), it passes each delivery on at once, as Stripe would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiohttp import web
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from saq import Queue
from saq.job import Status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings, StripeSettings
from community.models import Event, EventStatus, Payment, SoldOutMode, Theme
from community.queue import make_queues
from community.sandbox.stripe_standin import StripeStandIn, _free_port
from community.services.jobs import PaymentQueue
from community.services.payments.context import Payments
from community.services.payments.gateway import StripeGateway
from community.services.seats.hooks import InventoryHooks, PromotionHooks, RegistrationHooks
from community.services.seats.registrations import RegistrationService
from community.tasks import registry
from community.worker import load_task_modules

WEBHOOK_SECRET = "whsec_test_" + "k" * 24


@dataclass
class Delivery:
    body: bytes
    signature: str

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return str(self.event["type"])

    @property
    def intent_id(self) -> str:
        return str(self.event["data"]["object"]["id"])


@dataclass
class WebhookRelay:
    """Receives localstripe's webhooks; keeps them, or forwards them to a live app."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    forward_to: str | None = None
    forwarded: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, request: web.Request) -> web.Response:
        delivery = Delivery(await request.read(), request.headers.get("Stripe-Signature", ""))
        self.deliveries.append(delivery)
        self.arrived.set()
        if self.forward_to:
            async with httpx.AsyncClient() as client:
                answer = await client.post(
                    self.forward_to,
                    content=delivery.body,
                    headers={
                        "content-type": "application/json",
                        "stripe-signature": delivery.signature,
                    },
                )
            self.forwarded.append(answer.status_code)
            return web.Response(status=answer.status_code)
        return web.Response(text="kept")

    async def wait_for(
        self, intent_id: str, event_type: str, *, within_s: float = 10.0, count: int = 1
    ) -> list[Delivery]:
        """The deliveries of `event_type` for this PaymentIntent, once `count` have come."""
        deadline = time.monotonic() + within_s
        while True:
            found = [
                d for d in self.deliveries if d.intent_id == intent_id and d.type == event_type
            ]
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"no {event_type} webhook for {intent_id} within {within_s}s"
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(left, 0.5))


@pytest.fixture(scope="session")
async def webhook_relay() -> AsyncIterator[WebhookRelay]:
    relay = WebhookRelay()
    app = web.Application()
    app.router.add_post("/stripe", relay.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port("127.0.0.1")
    await web.TCPSite(runner, "127.0.0.1", port).start()
    relay.url = f"http://127.0.0.1:{port}/stripe"
    yield relay
    await runner.cleanup()


@pytest.fixture(scope="session")
async def stripe_standin(webhook_relay: WebhookRelay) -> AsyncIterator[StripeStandIn]:
    """localstripe in its own process for the whole run (each test's intents are its own)."""
    standin = StripeStandIn(webhook_url=webhook_relay.url, webhook_secret=WEBHOOK_SECRET)
    await standin.astart()
    yield standin
    await standin.astop()


def stripe_settings(standin: StripeStandIn, **overrides: Any) -> StripeSettings:
    return replace(
        StripeSettings(
            secret_key="sk_test_" + secrets.token_hex(12),
            publishable_key="pk_test_" + secrets.token_hex(12),
            webhook_secret=WEBHOOK_SECRET,
            api_base=standin.base_url,
        ),
        **overrides,
    )


@pytest.fixture
def settings(base_settings: Settings, stripe_standin: StripeStandIn) -> Settings:
    """Each test: its own Redis prefix (as everywhere) and Stripe pointing at the stand-in."""
    return replace(
        base_settings,
        redis_prefix=f"t{secrets.token_hex(6)}:",
        stripe=stripe_settings(stripe_standin),
    )


@pytest.fixture
def relay(webhook_relay: WebhookRelay) -> Iterator[WebhookRelay]:
    webhook_relay.forward_to = None
    yield webhook_relay
    webhook_relay.forward_to = None


async def stand_in_pays(
    standin: StripeStandIn, client_secret: str, card: str = "4242424242424242"
) -> httpx.Response:
    """What the fake Stripe.js does when the person presses Pay: the card, then confirm."""
    intent_id = client_secret.split("_secret_")[0]
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{standin.base_url}/v1/payment_intents/{intent_id}/_authenticate/card",
            content=json.dumps(
                {
                    "key": "pk_test_browser",
                    "client_secret": client_secret,
                    "card": {"number": card, "exp_month": "12", "exp_year": "2030", "cvc": "123"},
                }
            ),
        )


async def deliver(
    client: AsyncTestClient[Litestar], delivery: Delivery, *, signature: str | None = None
) -> httpx.Response:
    """Hand one webhook to the app's endpoint, as Stripe sends it."""
    return await client.post(
        "/webhooks/stripe",
        content=delivery.body,
        headers={
            "content-type": "application/json",
            "stripe-signature": delivery.signature if signature is None else signature,
        },
    )


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# --- the service under test, wired as the app and the worker wire it ------------------------


MakeEvent = Callable[..., Awaitable[Event]]


@pytest.fixture
def make_paid_event(session_maker: async_sessionmaker[AsyncSession]) -> MakeEvent:
    """A published paid event (EUR 15 by default); nothing in Redis until first use."""

    async def make(
        *,
        capacity: int = 20,
        reserve: int = 0,
        mode: SoldOutMode = SoldOutMode.SOLD_OUT,
        price_cents: int = 1500,
        currency: str = "EUR",
        theme: Theme = Theme.MEETUP,
        starts_in: timedelta = timedelta(days=10),
        **fields: Any,
    ) -> Event:
        token = secrets.token_hex(4)
        start = (datetime.now(UTC) + starts_in).replace(microsecond=0)
        values: dict[str, Any] = {
            "slug": f"paid-{token}",
            "title": f"Paid Workshop {token}",
            "summary": "A hands-on evening: bring a laptop.",
            "description_md": "Hands-on **asyncio** workshop.",
            "starts_at": start,
            "ends_at": start + timedelta(hours=3),
            "timezone": "Europe/Berlin",
            "organiser_name": "Berlin Python Community",
            "group_name": "Berlin Python Meetup",
            "venue_name": "Factory Görlitzer Park",
            "address": "Lohmühlenstraße 65",
            "city": "Berlin",
            "country": "DE",
            "theme": theme,
            "capacity": capacity,
            "native_reserve": reserve,
            "soldout_mode": mode,
            "status": EventStatus.PUBLISHED,
            "published_at": datetime.now(UTC) - timedelta(days=1),
            "price_cents": price_cents,
            "currency": currency,
        }
        values.update(fields)
        event = Event(**values)
        async with session_maker() as session, session.begin():
            session.add(event)
        return event

    return make


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(settings.stripe)
    yield gateway
    await gateway.aclose()


@dataclass
class Rig:
    """The payments services as the app wires them, with this test's own listeners, and a
    worker that runs whatever jobs they queued (scheduled ones only once due)."""

    payments: Payments
    queues: dict[str, Queue]
    ctx: dict[str, Any]
    mirror_fired: list[UUID] = field(default_factory=list)

    async def run_jobs(self, only: frozenset[str] | None = None) -> list[tuple[str, Any]]:
        """Run the queued jobs (those named in `only`; the others are taken and dropped),
        and the jobs they queue, until both queues are empty."""
        load_task_modules()
        done: list[tuple[str, Any]] = []
        busy = True
        while busy:
            busy = False
            for name in ("urgent", "default"):
                while (job := await self.queues[name].dequeue(timeout=0.02)) is not None:
                    busy = True
                    if only is not None and job.function not in only:
                        await job.finish(Status.ABORTED)
                        continue
                    self.ctx["job"] = job
                    result = await registry.TASKS[job.function](self.ctx, **job.kwargs)
                    await job.finish(Status.COMPLETE, result=result)
                    done.append((job.function, result))
        return done


@pytest.fixture
def rig(
    settings: Settings,
    redis: Redis,
    session_maker: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
) -> Rig:
    queues = make_queues(settings, redis)
    jobs = PaymentQueue(queues)
    freed, cancelled, changed = InventoryHooks(), RegistrationHooks(), InventoryHooks()
    registrations = RegistrationService.build(
        settings,
        redis,
        session_maker,
        hooks=changed,
        promotions=PromotionHooks(),
        paid_waitlist=freed,
        cancellations=cancelled,
    )
    payments = Payments(settings, registrations, gateway, jobs)

    async def offer(event_id: UUID, channel: str) -> None:
        await jobs.offer_seats(event_id)

    async def settle(event_id: UUID, registration_id: UUID) -> None:
        await jobs.settle(registration_id)

    freed.add(offer)
    cancelled.add(settle)
    ctx = {
        "settings": settings,
        "redis": redis,
        "session_maker": session_maker,
        "queues": queues,
        "payments": payments,
    }
    made = Rig(payments, queues, ctx)

    async def seen(event_id: UUID, channel: str) -> None:
        made.mirror_fired.append(event_id)

    changed.add(seen)
    return made


async def pay_and_confirm(
    rig: Rig, standin: StripeStandIn, relay: WebhookRelay, client_secret: str
) -> str:
    """The person pays; Stripe's signed webhook reaches the payments service once."""
    from community.services.payments.confirmations import handle_webhook

    answer = await stand_in_pays(standin, client_secret)
    assert answer.status_code == 200, answer.text
    intent_id = client_secret.split("_secret_")[0]
    [delivery] = await relay.wait_for(intent_id, "payment_intent.succeeded")
    return await handle_webhook(rig.payments, delivery.body, delivery.signature)


async def buy(
    rig: Rig, standin: StripeStandIn, relay: WebhookRelay, event_id: UUID, email: str
) -> Payment:
    """A ticket bought and confirmed; returns its payment row."""
    from community.services.payments.checkout import Checkout, start_checkout

    started = await start_checkout(rig.payments, event_id, name="Buyer", email=email)
    assert isinstance(started, Checkout)
    outcome = await pay_and_confirm(rig, standin, relay, started.client_secret)
    assert outcome.startswith("confirmed"), outcome
    async with rig.payments.session_maker() as session:
        payment = await session.get(Payment, started.payment_id)
    assert payment is not None
    return payment
