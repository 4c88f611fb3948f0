"""What follows an organiser's change: the Traffic Cop re-reads the event, listings follow.

The registration service owns the seats: capacity, reserve and mode change through it (Redis
and the ledger together), and after publishing, cancelling or merging profiles it rebuilds
the event from the ledger. Either way it fires the "inventory changed" hook, which is where
the mirror enqueues its pushes. A retry of one listing enqueues that listing's push directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import (
    PLATFORM_LABELS,
    Allocation,
    Channel,
    Event,
    Listing,
    Registration,
    RegistrationStatus,
    SyncState,
)
from community.services.events import manage as events
from community.services.events.manage import EventSeats, InvalidInput, active_registrations
from community.services.jobs import (
    PaymentQueue,
    enqueue_pull,
    enqueue_push,
    enqueue_webhook_setup,
    queue_event_cancelled_emails,
)
from community.services.mirror.seat_ledger import FULL_PULL_WORDS
from community.services.payments.prices import is_paid
from community.services.people.merge import MergeError, clashes
from community.services.seats.inventory import (
    Counts,
    Full,
    InventoryError,
    NotLoaded,
    Seat,
)
from community.services.seats.ledger import registration_keys
from community.services.seats.refusals import AlreadyCancelled, RegistrationError
from community.services.seats.registrations import RegistrationService


@dataclass(frozen=True)
class Effects:
    """Everything an organiser's change needs to reach Redis and the job queues."""

    session: AsyncSession
    redis: Redis
    settings: Settings
    queues: dict[str, Queue]
    session_maker: async_sessionmaker[AsyncSession]

    @property
    def registrations(self) -> RegistrationService:
        return RegistrationService.build(self.settings, self.redis, self.session_maker)


async def refresh_events(fx: Effects, event_ids: Iterable[UUID]) -> None:
    """The ledger changed under these events (merge, publish...): rebuild their seats."""
    service = fx.registrations
    for event_id in event_ids:
        await service.refresh(event_id)


async def after_event_change(fx: Effects, event: Event) -> None:
    """Commit, then let the Traffic Cop and the mirror catch up (publish, cancel, edit)."""
    await fx.session.commit()
    await refresh_events(fx, [event.id])


async def cancel_event(fx: Effects, event: Event) -> bool:
    """Cancel the event, close its listings and tell its people.

    The Traffic Cop re-reads the event (it takes no registrations any more) and the mirror
    pushes every listing to sold out. Everyone holding a seat or a waitlist place gets an
    e-mail, queued as one job that fans out per person (the request does not wait for a big
    event's list). Cancelling again does nothing and mails nobody. True when it was cancelled
    now.
    """
    tell_people = await events.cancel_event(fx.session, event)
    await after_event_change(fx, event)
    if tell_people:
        await queue_event_cancelled_emails(fx.queues, event.id)
        if is_paid(event):
            # Paid tickets are refunded in full and open checkouts end now (the minute sweep
            # would too, and catches an event whose price was removed after selling).
            await PaymentQueue(fx.queues).settle_event(event.id)
    return tell_people


async def after_listing_linked(fx: Effects, listing: Listing) -> None:
    """Commit, then queue the new listing's first pull; the request does not wait for it.

    The pull job records the people registered there, then pushes the listing's first limit
    (it pushes whenever the listing does not show its target, even with nobody to record), so
    the first limit already counts them. Where the platform offers webhooks (Eventbrite, Luma)
    a job registers ours for the listing, so its sales are known in seconds, not at a poll.
    """
    await fx.session.commit()
    await enqueue_pull(fx.settings, fx.redis, fx.queues, listing.id)
    await enqueue_webhook_setup(fx.queues, listing.id)


async def seats_taken(fx: Effects, event: Event) -> int:
    """The floor for capacity: the people already holding a place (the ledger's confirmed, or
    the Traffic Cop's count when higher). The seats form refuses a capacity below it for a clear
    message; the Traffic Cop checks again atomically, counting seats held mid-checkout too."""
    taken = await active_registrations(fx.session, event.id)
    try:
        live: Counts | None = await fx.registrations.counts(event.id)
    except RegistrationError:
        live = None
    if live is not None:
        taken = max(taken, live.taken)
    return taken


