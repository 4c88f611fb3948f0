"""The one way into the workers: every job the product asks for is queued here, by name.

Services, controllers and the jobs themselves call these functions; none of them imports
`community.tasks`, where the jobs run. Changes of seats reach the mirror and the ticket
e-mail through the inventory hooks (`services.seats.hooks`): `install_mirror` and
`install_promotion_mail` subscribe the listeners that queue those jobs, once per process.

Job keys make repeats collapse: a push or pull of one listing is coalesced
(services.mirror.coalescing), a mail asked for twice within a minute is one job.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Channel, Listing
from community.services.mirror.coalescing import Coalescer, enqueue_coalesced
from community.services.seats.hooks import (
    InventoryHooks,
    InventoryListener,
    PromotionHooks,
    PromotionListener,
    RegistrationHooks,
    Subscription,
    inventory_changed,
    paid_seats_freed,
    registration_cancelled,
    waitlist_promoted,
)

passback_log = logging.getLogger("community.passback")

# --- pushes and pulls of one listing -------------------------------------------------------------

PUSH_TIMEOUT_S = 100  # below the coalescing lease (120 s), above a few slow platform calls
# Never give up: the delays come from services.mirror.listing_health (at most 5 minutes apart).
PUSH_RETRIES = 100_000
RETRY_BASE_S = 1.0
RETRY_MAX_S = 300.0
PULL_TIMEOUT_S = 100  # below the coalescing lease
PULL_RETRIES = 6


async def enqueue_listing_job(
    coalescer: Coalescer,
    queue: Queue,
    function: str,
    key: str,
    listing_id: UUID | str,
    *,
    timeout_s: int,
    retries: int,
) -> None:
    """A push or pull of one listing, coalesced, retried with the shared backoff."""
    await enqueue_coalesced(
        coalescer,
        queue,
        listing_id,
        function=function,
        key=key,
        kwargs={"listing_id": str(listing_id)},
        timeout=timeout_s,
        retries=retries,
        retry_delay=RETRY_BASE_S,
        retry_backoff=RETRY_MAX_S,
    )


def push_job_key(listing_id: UUID | str) -> str:
    return f"push:{listing_id}"


async def enqueue_push(
    settings: Settings,
    redis: Redis,
    queues: dict[str, Queue],
    listing_id: UUID | str,
    *,
    urgent: bool = False,
) -> None:
    """Make sure the listing's current target reaches its platform soon."""
    await enqueue_listing_job(
        Coalescer(redis, settings.redis_prefix, "push"),
        queues["urgent" if urgent else "default"],
        "push_listing",
        push_job_key(listing_id),
        listing_id,
        timeout_s=PUSH_TIMEOUT_S,
        retries=PUSH_RETRIES,
    )


async def listing_ids_of(session: AsyncSession, event_id: UUID) -> list[UUID]:
    rows = await session.scalars(select(Listing.id).where(Listing.event_id == event_id))
    return list(rows)


async def enqueue_event_mirror(
    settings: Settings,
    redis: Redis,
    queues: dict[str, Queue],
    session_maker: async_sessionmaker[AsyncSession],
    event_id: UUID,
    *,
    urgent: bool,
) -> int:
    """Push every listing of the event; ``urgent`` for changes a native registrant caused."""
    async with session_maker() as session:
        ids = await listing_ids_of(session, event_id)
    # Side by side: this runs inside the registration request, after its seat was taken.
    await asyncio.gather(
        *(enqueue_push(settings, redis, queues, listing_id, urgent=urgent) for listing_id in ids)
    )
    return len(ids)


def pull_job_key(listing_id: UUID | str) -> str:
    return f"pull:{listing_id}"


def pull_coalescer(redis: Any, settings: Settings) -> Coalescer:
    return Coalescer(redis, settings.redis_prefix, "pull")


async def enqueue_pull(
    settings: Settings, redis: Any, queues: dict[str, Queue], listing_id: UUID | str
) -> None:
    """Pull the listing soon; safe to call while a pull runs (it runs once more)."""
    await enqueue_listing_job(
        pull_coalescer(redis, settings),
        queues["default"],
        "pull_listing",
        pull_job_key(listing_id),
        listing_id,
        timeout_s=PULL_TIMEOUT_S,
        retries=PULL_RETRIES,
    )


