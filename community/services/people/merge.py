"""Manual merge and unmerge of member profiles.

Merging moves every identity and registration of one profile onto another. Each moved row
remembers the profile it came from (``original_member_id``, set only on its first move), so
an unmerge can hand exactly those rows back. The emptied profile stays as an anchor for the
unmerge; lists hide profiles without identities.

Two profiles that both hold a place at the same event are one person with two seats: the
merge then keeps one place per event (the organiser's choice, offered with a sensible default)
and releases the other through the Traffic Cop before the profiles are joined.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Event, Member, MemberIdentity, Registration, RegistrationStatus

ACTIVE = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)


class MergeError(ValueError):
    """The merge or unmerge cannot happen; the message says why, for the organiser."""


@dataclass(frozen=True)
class MergeResult:
    kept: Member
    identities_moved: int
    registrations_moved: int
    event_ids: frozenset[UUID]  # events whose seat holders changed profile


async def _member(session: AsyncSession, member_id: UUID) -> Member:
    member = await session.get(Member, member_id)
    if member is None:
        raise MergeError("That member profile does not exist.")
    return member


async def shared_events(session: AsyncSession, a: UUID, b: UUID) -> list[str]:
    """Titles of events where both profiles hold an active place."""
    mine = (
        select(Registration.event_id)
        .where(Registration.member_id == a, Registration.status.in_(ACTIVE))
        .scalar_subquery()
    )
    rows = await session.scalars(
        select(Event.title)
        .join(Registration, Registration.event_id == Event.id)
        .where(
            Registration.member_id == b,
            Registration.status.in_(ACTIVE),
            Registration.event_id.in_(mine),
        )
        .order_by(Event.starts_at)
    )
    return list(rows)


@dataclass(frozen=True)
class Clash:
    """One event where both profiles hold a place: one must go for the merge."""

    event: Event
    places: tuple[Registration, Registration]  # (this profile's, the other's)

    @property
    def suggested_keep(self) -> Registration:
        """Checked in first, then confirmed over waitlisted, then the earlier registration."""

        def rank(r: Registration) -> tuple[int, int, float]:
            return (
                0 if r.checked_in_at else 1,
                0 if r.status == RegistrationStatus.CONFIRMED and r.seat_no else 1,
                r.created_at.timestamp(),
            )

        return min(self.places, key=rank)


async def clashes(session: AsyncSession, keep_id: UUID, other_id: UUID) -> list[Clash]:
    rows = await session.scalars(
        select(Registration)
        .where(Registration.member_id.in_((keep_id, other_id)), Registration.status.in_(ACTIVE))
        .order_by(Registration.created_at)
    )
    by_event: dict[UUID, dict[UUID, Registration]] = {}
    for r in rows:
        by_event.setdefault(r.event_id, {})[r.member_id] = r
    out = []
    for event_id, places in by_event.items():
        if len(places) == 2:
            event = await session.get(Event, event_id)
            assert event is not None
            out.append(Clash(event, (places[keep_id], places[other_id])))
    out.sort(key=lambda c: c.event.starts_at)
    return out


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


async def merge_members(session: AsyncSession, keep_id: UUID, other_id: UUID) -> MergeResult:
    if keep_id == other_id:
        raise MergeError("Choose two different profiles to merge.")
    keep = await _member(session, keep_id)
    other = await _member(session, other_id)
    if clash := await shared_events(session, keep_id, other_id):
        names = ", ".join(f"“{t}”" for t in clash[:3]) + (" and more" if len(clash) > 3 else "")
        raise MergeError(
            f"Both profiles hold a place at {names}. Cancel one of the two registrations first, "
            "so the person keeps a single seat."
        )
    moved_ids = await session.execute(
        update(MemberIdentity)
        .where(MemberIdentity.member_id == other_id)
        .values(
            member_id=keep_id,
            original_member_id=func.coalesce(MemberIdentity.original_member_id, other_id),
        )
        .returning(MemberIdentity.id)
    )
    identities = len(moved_ids.all())
    moved_regs = await session.execute(
        update(Registration)
        .where(Registration.member_id == other_id)
        .values(
            member_id=keep_id,
            original_member_id=func.coalesce(Registration.original_member_id, other_id),
        )
        .returning(Registration.event_id)
    )
    reg_rows = moved_regs.all()
    # The email is unique across profiles: hand it over only when the kept one has none.
    if other.email and not keep.email:
        email, other.email = other.email, None
        await session.flush()
        keep.email = email
    if not keep.name and other.name:
        keep.name = other.name
    await session.flush()
    session.expire(keep, ["identities"])
    return MergeResult(keep, identities, len(reg_rows), frozenset(r[0] for r in reg_rows))


async def merged_into(session: AsyncSession, member_id: UUID) -> UUID | None:
    """Where an emptied profile's identities went, for redirecting old links."""
    return await session.scalar(
        select(MemberIdentity.member_id)
        .where(
            MemberIdentity.original_member_id == member_id,
            MemberIdentity.member_id != member_id,
        )
        .limit(1)
    )


