"""500 people try to buy the last 10 seats of a paid event at once (issue 12's rush test).

Exactly 10 holds are taken. Three of those buyers let their holds lapse: their seats go to
the next people (the next buyers in sold-out mode, the first three waiting in waitlist
mode), and no seat is ever sold twice. Real PostgreSQL, Redis and localstripe; the service
the checkout pages call, driven directly (one client address would meet the per-address
limit long before 500 requests).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from community.models import Event, Payment, PaymentStatus, Registration, SoldOutMode
from community.redis_client import make_redis
from community.sandbox.stripe_standin import StripeStandIn
from community.services.payments.checkout import Checkout, start_checkout
from community.services.payments.gateway import StripeGateway
from community.services.payments.sweep import sweep
from community.services.seats.refusals import SoldOutError
from community.services.seats.results import Registered
from tests.payments.conftest import MakeEvent, Rig, WebhookRelay, pay_and_confirm

CAPACITY, LAST, PEOPLE, LAPSING = 40, 10, 500, 3

pytestmark = pytest.mark.slow


@pytest.fixture
async def rush_rig(rig: Rig, settings: Any) -> Any:
    """The rig on the product's own Redis client: a bounded pool that makes requests wait
    for a connection, as a web process does, instead of failing past 100 at once."""
    client = make_redis(settings)
    registrations = rig.payments.registrations
    registrations.inventory.redis = client
    registrations.inventory._scripts = {}
    yield rig
    await client.aclose()


async def rush(rig: Rig, event_id: Any, emails: list[str]) -> tuple[list[Any], float]:
    started = time.perf_counter()

    async def attempt(email: str) -> Any:
        try:
            return await start_checkout(rig.payments, event_id, name="Rush Buyer", email=email)
        except SoldOutError as exc:
            return exc

    results = await asyncio.gather(*(attempt(e) for e in emails))
    return list(results), time.perf_counter() - started


@pytest.mark.parametrize("mode", [SoldOutMode.SOLD_OUT, SoldOutMode.WAITLIST])
async def test_500_people_for_the_last_10_seats(
    rush_rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    gateway: StripeGateway,
    session_maker: Any,
    mode: SoldOutMode,
) -> None:
    rig = rush_rig
    event = await make_paid_event(capacity=CAPACITY, mode=mode, price_cents=0)
    registrations = rig.payments.registrations
    # Taken before the rush (speakers, sponsors: free), then the price is set: all but the
    # last ten seats are gone.
    for i in range(CAPACITY - LAST):
        await registrations.register(event.id, name=f"Early {i}", email=f"early{i}@buyers.example")
    async with session_maker() as session, session.begin():
        stored = await session.get(Event, event.id)
        assert stored is not None
        stored.price_cents = 1500
    await registrations.refresh(event.id)
    tag = secrets.token_hex(3)
    emails = [f"rush{i}-{tag}@buyers.example" for i in range(PEOPLE)]

    results, took = await rush(rig, event.id, emails)
    holds = [r for r in results if isinstance(r, Checkout)]
    assert len(holds) == LAST
    turned_away = [r for r in results if not isinstance(r, Checkout)]
    if mode == SoldOutMode.SOLD_OUT:
        assert all(isinstance(r, SoldOutError) for r in turned_away)
    else:
        assert all(isinstance(r, Registered) and r.status == "waitlisted" for r in turned_away)
    counts = await registrations.counts(event.id)
    assert (counts.native, counts.held, counts.native_left) == (CAPACITY, LAST, 0)
    print(f"\n[{mode}] {PEOPLE} checkouts for {LAST} seats in {took:.2f}s: {len(holds)} holds")

    # Seven pay; three walk away and let their holds lapse.
    paying, lapsing = holds[: LAST - LAPSING], holds[LAST - LAPSING :]
    paid_started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(pay_and_confirm(rig, stripe_standin, relay, h.client_secret) for h in paying)
    )
    assert all(o.startswith("confirmed") for o in outcomes), outcomes
    async with session_maker() as session, session.begin():
        for h in lapsing:
            # Ten minutes pass for them (a test cannot wait): the deadline is 10 s behind.
            row = await session.get(Payment, h.payment_id)
            assert row is not None
            row.hold_expires_at = datetime.now(UTC) - timedelta(seconds=10)
            row.held_until = datetime.now(UTC) + timedelta(seconds=50)
    await sweep(rig.payments)
    for h in lapsing:
        async with session_maker() as session:
            assert (await session.get(Payment, h.payment_id)).status == "expired"  # type: ignore[union-attr]
        intent = await gateway.retrieve_intent(h.client_secret.split("_secret_")[0])
        assert intent.status == "canceled"

    # The three seats go to the next people.
    if mode == SoldOutMode.SOLD_OUT:
        wave = [f"next{i}-{tag}@buyers.example" for i in range(100)]
        again, _ = await rush(rig, event.id, wave)
        next_holds = [r for r in again if isinstance(r, Checkout)]
    else:
        # (The 490 "you're on the waitlist" e-mails are left out: not what is measured.)
        done = dict(await rig.run_jobs(only=frozenset({"offer_waitlist_seats"})))
        assert done["offer_waitlist_seats"] == f"offered {LAPSING}"
        async with session_maker() as session:
            offers = list(
                await session.scalars(
                    select(Payment).where(Payment.event_id == event.id, Payment.kind == "offer")
                )
            )
            # First come, first served: the order the ledger recorded them in.
            first_waiting = set(
                await session.scalars(
                    select(Registration.id)
                    .where(Registration.event_id == event.id, Registration.status == "waitlisted")
                    .order_by(Registration.waitlisted_at, Registration.id)
                    .limit(LAPSING)
                )
            )
        assert {o.registration_id for o in offers} == first_waiting
        next_holds = offers
    assert len(next_holds) == LAPSING
    outcomes = await asyncio.gather(
        *(pay_and_confirm(rig, stripe_standin, relay, h.client_secret) for h in next_holds)
    )
    assert all(o.startswith("confirmed") for o in outcomes), outcomes
    print(f"[{mode}] 7 paid, 3 lapsed, 3 resold in {time.perf_counter() - paid_started:.2f}s")

    # No seat sold twice, every seat sold once, every ticket paid for.
    async with session_maker() as session:
        seats = list(
            await session.scalars(
                select(Registration.seat_no).where(
                    Registration.event_id == event.id, Registration.status == "confirmed"
                )
            )
        )
        paid = await session.scalar(
            select(func.count()).select_from(Payment).where(
                Payment.event_id == event.id,
                Payment.status == PaymentStatus.PAID,
                Payment.registration_id.is_not(None),
            )
        )  # fmt: skip
        expired = await session.scalar(
            select(func.count()).select_from(Payment).where(
                Payment.event_id == event.id, Payment.status == PaymentStatus.EXPIRED
            )
        )  # fmt: skip
    assert sorted(seats) == list(range(1, CAPACITY + 1))
    assert (paid, expired) == (LAST, LAPSING)
    counts = await registrations.counts(event.id)
    assert (counts.native, counts.held, counts.native_left) == (CAPACITY, 0, 0)