# --- listening to the Traffic Cop ----------------------------------------------------------------

_installed: Subscription[InventoryListener] = Subscription()


def install_mirror(
    settings: Settings,
    redis: Redis,
    queues: dict[str, Queue],
    session_maker: async_sessionmaker[AsyncSession],
    hooks: InventoryHooks = inventory_changed,
) -> InventoryListener:
    """Subscribe the mirror to seat changes in this process (replacing an earlier one).

    A change caused on our own page goes to the urgent queue: the person who just took a seat
    may have taken the last shared one, and the platforms must close before they sell it.
    """

    # One round per event at a time in this process; changes meanwhile ask for one more
    # (urgent if any of them was). A rush changes one event's seats a hundred times in a
    # second, and each round reads the event's listings beside the registrations' writes.
    wanted: dict[UUID, bool | None] = {}  # event in a round -> the next round's urgency

    async def mirror_seat_change(event_id: UUID, channel: str) -> None:
        urgent = channel == Channel.NATIVE
        if event_id in wanted:
            wanted[event_id] = bool(wanted[event_id]) or urgent
            return
        wanted[event_id] = None
        try:
            while True:
                await enqueue_event_mirror(
                    settings, redis, queues, session_maker, event_id, urgent=urgent
                )
                follow_up = wanted[event_id]
                if follow_up is None:
                    break
                urgent, wanted[event_id] = follow_up, None
        finally:
            del wanted[event_id]

    return _installed.install(hooks, mirror_seat_change)


def uninstall_mirror(
    listener: InventoryListener, hooks: InventoryHooks = inventory_changed
) -> None:
    _installed.uninstall(hooks, listener)


# --- e-mail --------------------------------------------------------------------------------------

DELIVERY_RETRIES = 6
TICKET_REASONS = frozenset(
    {"confirmed", "waitlisted", "resend", "promoted", "cancelled", "event_cancelled"}
)


