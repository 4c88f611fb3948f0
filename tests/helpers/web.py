"""Helpers for any test that talks to the app: users, sign-in, CSRF, queued jobs."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.models import Role, User
from community.services.access.passwords import hash_password

TEST_PASSWORD = "correct horse battery"


async def make_user(session: AsyncSession, role: Role, *, email: str | None = None) -> User:
    user = User(
        email=email or f"{role.value}-{secrets.token_hex(4)}@example.com",
        name=f"Test {role.value.title()}",
        role=role,
        password_hash=hash_password(TEST_PASSWORD),
    )
    session.add(user)
    await session.commit()
    return user


async def csrf_token(client: AsyncTestClient[Litestar]) -> str:
    """Fetch a page so the CSRF cookie is set, and return it for form posts."""
    if "csrftoken" not in client.cookies:
        await client.get("/login")
    return client.cookies.get("csrftoken") or ""


async def take_jobs(
    settings: Settings, redis: Redis, queue: str = "urgent"
) -> list[tuple[str, dict[str, Any]]]:
    """Take every job waiting on one of the app's queues (no worker runs in these tests) and
    return them as (function, kwargs)."""
    from community.queue import make_queues

    waiting = make_queues(settings, redis)[queue]
    jobs = []
    while (job := await waiting.dequeue(timeout=0.05)) is not None:
        jobs.append((job.function, dict(job.kwargs)))
    return jobs


async def take_ticket_mails(settings: Settings, redis: Redis) -> list[tuple[str, str]]:
    """The ticket e-mails waiting on the app's urgent queue, as (registration_id, reason)."""
    return [
        (kwargs["registration_id"], kwargs["reason"])
        for function, kwargs in await take_jobs(settings, redis)
        if function == "send_ticket_email"
    ]


async def login(client: AsyncTestClient[Litestar], user: User) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={"email": user.email, "password": TEST_PASSWORD},
        headers={"x-csrftoken": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
