"""The places a browser is known to hold, carried by the visitor in a signed cookie.

An anonymous visitor has no server session: after registering (or signing in through My tickets)
their browser keeps a cookie naming their registrations, signed with the site's secret so it
cannot be forged or edited. The event page reads it to show "you're going" to that person only.
The cookie names registrations by id, never by ticket secret, and holds nothing personal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Registration, RegistrationStatus

COOKIE = "my_places"
MAX_PLACES = 20
MAX_AGE = 180 * 24 * 3600
_SIG_BYTES = 16
ACTIVE = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)


def _sign(secret: str, payload: bytes) -> bytes:
    key = hashlib.sha256(b"visitor-places:" + secret.encode()).digest()
    return hmac.new(key, payload, hashlib.sha256).digest()[:_SIG_BYTES]


def encode(secret: str, ids: Iterable[UUID]) -> str:
    unique = list(dict.fromkeys(ids))[:MAX_PLACES]
    payload = b"".join(i.bytes for i in unique)
    raw = _sign(secret, payload) + payload
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(secret: str, value: str | None) -> list[UUID]:
    """The ids in a genuine cookie; nothing for a missing, edited or forged one."""
    if not value or len(value) > 1000:
        return []
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError):
        return []
    sig, payload = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
    if len(payload) % 16 or not hmac.compare_digest(sig, _sign(secret, payload)):
        return []
    return [UUID(bytes=payload[i : i + 16]) for i in range(0, len(payload), 16)]


def add(secret: str, value: str | None, new_ids: Iterable[UUID]) -> str:
    """The cookie with ``new_ids`` first, older ones after, capped."""
    return encode(secret, [*new_ids, *decode(secret, value)])


async def place_at(session: AsyncSession, ids: list[UUID], event_id: UUID) -> Registration | None:
    """The active place these ids hold at this event, if any."""
    if not ids:
        return None
    return await session.scalar(
        select(Registration)
        .where(
            Registration.id.in_(ids),
            Registration.event_id == event_id,
            Registration.status.in_(ACTIVE),
        )
        .limit(1)
    )


async def member_places(session: AsyncSession, member_id: UUID) -> list[UUID]:
    """Every active place of one person, newest first (for My tickets sign-in)."""
    rows = await session.scalars(
        select(Registration.id)
        .where(Registration.member_id == member_id, Registration.status.in_(ACTIVE))
        .order_by(Registration.created_at.desc())
        .limit(MAX_PLACES)
    )
    return list(rows)
