"""Member profiles: one per person, found by platform identity first, then by e-mail."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Channel, Member, MemberIdentity

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
MAX_EMAIL = 320
MAX_NAME = 200


def normalise_email(raw: str) -> str:
    """The form profiles are matched by: trimmed and lower-case. Raises ValueError if invalid."""
    email = unicodedata.normalize("NFC", raw).strip().lower()
    if len(email) > MAX_EMAIL or not EMAIL_RE.match(email):
        raise ValueError("Enter a valid e-mail address.")
    return email


def clean_name(raw: str) -> str:
    """One line of printable text, spaces collapsed. Raises ValueError if empty or too long."""
    name = " ".join(
        "".join(ch for ch in unicodedata.normalize("NFC", raw) if ch.isprintable()).split()
    )
    if not name:
        raise ValueError("Enter your name.")
    if len(name) > MAX_NAME:
        raise ValueError(f"A name can be at most {MAX_NAME} characters long.")
    return name


async def _by_identity(session: AsyncSession, platform: str, external_id: str) -> Member | None:
    member_id = await session.scalar(
        select(MemberIdentity.member_id).where(
            MemberIdentity.platform == platform, MemberIdentity.external_id == external_id
        )
    )
    return None if member_id is None else await session.get(Member, member_id)


async def _by_email(session: AsyncSession, email: str) -> Member | None:
    return await session.scalar(select(Member).where(Member.email == email))


async def _create(session: AsyncSession, name: str, email: str | None) -> tuple[Member, bool]:
    """A new profile, or the one a concurrent request created a moment ago. True if new."""
    if email is None:
        member = Member(name=name, email=None, identities=[])
        session.add(member)
        await session.flush()
        return member, True
    # Two first registrations of one person at two events may race: one insert wins.
    created = await session.scalar(
        insert(Member)
        .values(name=name, email=email)
        .on_conflict_do_nothing(index_elements=[Member.email], index_where=Member.email.isnot(None))
        .returning(Member)
    )
    if created is not None:
        return created, True
    existing = await _by_email(session, email)
    assert existing is not None
    return existing, False


async def find_member(
    session: AsyncSession,
    *,
    email: str | None,
    platform: str = Channel.NATIVE,
    external_id: str | None = None,
) -> Member | None:
    """The existing profile for this person, by platform identity first, then by e-mail."""
    member = None
    if platform != Channel.NATIVE and external_id:
        member = await _by_identity(session, platform, external_id)
    if member is None and email:
        member = await _by_email(session, email)
    return member


async def resolve_member(
    session: AsyncSession,
    *,
    name: str,
    email: str | None,
    platform: str = Channel.NATIVE,
    external_id: str | None = None,
) -> Member:
    """The member this person is, created when new, with an identity for `platform`.

    `email` must already be normalised. A native identity is keyed by the e-mail address;
    a platform identity by the platform's own member id.
    """
    platform = Channel(platform).value
    key = external_id if platform != Channel.NATIVE else email
    member = await find_member(session, email=email, platform=platform, external_id=external_id)
    created = False
    if member is None:
        member, created = await _create(session, name, email)
    elif email and not member.email:
        # A platform that hid the address before may tell us now; keep it for matching.
        taken = await _by_email(session, email)
        if taken is None:
            member.email = email
    known = not created and any(
        i.platform == platform and i.external_id == key for i in member.identities
    )
    if key and not known:
        await session.execute(
            insert(MemberIdentity)
            .values(member_id=member.id, platform=platform, external_id=key, email=email, name=name)
            .on_conflict_do_nothing(index_elements=["platform", "external_id"])
        )
    return member
