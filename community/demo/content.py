"""Sample content for `community demo`: three published events (one paid) and an owner."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Event, EventStatus, Role, SoldOutMode, Theme, User
from community.services.access.passwords import hash_password

DEMO_ADMIN_EMAIL = "admin@example.com"

SAMPLE_EVENTS: list[dict[str, Any]] = [
    {
        "slug": "python-async-in-production",
        "title": "Python Meetup: Async in Production",
        "summary": "Three short talks on running asyncio services at scale, then pizza.",
        "description_md": (
            "Join us for an evening of **asyncio war stories**.\n\n"
            "- *Back-pressure without tears* — queues, semaphores and timeouts\n"
            "- *Profiling the event loop* — finding the one sync call\n"
            "- *Lightning talks* — bring five minutes of something you learned\n\n"
            "Doors open at 18:30, talks start at 19:00. Pizza and drinks afterwards."
        ),
        "timezone": "Europe/Berlin",
        "venue_name": "Factory Berlin Görlitzer Park",
        "address": "Lohmühlenstraße 65, 12435 Berlin",
        "city": "Berlin",
        "country": "DE",
        "latitude": 52.4934,
        "longitude": 13.4469,
        "organiser_name": "Berlin Python Community",
        "group_name": "Berlin Python Meetup",
        "theme": Theme.MEETUP,
        "capacity": 100,
        "native_reserve": 40,
        "soldout_mode": SoldOutMode.WAITLIST,
        "days_ahead": 14,
        "hours": 3,
    },
    {
        "slug": "design-systems-night",
        "title": "Design Systems Night",
        "summary": "An evening on tokens, components and the people who maintain them.",
        "description_md": (
            "A calm evening for people who build and care for design systems.\n\n"
            "We'll hear how two teams ship **design tokens** across web and mobile, "
            "then break into small circles to swap notes.\n\n"
            "> Tea, coffee and snacks provided."
        ),
        "timezone": "Europe/London",
        "venue_name": "",
        "address": "",
        "city": "",
        "country": "",
        "latitude": None,
        "longitude": None,
        "online_url": "https://meet.example.org/design-systems-night",
        "organiser_name": "Design Circle",
        "group_name": "Design Circle London",
        "theme": Theme.LUMA,
        "capacity": 60,
        "native_reserve": 20,
        "soldout_mode": SoldOutMode.SOLD_OUT,
        "days_ahead": 21,
        "hours": 2,
    },
    {
        # Paid tickets: bought on its page with the test card 4242 4242 4242 4242 (any future
        # date, any three digits), through the local Stripe stand-in.
        "slug": "async-testing-workshop",
        "title": "Hands-on Workshop: Testing Async Python",
        "summary": "Three hours of pytest, event loops and fakes, with coffee and a laptop.",
        "description_md": (
            "A small, hands-on workshop: bring a laptop with Python 3.11.\n\n"
            "- *Fixtures that own an event loop* and why yours leaks tasks\n"
            "- *Fakes over mocks*: testing against a real server on loopback\n"
            "- *Flaky no more*: time, retries and ordering\n\n"
            "Tickets pay for the room and the coffee. Full refund up to a week before."
        ),
        "timezone": "Europe/Berlin",
        "venue_name": "Betahaus Kreuzberg",
        "address": "Rudi-Dutschke-Straße 23, 10969 Berlin",
        "city": "Berlin",
        "country": "DE",
        "latitude": 52.5067,
        "longitude": 13.3912,
        "organiser_name": "Berlin Python Community",
        "group_name": "Berlin Python Meetup",
        "theme": Theme.MEETUP,
        "capacity": 24,
        "native_reserve": 24,
        "soldout_mode": SoldOutMode.WAITLIST,
        "price_cents": 1500,
        "currency": "EUR",
        "refund_days_before": 7,
        "days_ahead": 28,
        "hours": 3,
    },
]


def _start(days_ahead: int) -> datetime:
    day = datetime.now(UTC).replace(hour=17, minute=0, second=0, microsecond=0)
    return day + timedelta(days=days_ahead)


async def seed_sample_events(session: AsyncSession, owner: User) -> list[Event]:
    events = []
    for spec in SAMPLE_EVENTS:
        existing = await session.scalar(select(Event).where(Event.slug == spec["slug"]))
        if existing is not None:
            events.append(existing)
            continue
        data = {k: v for k, v in spec.items() if k not in ("days_ahead", "hours")}
        starts = _start(spec["days_ahead"])
        event = Event(
            **data,
            starts_at=starts,
            ends_at=starts + timedelta(hours=spec["hours"]),
            status=EventStatus.PUBLISHED,
            published_at=datetime.now(UTC),
            owner_id=owner.id,
        )
        session.add(event)
        events.append(event)
    await session.commit()
    return events


async def reset_demo_owner(session: AsyncSession) -> tuple[User, str]:
    """The demo's owner account, with a fresh password printed on every start."""
    password = secrets.token_urlsafe(12)
    user = await session.scalar(select(User).where(User.email == DEMO_ADMIN_EMAIL))
    if user is None:
        user = User(email=DEMO_ADMIN_EMAIL, name="Demo Owner", role=Role.OWNER, password_hash="")
        session.add(user)
    user.password_hash = hash_password(password)
    user.session_version = (user.session_version or 0) + 1  # a new password ends old sessions
    user.is_active = True
    await session.commit()
    return user, password