async def change_seats(fx: Effects, event: Event, seats: EventSeats) -> str:
    """Capacity, reserve and sold-out mode from the inline form (read against seats_taken).
    Returns a notice to show.

    Raises InvalidInput naming the field when the Traffic Cop refuses the change.
    """
    service = fx.registrations
    before = (event.capacity, event.native_reserve, event.soldout_mode, event.allocation)
    after = (seats.capacity, seats.native_reserve, seats.soldout_mode, seats.allocation)
    if before == after:
        return "Nothing changed."
    event.allocation = after[3]
    await fx.session.commit()  # the service locks the event row in its own transaction
    if after[3] == Allocation.SHARED:
        await fx.registrations.inventory.drop_promises(event.id)
    try:
        change = await service.change_seats(
            event.id,
            capacity=after[0],
            reserve=after[1],
            mode=after[2],
            renumber=True,
        )
    except InventoryError as exc:
        field = "native_reserve" if "reserve" in exc.code else "capacity"
        raise InvalidInput({field: exc.message}) from exc
    except RegistrationError as exc:
        raise InvalidInput({"capacity": exc.message}) from exc
    await fx.session.refresh(event)
    notice = "Saved: " + ", ".join(_seat_changes(before, after)) + "."
    if change.promoted:
        notice += f" {len(change.promoted)} from the waitlist got a seat."
    if seated := len(change.seated_over_capacity):
        notice += (
            f" {seated} over-capacity registration{'s' if seated != 1 else ''} now"
            f" hold{'s' if seated == 1 else ''} a seat."
        )
    if event.listings:
        notice += " The new limits are on their way to the listings."
    return notice


MODE_WORDS = {"waitlist": "open a waitlist when full", "sold_out": "show sold out when full"}


ALLOCATION_WORDS = {
    Allocation.STRICT: "the listings split the shared seats",
    Allocation.SHARED: "every listing may sell all the shared seats left",
}


def _seat_changes(before: tuple[int, int, str, str], after: tuple[int, int, str, str]) -> list[str]:
    """Every setting that changed, as "capacity 100 → 120"."""
    names = ("capacity", "native reserve")
    words = [
        f"{name} {old} → {new}"
        for name, old, new in zip(names, before[:2], after[:2], strict=True)
        if old != new
    ]
    if before[2] != after[2]:
        words.append(MODE_WORDS.get(str(after[2]), str(after[2])))
    if before[3] != after[3]:
        words.append(ALLOCATION_WORDS.get(Allocation(after[3]), str(after[3])))
    return words


async def retry_listing(fx: Effects, listing: Listing) -> None:
    """Push this listing again now, on the urgent queue; the panel shows it as pushing."""
    listing.sync_state = SyncState.PUSHING
    await fx.session.commit()
    await enqueue_push(fx.settings, fx.redis, fx.queues, listing.id, urgent=True)


class ActionRefused(ValueError):
    """An organiser's action on a registration cannot happen; the message says why."""


async def cancel_registration(fx: Effects, registration: Registration) -> str:
    """Cancel from the admin: the seat goes back and the first person waiting gets it."""
    await fx.session.commit()
    try:
        result = await fx.registrations.cancel(registration.ticket_token, by="organiser")
    except RegistrationError as exc:
        raise ActionRefused(exc.message) from exc
    await fx.session.refresh(registration)
    notice = f"Cancelled {registration.name or 'the registration'}."
    if registration.channel != Channel.NATIVE:
        label = PLATFORM_LABELS.get(registration.channel, registration.channel)
        when = FULL_PULL_WORDS.get(registration.channel, "within the hour")
        notice += (
            f" Their seat is free here now. We cannot cancel a {label} registration through"
            f" {label}'s API: remove them on {label} too. Until you do, {label} still counts"
            f" them, and the next full pull ({when}) gives them a seat again."
        )
    if result.promoted:
        notice += f" {len(result.promoted)} from the waitlist got the seat."
    return notice


