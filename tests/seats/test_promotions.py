"""Everyone seated from the waitlist is reported once through the promotion hook, whatever
seated them; the ticket e-mail listens there. The JSON API mails like the event page."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Registration, SoldOutMode
from community.queue import make_queues
from community.services.jobs import install_promotion_mail, uninstall_promotion_mail
from community.services.seats.hooks import PromotionHooks
from community.services.seats.reconcile import reconcile_event
from community.services.seats.registrations import RegistrationService
from tests.helpers.seats import run_existing_ticket_jobs
from tests.helpers.web import take_ticket_mails

Client = AsyncTestClient[Litestar]


async def register(service: RegistrationService, event_id: UUID, who: str) -> Any:
    return await service.register(event_id, name=who.title(), email=f"{who}@example.com")


@pytest.fixture
def promoted(promotions: PromotionHooks) -> list[tuple[UUID, UUID]]:
    calls: list[tuple[UUID, UUID]] = []

    async def listener(event_id: UUID, registration_id: UUID) -> None:
        calls.append((event_id, registration_id))

    promotions.add(listener)
    return calls


async def test_a_cancellation_reports_the_person_who_gets_the_seat(
    registrations: RegistrationService, make_event: Any, promoted: list[tuple[UUID, UUID]]
) -> None:
    event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
    first = await register(registrations, event.id, "ada")
    second = await register(registrations, event.id, "grace")
    third = await register(registrations, event.id, "linus")
    assert promoted == []  # joining the waitlist is no promotion
    await registrations.cancel(first.ticket_token)
    assert promoted == [(event.id, second.registration_id)]
    # Cancelling a waitlist place frees no seat: nobody moves up.
    await registrations.cancel(third.ticket_token)
    assert promoted == [(event.id, second.registration_id)]


async def test_raising_the_capacity_reports_each_person_seated_once(
    registrations: RegistrationService, make_event: Any, promoted: list[tuple[UUID, UUID]]
) -> None:
    event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
    await register(registrations, event.id, "ada")
    waiting = [await register(registrations, event.id, who) for who in ("grace", "linus")]
    change = await registrations.change_seats(
        event.id, capacity=3, reserve=0, mode=SoldOutMode.WAITLIST
    )
    assert len(change.promoted) == 2
    assert promoted == [(event.id, w.registration_id) for w in waiting]


async def test_the_reconciler_reports_whom_it_seats(
    registrations: RegistrationService, make_event: Any, promoted: list[tuple[UUID, UUID]]
) -> None:
    event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
    first = await register(registrations, event.id, "ada")
    waiting = await register(registrations, event.id, "grace")
    # The cancellation reached the ledger, but the process died before promoting anyone.
    await registrations.inventory.release(event.id, [registrations.keys.email("ada@example.com")])
    async with registrations.session_maker() as session, session.begin():
        await session.execute(
            update(Registration)
            .where(Registration.id == first.registration_id)
            .values(status="cancelled")
        )
    drift = await reconcile_event(registrations, event.id, grace_ms=0)
    assert drift.promoted == 1
    assert promoted == [(event.id, waiting.registration_id)]


async def test_the_promotion_mail_queues_one_promoted_ticket_per_person(
    settings: Settings, redis: Redis, registrations: RegistrationService, make_event: Any
) -> None:
    queues = make_queues(settings, redis)
    listener = install_promotion_mail(queues, registrations.promotions)
    try:
        event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
        first = await register(registrations, event.id, "ada")
        waiting = await register(registrations, event.id, "grace")
        await registrations.cancel(first.ticket_token)
    finally:
        uninstall_promotion_mail(listener, registrations.promotions)
    assert await take_ticket_mails(settings, redis) == [(str(waiting.registration_id), "promoted")]


async def test_api_registration_queues_the_ticket_mail_like_the_page(
    client: Client,
    settings: Settings,
    redis: Redis,
    make_event: Any,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
    url = f"/api/events/{event.id}/registrations"
    seated = (await client.post(url, json={"name": "Ada", "email": "ada@example.com"})).json()
    waiting = (await client.post(url, json={"name": "Grace", "email": "grace@example.com"})).json()
    assert await take_ticket_mails(settings, redis) == [
        (seated["registration_id"], "confirmed"),
        (waiting["registration_id"], "waitlisted"),
    ]
    refused = await client.post(url, json={"name": "Ada", "email": "ada@example.com"})
    assert refused.status_code == 409
    # The address already has a place: its owner gets the ticket again, the caller nothing.
    assert await run_existing_ticket_jobs(settings, redis, session_maker) == 1
    assert await take_ticket_mails(settings, redis) == [(seated["registration_id"], "resend")]

    async with session_maker() as session:
        token = await session.scalar(
            select(Registration.ticket_token).where(
                Registration.id == UUID(seated["registration_id"])
            )
        )
    cancelled = await client.delete(f"/api/registrations/{token}")
    assert cancelled.status_code == 200 and cancelled.json()["promoted_from_waitlist"] == 1
    # The person who cancelled, and (through the app's promotion hook) the one seated now.
    assert sorted(await take_ticket_mails(settings, redis)) == sorted(
        [(seated["registration_id"], "cancelled"), (waiting["registration_id"], "promoted")]
    )
