"""The demo's platforms: the three stand-ins on loopback, connected and mirrored.

`community demo` starts the Meetup, Eventbrite and Luma stand-ins, points the settings at
them, connects the demo owner's accounts the way an organiser would (Meetup through its OAuth
pages, Eventbrite with a private token, Luma with an API key), and lists the Meetup-themed
sample event on all three with a few people already registered there. The first pulls bring
those people in (one of them is on two platforms) and the pushes set every listing's limit, so
the admin's sync log and listing states show the mirror at work without any credentials.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import PlatformCredentials, Settings
from community.models import (
    Event,
    Listing,
    ListingState,
    PlatformAccount,
    SoldOutMode,
    SyncState,
    User,
)
from community.platforms import PlatformError, make_client
from community.platforms.eventbrite import EventbriteClient
from community.platforms.luma import LumaClient
from community.platforms.oauth import new_state
from community.queue import make_queues
from community.redis_client import make_queue_redis, make_redis
from community.sandbox.demo import seed_demo
from community.sandbox.runner import RunningSandbox, SandboxRunner
from community.sandbox.shapes import SeedEvent
from community.services.jobs import enqueue_pull
from community.services.mirror.clients import use_sandbox_credentials
from community.services.mirror.platform_accounts import (
    ConnectError,
    connect_with_secret,
    finish_oauth,
    oauth_client,
)
from community.services.mirror.webhooks import webhook_token

log = logging.getLogger("community.demo")

MIRRORED_SLUG = "python-async-in-production"
PLATFORMS = ("meetup", "eventbrite", "luma")


@dataclass
class DemoPlatforms:
    runner: SandboxRunner
    running: dict[str, RunningSandbox]
    settings: Settings  # pointing at the stand-ins

    async def stop(self) -> None:
        await self.runner.stop()

    def describe(self) -> list[str]:
        return [
            f"  {p.title():<10}      {r.base_url}  (its state: {r.base_url}/_sandbox/state)"
            for p, r in self.running.items()
        ]


async def start_demo_platforms(settings: Settings) -> DemoPlatforms:
    """Serve the stand-ins on free loopback ports; the returned settings point at them."""
    runner = SandboxRunner()
    running = await runner.start()

    def creds(platform: str, oauth: bool) -> PlatformCredentials:
        sandbox = running[platform]
        if not oauth:
            return PlatformCredentials(api_url=sandbox.base_url)
        return PlatformCredentials(
            api_url=sandbox.base_url,
            auth_url=sandbox.base_url,
            client_id=sandbox.credentials["client_id"],
            client_secret=sandbox.credentials["client_secret"],
        )

    for platform, sandbox in running.items():
        use_sandbox_credentials(platform, sandbox.credentials)
    pointed = replace(
        settings,
        platform_mode="sandbox",
        meetup=creds("meetup", oauth=True),
        eventbrite=creds("eventbrite", oauth=True),
        luma=creds("luma", oauth=False),
    )
    return DemoPlatforms(runner, running, pointed)


async def _connect_meetup(session: AsyncSession, settings: Settings, owner: User) -> None:
    """Through the stand-in's OAuth pages, as an organiser's browser would go."""
    oauth = oauth_client(settings, "meetup")
    async with httpx.AsyncClient(timeout=10) as browser:
        answer = await browser.get(oauth.authorize_url(new_state()), follow_redirects=False)
    code = parse_qs(urlsplit(answer.headers.get("location", "")).query).get("code", [""])[0]
    await finish_oauth(session, settings, owner, "meetup", code)


async def connect_demo_accounts(
    session: AsyncSession, settings: Settings, owner: User, running: dict[str, RunningSandbox]
) -> dict[str, PlatformAccount]:
    steps = {
        "meetup": lambda: _connect_meetup(session, settings, owner),
        "eventbrite": lambda: connect_with_secret(
            session,
            settings,
            owner,
            "eventbrite",
            running["eventbrite"].credentials["access_token"],
        ),
        "luma": lambda: connect_with_secret(
            session, settings, owner, "luma", running["luma"].credentials["api_key"]
        ),
    }
    for platform, connect in steps.items():
        try:
            await connect()
        except (ConnectError, PlatformError, httpx.HTTPError) as exc:
            # The listing then uses the stand-in's own credential; the demo still works.
            log.warning(
                "demo account not connected", extra={"platform": platform, "error": str(exc)}
            )
    await session.commit()
    rows = await session.scalars(
        select(PlatformAccount).where(
            PlatformAccount.user_id == owner.id, PlatformAccount.disconnected_at.is_(None)
        )
    )
    return {row.platform: row for row in rows}


def _seed(event: Event) -> SeedEvent:
    return SeedEvent(
        title=event.title,
        description=event.summary or event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        timezone=event.timezone,
        venue_name=event.venue_name or None,
        address=event.address or None,
        city=event.city or None,
        country=event.country or None,
        lat=event.latitude,
        lon=event.longitude,
        limit=None,  # no limit until the mirror's first push sets one
        waitlist=event.soldout_mode == SoldOutMode.WAITLIST,
    )


async def _public_url(platform: str, running: RunningSandbox, external_id: str) -> str:
    token = running.credentials.get("access_token") or running.credentials.get("api_key", "")
    client = make_client(platform, running.base_url, token)
    try:
        return (await client.get_event(external_id)).url
    except PlatformError:
        return ""
    finally:
        await client.aclose()


async def _register_webhooks(
    settings: Settings, running: dict[str, RunningSandbox], listings: dict[str, Listing], base: str
) -> None:
    """Eventbrite and Luma tell us about new registrations (Meetup is pulled every minute)."""
    for platform in ("eventbrite", "luma"):
        listing = listings[platform]
        url = f"{base}/webhooks/{platform}/{webhook_token(settings, platform, listing.id)}"
        creds = running[platform].credentials
        client = make_client(
            platform, running[platform].base_url, creds.get("access_token") or creds["api_key"]
        )
        try:
            if isinstance(client, EventbriteClient):
                await client.register_webhook(
                    url, ["order.placed", "attendee.updated"], event_id=listing.external_id
                )
            elif isinstance(client, LumaClient):
                await client.register_webhook(url, ["guest.registered", "guest.updated"])
        except PlatformError as exc:
            log.warning(
                "demo webhook not registered", extra={"platform": platform, "error": str(exc)}
            )
        finally:
            await client.aclose()


def mirrored_event(events: list[Event]) -> Event | None:
    """The sample event the demo lists on the platforms (the Meetup-themed one)."""
    return next((e for e in events if e.slug == MIRRORED_SLUG), None)


async def link_demo_listings(
    session: AsyncSession,
    platforms: DemoPlatforms,
    owner: User,
    event: Event,
    base_url: str,
) -> dict[str, Listing]:
    """List ``event`` on the three stand-ins, connect the accounts, and start mirroring it.

    Stand-ins keep their state in memory, so every demo start seeds them afresh and points
    the event's listings (kept in the database) at the new platform events.
    """
    settings, running = platforms.settings, platforms.running
    accounts = await connect_demo_accounts(session, settings, owner, running)
    created = seed_demo({p: running[p].sandbox for p in PLATFORMS}, _seed(event))
    existing = {
        row.platform: row
        for row in await session.scalars(select(Listing).where(Listing.event_id == event.id))
    }
    listings: dict[str, Listing] = {}
    for platform in PLATFORMS:
        listing = existing.get(platform) or Listing(event_id=event.id, platform=platform)
        listing.external_id = created[platform]
        listing.url = await _public_url(platform, running[platform], created[platform])
        listing.account_id = accounts[platform].id if platform in accounts else None
        listing.platform_count = 0
        listing.last_pushed_limit = None
        listing.remote_state = ListingState.OPEN
        listing.sync_state = SyncState.IN_STEP
        listing.last_error = ""
        listing.pull_cursor = ""
        session.add(listing)
        listings[platform] = listing
    await session.commit()
    await _register_webhooks(settings, running, listings, base_url)
    # The first pulls bring the platforms' people in; each pull then pushes its listing.
    redis = make_redis(settings)
    queue_redis = make_queue_redis(settings, redis)
    try:
        queues = make_queues(settings, queue_redis)
        for listing in listings.values():
            await enqueue_pull(settings, redis, queues, listing.id)
    finally:
        if queue_redis is not redis:
            await queue_redis.aclose()
        await redis.aclose()
    return listings
