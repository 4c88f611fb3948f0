"""A confirmed native seat is written in one SQL statement, with the same rows as ever."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Member, MemberIdentity, OutboxMessage, Registration
from community.services.seats.registrations import RegistrationService


@contextmanager
def statements(session_maker: async_sessionmaker[AsyncSession]) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = session_maker.kw["bind"].sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


async def test_a_new_person_is_one_statement_and_every_row(
    registrations: RegistrationService,
    session_maker: async_sessionmaker[AsyncSession],
    make_event: Any,
) -> None:
    event = await make_event(capacity=5)
    await registrations.load(event.id)
    with statements(session_maker) as seen:
        seat = await registrations.register(
            event.id, name="Ada Lovelace", email="Ada@Example.org", ticket_mail=True
        )
    assert len(seen) == 1, seen
    async with session_maker() as session:
        reg = await session.get(Registration, seat.registration_id)
        assert reg is not None and reg.status == "confirmed" and reg.seat_no == seat.seat_no
        assert reg.ticket_token == seat.ticket_token and reg.email == "ada@example.org"
        member = await session.get(Member, reg.member_id)
        assert member is not None and member.email == "ada@example.org"
        identities = (
            await session.scalars(
                select(MemberIdentity).where(MemberIdentity.member_id == member.id)
            )
        ).all()
        assert [(i.platform, i.external_id) for i in identities] == [("native", member.email)]
        mails = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.registration_id == reg.id)
            )
        ).all()
        assert [(m.kind, m.status, m.to_addr) for m in mails] == [
            ("confirmed", "queued", "ada@example.org")
        ]


async def test_a_known_person_keeps_their_profile(
    registrations: RegistrationService,
    session_maker: async_sessionmaker[AsyncSession],
    make_event: Any,
) -> None:
    first, second = await make_event(capacity=5), await make_event(capacity=5)
    # An address of its own: other tests' Graces (on other channels) share the test database.
    email = f"grace-{secrets.token_hex(4)}@example.org"
    one = await registrations.register(first.id, name="Grace", email=email)
    two = await registrations.register(second.id, name="Grace H.", email=email)
    async with session_maker() as session:
        regs = [await session.get(Registration, r.registration_id) for r in (one, two)]
        assert regs[0] and regs[1] and regs[0].member_id == regs[1].member_id
        assert regs[1].name == "Grace H."  # as given this time; the profile stays
        identities = (
            await session.scalars(
                select(MemberIdentity).where(MemberIdentity.member_id == regs[0].member_id)
            )
        ).all()
        assert len(identities) == 1
        # No ticket e-mail asked for: no outbox row.
        assert (
            await session.scalar(
                select(OutboxMessage).where(OutboxMessage.registration_id == two.registration_id)
            )
        ) is None
