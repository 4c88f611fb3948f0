"""Platform webhooks: registered for every listing whose platform offers them, and verified.

Eventbrite and Luma can tell us of a registration at once; Meetup has no webhooks and is
polled (tasks.pull). A listing gets its webhook when it is linked or imported, whatever
the account (not only in the demo), and an hourly pass re-creates any that went missing. Both
registrations are idempotent: an existing webhook with our address is reused.

Verification, as far as each platform allows (docs/platforms.md): the address carries a
per-listing secret (services.mirror.webhooks). Eventbrite signs nothing, so its ``api_url`` is
fetched with our own token and must name the listing's event before anything is pulled. Luma's
signing scheme is not published: its body is never trusted, the pull re-reads the guests through the
API with our key.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from sqlalchemy import select

from community.config import Settings
from community.models import PLATFORM_LABELS, Event, EventStatus, Listing, Platform
from community.platforms.errors import PlatformError, PlatformRateLimited, PlatformTransient
from community.platforms.eventbrite import EventbriteClient
from community.platforms.luma import LumaClient
from community.services.jobs import enqueue_pull, enqueue_webhook_setup
from community.services.mirror import sync_log
from community.services.mirror.webhooks import webhook_url
from community.tasks.context import JobContext
from community.tasks.mirror.client import JobClient
from community.tasks.pull import PULL_AFTER_END
from community.tasks.registry import cron, task

log = logging.getLogger("community.webhooks")

EVENTBRITE_ACTIONS = ["order.placed", "order.refunded", "order.updated", "attendee.updated"]
LUMA_TYPES = ["guest.registered", "guest.updated", "ticket.registered"]
WEBHOOK_PLATFORMS = frozenset({Platform.EVENTBRITE, Platform.LUMA})
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def unreachable_reason(settings: Settings) -> str:
    """Why a real platform could not deliver to us ("" when it can).

    The stand-ins run on this machine and reach loopback; real platforms need a public URL.
    """
    if settings.platform_mode == "sandbox":
        return ""
    host = (urlsplit(settings.base_url).hostname or "").lower()
    if host in LOOPBACK_HOSTS or host.endswith(".local"):
        return "Webhooks need a public BASE_URL; until then this listing is polled."
    return ""


async def _record(
    ctx: JobContext, listing_id: UUID, action: str, outcome: str, detail: str
) -> None:
    async with ctx["session_maker"]() as session:
        listing = await session.get(Listing, listing_id)
        if listing is None:
            return
        await sync_log.record(
            session,
            listing=listing,
            platform=listing.platform,
            direction="webhook",
            action=action,
            outcome=outcome,
            detail=detail,
            duration_ms=0,
        )
        await session.commit()


@task
async def register_webhooks(ctx: JobContext, *, listing_id: str) -> dict[str, Any]:
    lid = UUID(listing_id)
    settings: Settings = ctx["settings"]
    async with ctx["session_maker"]() as session:
        listing = await session.get(Listing, lid)
        if listing is None:
            return {"outcome": "gone"}
        platform, external_id = listing.platform, listing.external_id
    if platform not in WEBHOOK_PLATFORMS:
        return {"outcome": "none"}  # Meetup: polled
    label = PLATFORM_LABELS.get(platform, platform)
    if reason := unreachable_reason(settings):
        await _record(ctx, lid, "register", sync_log.SKIPPED, reason)
        return {"outcome": "skipped"}
    url = webhook_url(settings, platform, lid)
    client = JobClient(ctx, lid)
    try:
        remote = await client.get()
        if isinstance(remote, EventbriteClient):
            _, new = await remote.ensure_webhook(url, EVENTBRITE_ACTIONS, event_id=external_id)
        elif isinstance(remote, LumaClient):
            _, new = await remote.ensure_webhook(url, LUMA_TYPES)
        else:
            return {"outcome": "none"}
    except PlatformError as exc:
        await _record(
            ctx, lid, "register", sync_log.outcome_of(exc), f"Webhook not registered: {exc.message}"
        )
        if isinstance(exc, PlatformRateLimited | PlatformTransient):
            raise  # SAQ retries with backoff; the hourly pass catches the rest
        return {"outcome": "failed"}
    except LookupError:
        return {"outcome": "gone"}
    finally:
        await client.aclose()
    if new:
        words = f"Webhook registered: {label} tells us of registrations at once."
        await _record(ctx, lid, "register", sync_log.OK, words)
    return {"outcome": "registered" if new else "present"}


@task
async def confirm_eventbrite_webhook(
    ctx: JobContext, *, listing_id: str, api_url: str, action: str
) -> dict[str, Any]:
    """Fetch what the webhook points at with our token; pull only when it is this event's."""
    lid = UUID(listing_id)
    async with ctx["session_maker"]() as session:
        listing = await session.get(Listing, lid)
        if listing is None:
            return {"outcome": "gone"}
        external_id = listing.external_id
    client = JobClient(ctx, lid)
    try:
        remote = await client.get()
        if not isinstance(remote, EventbriteClient):
            return {"outcome": "ignored"}
        event_id = await remote.webhook_event_id(api_url)
    except PlatformError as exc:
        if isinstance(exc, PlatformRateLimited | PlatformTransient):
            # Eventbrite cannot answer now: pull anyway, the pull reads only through the API.
            await _pull_now(ctx, lid)
            return {"outcome": "unverified"}
        await _record(
            ctx, lid, action[:64], sync_log.outcome_of(exc), f"Not confirmed: {exc.message}"
        )
        return {"outcome": "refused"}
    except LookupError:
        return {"outcome": "gone"}
    finally:
        await client.aclose()
    if event_id != external_id:
        detail = "Not confirmed: Eventbrite says the webhook is about another event."
        await _record(ctx, lid, action[:64], sync_log.SKIPPED, detail)
        return {"outcome": "refused"}
    await _pull_now(ctx, lid)
    await _record(ctx, lid, action[:64], sync_log.OK, "Confirmed with Eventbrite; pull requested.")
    return {"outcome": "confirmed"}


async def _pull_now(ctx: JobContext, listing_id: UUID) -> None:
    await enqueue_pull(ctx["settings"], ctx["redis"], ctx["queues"], listing_id)


@cron("17 * * * *", timeout=120)
async def ensure_all_webhooks(ctx: JobContext) -> dict[str, int]:
    """Hourly: every listing that can have a webhook has one (it may have been deleted)."""
    now = datetime.now(UTC)
    async with ctx["session_maker"]() as session:
        rows = await session.scalars(
            select(Listing.id)
            .join(Event, Event.id == Listing.event_id)
            .where(
                Listing.platform.in_(list(WEBHOOK_PLATFORMS)),
                Event.status == EventStatus.PUBLISHED,
                Event.deleted_at.is_(None),
                Event.starts_at > now - PULL_AFTER_END,
            )
        )
        ids = list(rows)
    for listing_id in ids:
        await enqueue_webhook_setup(ctx["queues"], listing_id)
    return {"listings": len(ids)}