async def _record_seat(
    fx: Effects, service: RegistrationService, registration: Registration, seat_no: int
) -> None:
    """Write the seat Redis just gave into the ledger, then tell the listeners."""
    registration.seat_no = seat_no
    registration.confirmed_at = datetime.now(UTC)
    try:
        await fx.session.commit()
    except DBAPIError as exc:
        # Redis seated them but the ledger refused: put Redis back in step with the ledger.
        await fx.session.rollback()
        await service.refresh(registration.event_id)
        raise ActionRefused("That seat was just taken; try again.") from exc
    await service.hooks.fire(registration.event_id, registration.channel)


async def promote_registration(fx: Effects, registration: Registration) -> str:
    """Seat this waitlisted person now, ahead of the line, if a seat is free for them."""
    if registration.status != RegistrationStatus.WAITLISTED:
        raise ActionRefused("Only someone on the waitlist can be promoted.")
    service = fx.registrations
    event_id = registration.event_id
    keys = await registration_keys(fx.session, service.keys, registration)
    result = await service.inventory.promote(event_id, keys)
    if isinstance(result, NotLoaded):
        await service.load(event_id)
        result = await service.inventory.promote(event_id, keys)
    if isinstance(result, Full):
        raise ActionRefused(
            "No seat is free for them. Raise the capacity on the event's overview: "
            "the waitlist then moves up, first in line first."
        )
    if not isinstance(result, Seat):
        await service.refresh(event_id)
        raise ActionRefused("The seat list was out of date and has been rebuilt; try again.")
    registration.status = RegistrationStatus.CONFIRMED
    await _record_seat(fx, service, registration, result.seat_no)
    await service.report_promotions(event_id, [registration.id])  # their ticket e-mail
    who = registration.name or "The person"
    return f"{who} moved up from the waitlist and holds seat {result.seat_no}."


async def seat_over_capacity(fx: Effects, registration: Registration) -> int | None:
    """Give this over-capacity platform registration a free seat now; None when none is free."""
    if not (registration.over_capacity and registration.seat_no is None):
        raise ActionRefused("This registration already holds a seat.")
    await fx.session.commit()
    seated = await fx.registrations.seat_over_capacity(
        registration.event_id, registration_id=registration.id
    )
    if not seated:
        return None
    await fx.session.refresh(registration)
    return registration.seat_no


async def release_duplicates(
    fx: Effects, keep_id: UUID, other_id: UUID, keep_places: Mapping[UUID, UUID]
) -> list[str]:
    """Before merging two profiles of one person: at every event where both hold a place, keep
    the place the organiser chose (``keep_places``: event id -> registration id) and release
    the other through the Traffic Cop. Returns a sentence per released platform place saying
    what to do on the platform, whose API cannot cancel it."""
    notes: list[str] = []
    for clash in await clashes(fx.session, keep_id, other_id):
        chosen = keep_places.get(clash.event.id)
        if chosen not in {p.id for p in clash.places}:
            raise MergeError(f"Choose which place to keep at “{clash.event.title}”.")
        release = next(p for p in clash.places if p.id != chosen)
        kept = next(p for p in clash.places if p.id == chosen)
        token, channel = release.ticket_token, release.channel
        await fx.session.commit()
        try:
            await fx.registrations.cancel(token, by="organiser")
        except AlreadyCancelled:
            pass
        except RegistrationError as exc:
            raise MergeError(exc.message) from exc
        if channel != Channel.NATIVE:
            label = PLATFORM_LABELS.get(channel, channel)
            kept_on = PLATFORM_LABELS.get(kept.channel, "this page")
            notes.append(
                f"At “{clash.event.title}” their {label} place was released here; we cannot "
                f"cancel it through {label}'s API, so remove them on {label}. Until then "
                f"{label} lists them, and we count them once, on {kept_on}."
            )
    return notes
