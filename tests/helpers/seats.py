"""Helpers of the seat tests: the event makers' types, the registration API, a rush of people
at once, the ticket jobs."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings, VisitorLimitSettings
from community.models import Event, Registration
from community.queue import make_queues
from community.tasks import email as email_tasks
from tests.helpers.web import take_jobs

EmptyEvent = Callable[..., Awaitable[uuid.UUID]]
MakeEvent = Callable[..., Awaitable[Event]]
Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]


async def ticket_token(
    session_maker: async_sessionmaker[AsyncSession], registration_id: Any
) -> str:
    """The token the ticket e-mail carries (the API's answer does not)."""
    async with session_maker() as session:
        token = await session.scalar(
            select(Registration.ticket_token).where(Registration.id == registration_id)
        )
    assert token
    return token


async def post_registration(client: Client, event_id: Any, name: str, email: str) -> Any:
    return await client.post(
        f"/api/events/{event_id}/registrations", json={"name": name, "email": email}
    )


async def run_existing_ticket_jobs(
    settings: Settings, redis: Redis, session_maker: Sessions
) -> int:
    """Run the queued "send the ticket to this address again" jobs, as a worker would."""
    queues = make_queues(settings, redis)
    ctx = {"settings": settings, "session_maker": session_maker, "queues": queues}
    jobs = [kw for fn, kw in await take_jobs(settings, redis) if fn == "send_existing_ticket_email"]
    for kwargs in jobs:
        await email_tasks.send_existing_ticket_email(ctx, **kwargs)
    return len(jobs)


MANY = VisitorLimitSettings(register_per_address=10_000, register_per_event=10_000)


def new_person(n: int) -> dict[str, str]:
    return {"name": f"Person {n}", "email": f"p{n}.{secrets.token_hex(3)}@example.com"}


@asynccontextmanager
async def concurrent_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests really run at once, in this event loop (Litestar's test
    client answers them one after another)."""
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def rush(client: Any, event_id: Any, people: int) -> list[Any]:
    path = f"/api/events/{event_id}/registrations"
    return list(
        await asyncio.gather(*(client.post(path, json=new_person(n)) for n in range(people)))
    )
