"""Why a platform's own count and our seat count for it differ, in words an organiser reads.

A platform counts everyone it lists as going; we count one seat per person, on the channel that
took it first. The two differ for known reasons, each given here with its number:

- a person going on the platform already holds a seat through another channel (linked, one seat);
- a registration the platform accepted after every seat was gone (over capacity, no seat);
- a person the organiser cancelled here whom the platform still lists (no API can cancel there);
- registrations newer than our last pull (they come in with the next one), or people who left
  the platform since (the next pull gives their seats back).

Every number on the panel that disagrees with another gets one of these sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import (
    PLATFORM_LABELS,
    Channel,
    Listing,
    MemberIdentity,
    Registration,
    RegistrationStatus,
)
from community.models.enums import Platform

ACTIVE = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)
# Luma is read whole on every pull; the others only once an hour (changes come in between).
FULL_PULL_WORDS = {Platform.LUMA: "within a minute"}


def label(channel: str) -> str:
    return "this page" if channel == Channel.NATIVE else PLATFORM_LABELS.get(channel, channel)


def people(n: int) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


@dataclass(frozen=True)
class PlatformLedger:
    """One listing: what the platform reports, what we hold for it, and why they differ."""

    platform: str
    reports: int  # the platform's own "going" count, as of our last pull
    seated: int  # people on this platform holding a seat through it
    waiting: int  # on our waitlist through this platform
    over: int  # accepted there after every seat was gone: recorded, no seat
    linked: dict[str, int] = field(default_factory=dict)  # seat held on another channel
    cancelled_here: int = 0
    pending: int = 0  # > 0: newer than our last pull; < 0: gone there since

    @property
    def agrees(self) -> bool:
        return self.reports == self.seated + self.waiting + self.over

    def sentences(self) -> list[str]:
        name = label(self.platform)
        held = self.seated + self.waiting
        if self.agrees and not self.over:
            return [f"{name} and our ledger agree: {people(self.reports)}, each counted once."]
        out = [
            f"{name} reports {self.reports} going; {people(held)} "
            f"{'holds' if held == 1 else 'hold'} a place through {name}."
        ]
        for channel, n in self.linked.items():
            is_are = "is" if n == 1 else "are"
            out.append(
                f"{people(n)} registered on {name} {is_are} also on {label(channel)}; "
                f"their seat is counted on {label(channel)}."
            )
        if self.over:
            out.append(
                f"{people(self.over)} on {name} arrived after every seat was gone: "
                "recorded, holding no seat (see the warning above)."
            )
        if self.cancelled_here:
            when = FULL_PULL_WORDS.get(self.platform, "within the hour")
            out.append(
                f"{people(self.cancelled_here)} you cancelled here "
                f"{'is' if self.cancelled_here == 1 else 'are'} "
                f"still going on {name}: we cannot cancel a {name} registration through its API. "
                f"Remove them on {name}; until then {name} counts them, and the next full pull "
                f"({when}) gives them a seat again."
            )
        if self.pending > 0:
            out.append(
                f"{people(self.pending)} registered on {name} since our last pull: "
                "they get their seat with the next pull (about every minute)."
            )
        elif self.pending < 0:
            out.append(
                f"{people(-self.pending)} left {name} since our last pull: "
                "the next pull gives their seats back."
            )
        return out


async def _per_channel(session: AsyncSession, event_id: UUID) -> dict[str, dict[str, int]]:
    rows = await session.execute(
        select(
            Registration.channel,
            Registration.status,
            Registration.seat_no.is_not(None),
            func.count(),
        )
        .where(Registration.event_id == event_id)
        .group_by(Registration.channel, Registration.status, Registration.seat_no.is_not(None))
    )
    out: dict[str, dict[str, int]] = {}
    for channel, status, seated, n in rows:
        bucket = out.setdefault(channel, {"seated": 0, "waiting": 0, "over": 0, "cancelled": 0})
        if status == RegistrationStatus.CANCELLED:
            bucket["cancelled"] += n
        elif status == RegistrationStatus.WAITLISTED:
            bucket["waiting"] += n
        elif seated:
            bucket["seated"] += n
        else:
            bucket["over"] += n
    return out


async def _linked(session: AsyncSession, event_id: UUID, platform: str) -> dict[str, int]:
    """People with a place at this event through another channel who are known on ``platform``
    and hold no place through it: the pull linked them instead of giving a second seat."""
    on_platform = (
        select(Registration.member_id)
        .where(
            Registration.event_id == event_id,
            Registration.channel == platform,
            Registration.status.in_(ACTIVE),
        )
        .scalar_subquery()
    )
    known_there = (
        select(MemberIdentity.member_id)
        .where(MemberIdentity.platform == platform)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Registration.channel, func.count())
        .where(
            Registration.event_id == event_id,
            Registration.channel != platform,
            Registration.status.in_(ACTIVE),
            Registration.member_id.in_(known_there),
            Registration.member_id.not_in(on_platform),
        )
        .group_by(Registration.channel)
    )
    return {channel: n for channel, n in rows if n}


async def _cancelled_here(session: AsyncSession, event_id: UUID, platform: str) -> int:
    """Platform registrations cancelled on our side: still active under the same platform id
    nowhere else (a re-registration retires the old id with a ``~`` suffix)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(
                Registration.event_id == event_id,
                Registration.channel == platform,
                Registration.status == RegistrationStatus.CANCELLED,
                Registration.external_id.is_not(None),
                Registration.external_id.not_like("%~%"),
            )
        )
        or 0
    )


async def platform_ledgers(
    session: AsyncSession, event_id: UUID, listings: list[Listing]
) -> dict[str, PlatformLedger]:
    """Per linked platform, the reconciliation of its count with ours."""
    counts = await _per_channel(session, event_id)
    out: dict[str, PlatformLedger] = {}
    for listing in listings:
        p = listing.platform
        mine = counts.get(p, {"seated": 0, "waiting": 0, "over": 0, "cancelled": 0})
        gap = listing.platform_count - mine["seated"] - mine["waiting"] - mine["over"]
        linked: dict[str, int] = {}
        cancelled = 0
        if gap > 0:
            # Attribute the gap to what we know, most certain first, never beyond the gap.
            for channel, n in (await _linked(session, event_id, p)).items():
                take = min(n, gap)
                if take:
                    linked[channel] = take
                    gap -= take
        if gap > 0 and mine["cancelled"]:
            cancelled = min(gap, await _cancelled_here(session, event_id, p))
            gap -= cancelled
        out[p] = PlatformLedger(
            platform=p,
            reports=listing.platform_count,
            seated=mine["seated"],
            waiting=mine["waiting"],
            over=mine["over"],
            linked=linked,
            cancelled_here=cancelled,
            pending=gap,
        )
    return out
