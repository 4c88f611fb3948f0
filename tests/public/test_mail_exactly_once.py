"""Ticket e-mails go out exactly once, and nobody can flood an inbox through our forms.

The outbox row is written with the registration; sending claims it first; a scheduled job
re-drives rows whose job was lost. Per recipient: no repeat of one kind of mail about one
event within minutes, and an hourly quota.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import MailLimits, Settings, SmtpSettings
from community.models import OutboxMessage
from community.queue import make_queues
from community.services.mail import outbox as mail
from community.services.seats.native_registrations import cancel_by_ticket, register_native
from community.services.seats.registrations import RegistrationService
from community.tasks import email as email_tasks
from tests.helpers.public import MakeEvent, RunJobs, SmtpSink, post_form


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    sink.server = await asyncio.start_server(sink.handle, "127.0.0.1", 0)
    yield sink
    sink.server.close()
    await sink.server.wait_closed()


def with_smtp(settings: Settings, sink: SmtpSink) -> Settings:
    smtp = SmtpSettings(host="127.0.0.1", port=sink.port, security="none",
                        sender="Events <events@example.org>")  # fmt: skip
    return replace(settings, smtp=smtp)


def sent_to(sink: SmtpSink, address: str) -> int:
    return sum(f"To: {address}".encode() in message for message in sink.messages)


async def outbox_for(
    session_maker: async_sessionmaker[AsyncSession], to_addr: str
) -> list[OutboxMessage]:
    async with session_maker() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.to_addr == to_addr)
            .order_by(OutboxMessage.created_at)
        )
        return list(rows)


async def drain(settings: Settings, redis: Redis, session_maker: Any) -> list[tuple[str, Any]]:
    """Run every e-mail job waiting on the urgent queue, as a worker would."""
    queues = make_queues(settings, redis)
    ctx: dict[str, Any] = {
        "settings": settings,
        "redis": redis,
        "session_maker": session_maker,
        "queues": queues,
    }
    done = []
    while (job := await queues["urgent"].dequeue(timeout=0.05)) is not None:
        function = email_tasks.__dict__.get(job.function)
        if function is None:
            continue
        ctx["job"] = job
        try:
            done.append((job.function, await function(ctx, **job.kwargs)))
        except mail.MailError as exc:  # another test's row the sink refuses: a worker retries
            done.append((job.function, f"retry: {exc}"))
    return done


async def forget_every_job(settings: Settings, redis: Redis) -> None:
    """What a Redis restart without persistence (or a FLUSHALL) does to the queues: this
    test's own keys only, as other people's tests share the server."""
    async for key in redis.scan_iter(match=f"*{settings.redis_prefix}*", count=500):
        await redis.delete(key)


async def test_the_outbox_row_is_written_with_the_registration(
    client: AsyncTestClient[Litestar],
    make_event: MakeEvent,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event()
    response = await client.post(
        f"/api/events/{event.id}/registrations",
        json={"name": "Ada", "email": "row-with-registration@example.com"},
    )
    assert response.status_code == 201, response.text
    # Before any job ran: the row is there, unique to (registration, kind), waiting.
    rows = await outbox_for(session_maker, "row-with-registration@example.com")
    assert [(r.kind, r.status) for r in rows] == [("confirmed", "queued")]
    assert str(rows[0].registration_id) == response.json()["registration_id"]


async def test_a_lost_send_job_is_redriven_and_mailed_exactly_once(
    client: AsyncTestClient[Litestar],
    settings: Settings,
    redis: Redis,
    make_event: MakeEvent,
    session_maker: async_sessionmaker[AsyncSession],
    smtp_sink: SmtpSink,
) -> None:
    event = await make_event()
    address = "lost-job@example.com"
    response = await client.post(
        f"/api/events/{event.id}/registrations", json={"name": "Lin", "email": address}
    )
    assert response.status_code == 201, response.text
    await forget_every_job(settings, redis)  # the 201 was answered; the send job is gone
    sending = with_smtp(settings, smtp_sink)
    assert await drain(sending, redis, session_maker) == []

    # The row waits for the re-drive (not before its time: its job may still be coming).
    # (The re-drive is for the whole outbox: other tests' rows may go out with ours.)
    queues = make_queues(sending, redis)
    ctx = {"settings": sending, "session_maker": session_maker, "queues": queues}
    await email_tasks.redrive_outbox(ctx)
    await drain(sending, redis, session_maker)
    assert [r.status for r in await outbox_for(session_maker, address)] == ["queued"]
    assert sent_to(smtp_sink, address) == 0

    ctx["settings"] = replace(sending, mail_limits=MailLimits(redrive_after_s=0))
    for _ in range(2):  # two ticks before the worker gets to it: still one delivery
        result = await email_tasks.redrive_outbox(ctx)
        assert result != "re-driven 0"
    await drain(sending, redis, session_maker)
    await email_tasks.redrive_outbox(ctx)
    await drain(sending, redis, session_maker)

    assert sent_to(smtp_sink, address) == 1
    rows = await outbox_for(session_maker, address)
    assert [(r.kind, r.status) for r in rows] == [("confirmed", "sent")]


async def test_a_duplicated_send_job_sends_once(
    settings: Settings,
    redis: Redis,
    make_event: MakeEvent,
    registrations: RegistrationService,
    session_maker: async_sessionmaker[AsyncSession],
    smtp_sink: SmtpSink,
) -> None:
    event = await make_event()
    address = "twice@example.com"
    reg = await registrations.register(event.id, name="Bo", email=address)
    sending = with_smtp(settings, smtp_sink)
    ctx = {
        "settings": sending,
        "session_maker": session_maker,
        "queues": make_queues(sending, redis),
    }
    # The queue retried a job that was still running (a frozen database): both run at once.
    composed = await asyncio.gather(
        *(
            email_tasks.send_ticket_email(
                ctx, registration_id=str(reg.registration_id), reason="confirmed"
            )
            for _ in range(2)
        )
    )
    (first_id, first), (second_id, second) = (
        result.removeprefix("composed ").split(": ") for result in composed
    )
    assert first_id == second_id  # the same row
    # One claims and sends; the other finds it taken ("busy") or already "sent".
    assert {first, second} <= {"busy", "sent"} and "sent" in (first, second)
    outbox_id = first_id
    # A delivery job queued for it meanwhile (a retry, the re-drive) sends nothing more.
    results = await asyncio.gather(
        *(email_tasks.deliver_email(ctx, outbox_id=outbox_id) for _ in range(3))
    )
    assert set(results) <= {"busy", "sent"}
    assert await email_tasks.deliver_email(ctx, outbox_id=outbox_id) == "sent"  # already
    assert sent_to(smtp_sink, address) == 1
    assert [r.status for r in await outbox_for(session_maker, address)] == ["sent"]


async def test_register_cancel_loops_do_not_flood_an_inbox(
    settings: Settings,
    redis: Redis,
    make_event: MakeEvent,
    registrations: RegistrationService,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event()
    queues = make_queues(settings, redis)
    address = "mailbomb@example.com"
    for _ in range(10):
        registered = await register_native(
            registrations, queues, event.id, name="Victim", email=address
        )
        await cancel_by_ticket(registrations, queues, registered.ticket_token)
    await drain(settings, redis, session_maker)
    rows = await outbox_for(session_maker, address)
    assert len(rows) == 20  # every one is on record for the organiser...
    delivered = [r.kind for r in rows if r.status == "kept"]
    assert delivered == ["confirmed", "cancelled"]  # ...but one of each kind went out
    held = [r for r in rows if r.status == "suppressed"]
    assert len(held) == 18 and all("few minutes ago" in r.error for r in held)


async def test_each_address_has_an_hourly_quota(
    settings: Settings,
    redis: Redis,
    make_event: MakeEvent,
    registrations: RegistrationService,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    limited = replace(settings, mail_limits=MailLimits(recipient_hourly_quota=3))
    queues = make_queues(limited, redis)
    address = "many-events@example.com"
    events = [await make_event() for _ in range(5)]
    for event in events:  # different events: not a repeat, but the quota counts them all
        await register_native(registrations, queues, event.id, name="Keen", email=address)
    await drain(limited, redis, session_maker)
    rows = await outbox_for(session_maker, address)
    assert [r.status for r in rows] == ["kept"] * 3 + ["suppressed"] * 2
    assert "hourly e-mail quota" in rows[-1].error

    # Someone else's address is not affected.
    other = "else@example.com"
    await register_native(registrations, queues, events[0].id, name="Else", email=other)
    await drain(limited, redis, session_maker)
    assert [r.status for r in await outbox_for(session_maker, other)] == ["kept"]


async def test_send_my_ticket_again_is_rate_limited_with_a_clear_message(
    client: AsyncTestClient[Litestar],
    make_event: MakeEvent,
    registrations: RegistrationService,
    run_email_jobs: RunJobs,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event()
    address = "again@example.com"
    await registrations.register(event.id, name="Ada", email=address)
    first = await post_form(client, f"/events/{event.slug}/resend", {"email": address})
    assert first.status_code == 200
    assert [
        result.rpartition(": ")[2]
        for name, result in await run_email_jobs()
        if name == "send_ticket_email"
    ] == ["kept"]
    second = await post_form(client, f"/events/{event.slug}/resend", {"email": address})
    assert second.status_code == 429
    assert "already sent" in second.text and "minutes" in second.text
    # An address that is not registered gets the same answer: nobody learns who is.
    other = "nobody-here@example.com"
    unknown = await post_form(client, f"/events/{event.slug}/resend", {"email": other})
    assert unknown.status_code == 200
    again = await post_form(client, f"/events/{event.slug}/resend", {"email": other})
    assert again.status_code == 429 and "already sent" in again.text
    assert await run_email_jobs() == []
    assert len(await outbox_for(session_maker, address)) == 1