async def _queue_per_minute(
    queues: dict[str, Queue], function: str, key: str, **kwargs: Any
) -> None:
    """An urgent mail job; asking again within the same minute coalesces into it (same key)."""
    minute = int(time.time() // 60)
    await queues["urgent"].enqueue(
        function,
        **kwargs,
        key=f"{key}:{minute}",
        timeout=30,
        retries=3,
        retry_delay=2.0,
        retry_backoff=True,
    )


async def queue_ticket_email(queues: dict[str, Queue], registration_id: UUID, reason: str) -> None:
    """Ask the workers to send a registration's ticket. A double click within a minute
    coalesces into one message (same job key)."""
    if reason not in TICKET_REASONS:
        raise ValueError(f"unknown ticket e-mail reason {reason!r}")
    await _queue_per_minute(
        queues,
        "send_ticket_email",
        f"mail:ticket:{registration_id}:{reason}",
        registration_id=str(registration_id),
        reason=reason,
    )


async def queue_existing_ticket_email(queues: dict[str, Queue], event_id: UUID, email: str) -> None:
    """Someone gave an address that already holds a place: its ticket goes to it again.

    The worker finds the registration, so the request that asked never reads PostgreSQL
    (an "already registered" answer costs Redis only). The job key names no address.
    """
    digest = hashlib.sha256(email.encode()).hexdigest()[:24]
    await _queue_per_minute(
        queues,
        "send_existing_ticket_email",
        f"mail:existing:{event_id}:{digest}",
        event_id=str(event_id),
        email=email,
    )


async def queue_event_cancelled_emails(queues: dict[str, Queue], event_id: UUID) -> None:
    """Tell everyone registered that the event is cancelled: one job reads who they are when
    it runs and queues one e-mail each (an event's whole list is not read in the request)."""
    await queues["default"].enqueue(
        "send_event_cancelled_emails",
        event_id=str(event_id),
        key=f"mail:event-cancelled:{event_id}",
        timeout=120,
        retries=3,
        retry_delay=5.0,
        retry_backoff=True,
    )


async def queue_signin_email(queues: dict[str, Queue], member_id: UUID, email: str) -> None:
    await _queue_per_minute(
        queues,
        "send_signin_email",
        f"mail:signin:{member_id}",
        member_id=str(member_id),
        email=email,
    )


async def queue_delivery(queues: dict[str, Queue], outbox_id: UUID) -> None:
    await queues["urgent"].enqueue(
        "deliver_email",
        outbox_id=str(outbox_id),
        key=f"mail:deliver:{outbox_id}",
        timeout=60,
        retries=DELIVERY_RETRIES,
        retry_delay=5.0,
        retry_backoff=600,  # 5 s, 10 s, 20 s ... at most 10 minutes apart
    )


# --- hearing about promotions ---------------------------------------------------------------

_promotion_mail: Subscription[PromotionListener] = Subscription()


def install_promotion_mail(
    queues: dict[str, Queue], hooks: PromotionHooks = waitlist_promoted
) -> PromotionListener:
    """Mail everyone the registration service seats from the waitlist, whatever seated them.

    Subscribed once per process (the app's lifespan, the worker's startup), replacing an
    earlier subscription, so each promotion queues exactly one "promoted" ticket e-mail.
    """

    async def mail_promoted(event_id: UUID, registration_id: UUID) -> None:
        await queue_ticket_email(queues, registration_id, "promoted")

    return _promotion_mail.install(hooks, mail_promoted)


def uninstall_promotion_mail(
    listener: PromotionListener, hooks: PromotionHooks = waitlist_promoted
) -> None:
    _promotion_mail.uninstall(hooks, listener)


# --- platform webhooks ---------------------------------------------------------------------------


def webhook_job_key(listing_id: UUID | str) -> str:
    return f"webhooks:{listing_id}"


async def enqueue_webhook_setup(queues: dict[str, Queue], listing_id: UUID | str) -> None:
    """Register the listing's webhook soon (a no-op for Meetup, or when it is already there)."""
    await queues["default"].enqueue(
        "register_webhooks",
        key=webhook_job_key(listing_id),
        listing_id=str(listing_id),
        timeout=60,
        retries=4,
        retry_delay=5.0,
        retry_backoff=120.0,
    )


def confirmation_job_key(listing_id: UUID | str) -> str:
    return f"webhook-confirm:{listing_id}"


async def enqueue_webhook_confirmation(
    queues: dict[str, Queue], listing_id: UUID | str, api_url: str, action: str
) -> None:
    """Confirm an Eventbrite webhook, then pull. Webhooks arriving while one waits join it:
    whichever is confirmed, the pull reads every change of the listing."""
    await queues["urgent"].enqueue(
        "confirm_eventbrite_webhook",
        key=confirmation_job_key(listing_id),
        listing_id=str(listing_id),
        api_url=api_url,
        action=action,
        timeout=30,
    )


# --- check-ins handed back to the platforms ------------------------------------------------------

GATHER_SECONDS = 0.5
BATCH_SIZE = 100  # registrations per batch job


def passback_job_key(registration_id: UUID | str) -> str:
    return f"checkin-passback:{registration_id}"


async def enqueue_passback(
    queues: dict[str, Queue], registration_ids: Iterable[UUID | str]
) -> None:
    """One job per registration (ids as UUIDs, or as the strings a batch job carries); a repeat
    while one is waiting collapses into it."""
    for registration_id in registration_ids:
        await queues["default"].enqueue(
            "pass_checkin_back",
            key=passback_job_key(registration_id),
            registration_id=str(registration_id),
            timeout=60,
            retries=3,
        )


async def enqueue_passback_batch(queues: dict[str, Queue], registration_ids: list[str]) -> None:
    for start in range(0, len(registration_ids), BATCH_SIZE):
        await queues["default"].enqueue(
            "pass_checkins_back",
            registration_ids=registration_ids[start : start + BATCH_SIZE],
            timeout=600,
        )


class PassbackGatherer:
    """Gathers the web process's new platform check-ins; queues them every GATHER_SECONDS.

    One per application (its lifespan closes it, which queues what is still waiting). What
    waits here when the process is killed is lost, as a job that could not be queued is (the
    check-ins themselves are committed; only the courtesy hand-back is lost).
    """

    def __init__(self, queues: dict[str, Queue], *, seconds: float = GATHER_SECONDS) -> None:
        self._queues = queues
        self._seconds = seconds
        self._waiting: dict[str, None] = {}  # ordered, and a repeat is one hand-back
        self._flusher: asyncio.Task[None] | None = None

    def add(self, registration_ids: Iterable[UUID]) -> None:
        for registration_id in registration_ids:
            self._waiting[str(registration_id)] = None
        if self._waiting and self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._seconds)
        self._flusher = None
        await self.flush()

    async def flush(self) -> None:
        ids, self._waiting = list(self._waiting), {}
        if not ids:
            return
        try:
            await enqueue_passback_batch(self._queues, ids)
        except RedisError as exc:
            passback_log.warning(
                "check-in passback not queued",
                extra={"count": len(ids), "error": type(exc).__name__},
            )

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()