@dataclass(frozen=True)
class MergedPart:
    """A profile merged into this one, which unmerge can split off again."""

    original_id: UUID
    name: str
    identities: list[MemberIdentity]
    registrations: int


async def merged_parts(session: AsyncSession, member_id: UUID) -> list[MergedPart]:
    identities = list(
        await session.scalars(
            select(MemberIdentity).where(
                MemberIdentity.member_id == member_id,
                MemberIdentity.original_member_id.is_not(None),
                MemberIdentity.original_member_id != member_id,
            )
        )
    )
    by_origin: dict[UUID, list[MemberIdentity]] = {}
    for identity in identities:
        assert identity.original_member_id is not None
        by_origin.setdefault(identity.original_member_id, []).append(identity)
    parts = []
    for origin, group in by_origin.items():
        count = await session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(Registration.member_id == member_id, Registration.original_member_id == origin)
        )
        parts.append(MergedPart(origin, group[0].name or "", group, int(count or 0)))
    return parts


async def unmerge_member(session: AsyncSession, member_id: UUID, original_id: UUID) -> MergeResult:
    """Give the profile ``original_id`` back its identities and registrations."""
    await _member(session, member_id)
    original = await session.get(Member, original_id)
    if original is None:
        raise MergeError("The profile that was merged in no longer exists; it cannot be split off.")
    count = await session.scalar(
        select(func.count())
        .select_from(MemberIdentity)
        .where(
            MemberIdentity.member_id == member_id,
            MemberIdentity.original_member_id == original_id,
        )
    )
    if not count:
        raise MergeError("Nothing from that profile is merged into this one.")
    ids = await session.execute(
        update(MemberIdentity)
        .where(
            MemberIdentity.member_id == member_id,
            MemberIdentity.original_member_id == original_id,
        )
        .values(member_id=original_id, original_member_id=None)
        .returning(MemberIdentity.email, MemberIdentity.name)
    )
    returned = ids.all()
    regs = await session.execute(
        update(Registration)
        .where(
            Registration.member_id == member_id,
            Registration.original_member_id == original_id,
        )
        .values(member_id=original_id, original_member_id=None)
        .returning(Registration.event_id)
    )
    reg_rows = regs.all()
    if not original.name:
        original.name = next((name for _, name in returned if name), "")
    if original.email is None:
        # Take back an identity's email when no other profile uses it now.
        for email, _ in returned:
            if email and not await session.scalar(
                select(func.count()).select_from(Member).where(Member.email == email.lower())
            ):
                original.email = email.lower()
                break
    await session.flush()
    keep = await _member(session, member_id)
    session.expire(keep, ["identities"])
    return MergeResult(keep, len(returned), len(reg_rows), frozenset(r[0] for r in reg_rows))


def visible_members_clause():  # type: ignore[no-untyped-def]
    """Profiles worth listing: with an identity or a registration (emptied ones are anchors)."""
    has_identity = select(MemberIdentity.id).where(MemberIdentity.member_id == Member.id).exists()
    has_registration = select(Registration.id).where(Registration.member_id == Member.id).exists()
    return or_(has_identity, has_registration)
