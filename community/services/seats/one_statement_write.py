"""A native seat written to the ledger in one statement: three round trips to PostgreSQL.

In a rush every round trip on the way to a person's answer waits its turn on an event loop
busy with hundreds of refusals, so the answer to someone who got a seat took as many turns
as the write had statements (begin, find the member, create it, its identity, the
registration, the ticket e-mail's outbox row, commit). Here they are one statement of
data-modifying CTEs between begin and commit. Not on an autocommit connection, which would
save two more: a statement cut off by a timeout might still commit on the server, and the
seat, given back in Redis, would then be sold twice. Cut off before the commit, nothing stands.

It covers the common case, a confirmed seat on our page. Anything else (the waitlist, a
platform's registration, a profile created by a concurrent request a moment ago) returns
None and the caller writes it the general way.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from uuid_utils.compat import uuid7

from community.models import Channel, RegistrationStatus

_WRITE = text(
    """
WITH found AS (
    SELECT id FROM members WHERE email = :email
), created AS (
    INSERT INTO members (id, name, email, created_at, updated_at)
    SELECT :member_id, :name, :email, :now, :now
    WHERE NOT EXISTS (SELECT 1 FROM found)
    ON CONFLICT (email) WHERE email IS NOT NULL DO NOTHING
    RETURNING id
), member AS (
    SELECT id FROM found UNION ALL SELECT id FROM created
), identity AS (
    INSERT INTO member_identities
        (id, member_id, platform, external_id, email, name, created_at, updated_at)
    SELECT :identity_id, id, :native, :email, :email, :name, :now, :now FROM member
    ON CONFLICT (platform, external_id) DO NOTHING
), registration AS (
    INSERT INTO registrations
        (id, event_id, member_id, channel, status, seat_no, over_capacity, past_mirror,
         ticket_token, name, email, confirmed_at, checked_in_by, created_at, updated_at)
    SELECT :registration_id, :event_id, id, :native, :confirmed, :seat_no, false, false,
           :ticket_token, :name, :email, :now, '', :now, :now
    FROM member
    RETURNING id
), mail AS (
    INSERT INTO outbox
        (id, registration_id, kind, to_addr, subject, text_body, html_body, attachments,
         status, error, created_at, updated_at)
    SELECT :outbox_id, id, 'confirmed', :email, '', '', '', '[]', 'queued', '', :now, :now
    FROM registration WHERE :ticket_mail
    ON CONFLICT (registration_id, kind) WHERE registration_id IS NOT NULL AND kind <> 'resend'
    DO NOTHING
)
SELECT id FROM registration
"""
)


async def write_native_seat(
    engine: AsyncEngine,
    *,
    event_id: UUID,
    seat_no: int,
    name: str,
    email: str,
    ticket_mail: bool,
) -> tuple[UUID, str] | None:
    """The new registration's id and ticket token, or None to write it the general way.

    Raises IntegrityError as the general write does (a seat or a person already taken)."""
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    async with engine.begin() as connection:
        written = await connection.scalar(
            _WRITE,
            {
                "email": email,
                "name": name,
                "member_id": uuid7(),
                "identity_id": uuid7(),
                "registration_id": uuid7(),
                "outbox_id": uuid7(),
                "event_id": event_id,
                "seat_no": seat_no,
                "ticket_token": token,
                "now": now,
                "native": Channel.NATIVE.value,
                "confirmed": RegistrationStatus.CONFIRMED.value,
                "ticket_mail": ticket_mail,
            },
        )
    return None if written is None else (written, token)