# --- paid tickets -------------------------------------------------------------------------------

REFUND_RETRIES = 8


class PaymentQueue:
    """PaymentJobs on the SAQ queues. Asking twice for the same thing queues it once."""

    def __init__(self, queues: dict[str, Queue]) -> None:
        self.queues = queues

    async def expire_at(self, payment_id: UUID, when: datetime) -> None:
        await self.queues["urgent"].enqueue(
            "expire_checkout",
            payment_id=str(payment_id),
            key=f"pay:expire:{payment_id}:{int(when.timestamp())}",
            scheduled=int(when.timestamp()) + 1,
            timeout=60,
            retries=3,
            retry_delay=5.0,
            retry_backoff=True,
        )

    async def refund(self, payment_id: UUID) -> None:
        await self.queues["default"].enqueue(
            "refund_payment",
            payment_id=str(payment_id),
            key=f"pay:refund:{payment_id}",
            timeout=60,
            retries=REFUND_RETRIES,
            retry_delay=5.0,
            retry_backoff=600,
        )

    async def offer_seats(self, event_id: UUID) -> None:
        await self.queues["urgent"].enqueue(
            "offer_waitlist_seats",
            event_id=str(event_id),
            key=f"pay:offer:{event_id}",
            timeout=120,
            retries=3,
            retry_delay=5.0,
            retry_backoff=True,
        )

    async def ticket_mail(self, registration_id: UUID, reason: str) -> None:
        await queue_ticket_email(self.queues, registration_id, reason)

    async def deliver(self, outbox_id: UUID) -> None:
        await queue_delivery(self.queues, outbox_id)

    async def settle_event(self, event_id: UUID) -> None:
        await self.queues["default"].enqueue(
            "settle_cancelled_event",
            event_id=str(event_id),
            key=f"pay:settle-event:{event_id}",
            timeout=300,
            retries=3,
            retry_delay=5.0,
            retry_backoff=True,
        )

    async def settle(self, registration_id: UUID) -> None:
        await self.queues["default"].enqueue(
            "settle_cancelled_ticket",
            registration_id=str(registration_id),
            key=f"pay:settle:{registration_id}",
            timeout=60,
            retries=3,
            retry_delay=5.0,
            retry_backoff=True,
        )


_offers: Subscription[InventoryListener] = Subscription()
_settlements: Subscription[PromotionListener] = Subscription()


def install_payments(
    queues: dict[str, Queue],
    *,
    freed: InventoryHooks = paid_seats_freed,
    cancelled: RegistrationHooks = registration_cancelled,
) -> tuple[InventoryListener, PromotionListener]:
    """Seats freed on a paid event go to its waitlist as offers; a cancelled registration is
    checked for a paid ticket to refund. Subscribed once per process (app and worker)."""
    jobs = PaymentQueue(queues)

    async def offer(event_id: UUID, channel: str) -> None:
        await jobs.offer_seats(event_id)

    async def settle(event_id: UUID, registration_id: UUID) -> None:
        await jobs.settle(registration_id)

    return _offers.install(freed, offer), _settlements.install(cancelled, settle)


def uninstall_payments(
    listeners: tuple[InventoryListener, PromotionListener],
    *,
    freed: InventoryHooks = paid_seats_freed,
    cancelled: RegistrationHooks = registration_cancelled,
) -> None:
    _offers.uninstall(freed, listeners[0])
    _settlements.uninstall(cancelled, listeners[1])
