"""The platform hand-back job: it asks each platform's client and records what it answered."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Listing, PlatformAccount, Registration, SyncLog, User
from community.services import checkin
from community.services.checkin import Actor, Op, Result
from community.services.crypto import encrypt
from community.services.tickets import ticket_signer
from community.tasks.checkin_passback import pass_checkin_back
from tests.checkin.factory import add_person, make_event


@pytest.fixture
def ctx(
    settings: Settings, redis: Redis, session_maker: async_sessionmaker[AsyncSession]
) -> dict[str, Any]:
    return {"settings": settings, "redis": redis, "session_maker": session_maker}


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
    outcome = await checkin.check_in(
        db_session,
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
