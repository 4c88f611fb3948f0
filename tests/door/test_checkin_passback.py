"""The platform hand-back job: it asks each platform's client and records what it answered."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.demo.ledger_rows import add_person, make_event
from community.models import Listing, PlatformAccount, Registration, SyncLog, User
from community.queue import make_queues
from community.services.door import ops as door_ops
from community.services.door.outcomes import Actor, Op, Result
from community.services.jobs import PassbackGatherer, passback_job_key
from community.services.mirror.token_crypto import encrypt
from community.services.tickets.signatures import ticket_signer
from community.tasks.checkin_passback import pass_checkin_back, pass_checkins_back
from tests.helpers.door import door_connection
from tests.helpers.web import take_jobs


@pytest.fixture
def ctx(
    settings: Settings, redis: Redis, session_maker: async_sessionmaker[AsyncSession]
) -> dict[str, Any]:
    queues = make_queues(settings, redis)
    return {"settings": settings, "redis": redis, "session_maker": session_maker, "queues": queues}


async def _log_of(session: AsyncSession, event_id: Any) -> list[SyncLog]:
    rows = await session.scalars(
        select(SyncLog).where(SyncLog.event_id == event_id).order_by(SyncLog.created_at)
    )
    return list(rows)


@pytest.mark.parametrize("platform", ["meetup", "eventbrite", "luma"])
async def test_no_platform_can_take_a_check_in_and_that_is_recorded(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    settings: Settings,
    owner: User,
    platform: str,
) -> None:
    event = await make_event(db_session)
    account = PlatformAccount(
        user_id=owner.id,
        platform=platform,
        display_name=f"{platform} account",
        access_token_enc=encrypt(settings.secret_key, "an access token"),
        api_key_enc=encrypt(settings.secret_key, "an api key") if platform == "luma" else "",
    )
    db_session.add(account)
    await db_session.flush()
    listing = Listing(
        event_id=event.id, platform=platform, account_id=account.id, external_id=f"{platform}-1"
    )
    db_session.add(listing)
    await db_session.commit()
    guest = await add_person(db_session, event, "Pat Platform", channel=platform)
    outcome = await door_ops.check_in(
        await door_connection(db_session),
        ticket_signer(settings.secret_key),
        event.id,
        Op(registration_id=guest.registration_id),
        Actor(None, "Door 1"),
    )
    assert outcome.result is Result.OK

    assert await pass_checkin_back(ctx, registration_id=str(guest.registration_id)) == (
        "unsupported"
    )
    (entry,) = await _log_of(db_session, event.id)
    assert (entry.direction, entry.action, entry.outcome) == (
        "checkin",
        "mark_checkin",
        "unsupported",
    )
    assert entry.listing_id == listing.id
    assert "check-in stays on the dashboard" in entry.detail
    assert "Pat" not in entry.detail  # no personal data in the log


async def test_nothing_to_pass_back(ctx: dict[str, Any], db_session: AsyncSession) -> None:
    event = await make_event(db_session)
    native = await add_person(db_session, event, "Nat Native")
    unlisted = await add_person(db_session, event, "Una Listed", channel="luma", seat=2)
    await db_session.execute(
        Registration.__table__.update()
        .where(Registration.id.in_([native.registration_id, unlisted.registration_id]))
        .values(checked_in_at=event.starts_at, checked_in_by="Door 1")
    )
    await db_session.commit()

    assert await pass_checkin_back(ctx, registration_id=str(native.registration_id)) == "skipped"
    assert await pass_checkin_back(ctx, registration_id=str(unlisted.registration_id)) == "skipped"
    (entry,) = await _log_of(db_session, event.id)  # only the platform registration is noted
    assert (entry.platform, entry.outcome) == ("luma", "skipped")
    assert "No Luma listing" in entry.detail


async def test_a_batch_hands_each_back_and_requeues_one_that_fails_on_its_own(
    ctx: dict[str, Any], db_session: AsyncSession, settings: Settings, redis: Redis
) -> None:
    event = await make_event(db_session)
    native = await add_person(db_session, event, "Nat Native")
    unlisted = await add_person(db_session, event, "Una Listed", channel="luma", seat=2)
    await db_session.execute(
        Registration.__table__.update()
        .where(Registration.id.in_([native.registration_id, unlisted.registration_id]))
        .values(checked_in_at=event.starts_at, checked_in_by="Door 1")
    )
    await db_session.commit()
    broken = "not-a-registration-id"
    ids = [str(native.registration_id), broken, str(unlisted.registration_id)]

    assert await pass_checkins_back(ctx, registration_ids=ids) == {"skipped": 2}
    (entry,) = await _log_of(db_session, event.id)
    assert (entry.platform, entry.outcome) == ("luma", "skipped")
    queue = ctx["queues"]["default"]
    assert await queue.job(passback_job_key(broken)) is not None


async def test_the_gatherer_queues_one_job_per_moment_and_the_rest_when_closed(
    settings: Settings, redis: Redis
) -> None:
    queues = make_queues(settings, redis)
    gatherer = PassbackGatherer(queues, seconds=0.05)
    first, second, third = uuid4(), uuid4(), uuid4()
    gatherer.add([first])
    gatherer.add([second, first])
    gatherer.add([])
    await asyncio.sleep(0.2)
    assert await take_jobs(settings, redis, "default") == [
        ("pass_checkins_back", {"registration_ids": [str(first), str(second)]})
    ]
    gatherer.add([third])
    await gatherer.close()  # the app's shutdown: nothing waits for the next moment
    assert await take_jobs(settings, redis, "default") == [
        ("pass_checkins_back", {"registration_ids": [str(third)]})
    ]
    await gatherer.close()
    assert await take_jobs(settings, redis, "default") == []
