"""Bring a platform event under the dashboard: import it as a native clone, or link a listing.

The organiser pastes a Meetup, Eventbrite or Luma link (or a bare id). The event is read
through the organiser's connected account and a clone is created with the listing linked
(published when the platform event is live, a draft otherwise); the pull job then reads the
listing's registrations in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import (
    PLATFORM_LABELS,
    Event,
    EventStatus,
    Listing,
    ListingState,
    Platform,
    SoldOutMode,
    Theme,
    User,
)
from community.platforms.base import RemoteEvent
from community.platforms.errors import PlatformError, PlatformNotFound
from community.platforms.luma import LumaClient
from community.services.events.manage import InvalidInput, multi_line, one_line, unique_slug
from community.services.mirror.clients import client_for_listing
from community.services.mirror.platform_accounts import active_account
from community.services.mirror.rate_budget import RateBudget

_MEETUP_PATH = re.compile(r"/events/([0-9A-Za-z]+)/?$")
_EVENTBRITE_PATH = re.compile(r"(?:^|[-/])(\d{6,})/?$")
_LUMA_ID = re.compile(r"\b(evt-[0-9A-Za-z]{4,})\b")
_BARE_ID = re.compile(r"^[0-9A-Za-z_-]{1,120}$")
DEFAULT_CAPACITY = 100


@dataclass(frozen=True)
class ListingRef:
    platform: str
    external_id: str


def _platform_of(host: str, path: str) -> str | None:
    host = host.lower()
    for name, hosts in (
        ("meetup", ("meetup.com",)),
        ("eventbrite", ("eventbrite.",)),
        ("luma", ("lu.ma", "luma.com")),
    ):
        if any(h in host for h in hosts) or f"/{name}/" in path.lower():
            return name
    return None


def parse_listing_ref(text: str, platform_hint: str = "") -> ListingRef:
    """``(platform, id)`` from a pasted link or id; ``InvalidInput`` on ``source`` otherwise."""
    text = text.strip()
    hint = platform_hint.strip().lower()
    if hint and hint not in PLATFORM_LABELS:
        raise InvalidInput({"platform": "Choose Meetup, Eventbrite or Luma."})
    if not text:
        raise InvalidInput({"source": "Paste the event's link or id."})
    if len(text) > 500:
        raise InvalidInput({"source": "That link is too long to be an event link."})
    if "://" not in text and "/" not in text and "." not in text:
        if not _BARE_ID.match(text):
            raise InvalidInput({"source": "An event id has only letters, digits and dashes."})
        platform = hint or ("luma" if text.startswith("evt-") else "")
        if not platform:
            raise InvalidInput({"platform": "For a bare id, choose which platform it belongs to."})
        return ListingRef(platform, text)

    parts = urlsplit(text if "://" in text else f"https://{text}")
    platform = _platform_of(parts.netloc, parts.path) or hint
    if not platform:
        raise InvalidInput(
            {"source": "That is not a Meetup, Eventbrite or Luma link; choose the platform."}
        )
    path = parts.path
    if platform == Platform.MEETUP and (match := _MEETUP_PATH.search(path)):
        return ListingRef(platform, match[1])
    if platform == Platform.EVENTBRITE:
        eid = parse_qs(parts.query).get("eid", [""])[0]
        if eid.isdigit():
            return ListingRef(platform, eid)
        if match := _EVENTBRITE_PATH.search(path):
            return ListingRef(platform, match[1])
    if platform == Platform.LUMA:
        if match := _LUMA_ID.search(text):
            return ListingRef(platform, match[1])
        slug = path.strip("/").split("/")[-1] if path.strip("/") else ""
        if _BARE_ID.match(slug):
            return ListingRef(platform, slug)
    label = PLATFORM_LABELS[platform]
    raise InvalidInput({"source": f"Could not find an event id in that {label} link."})


async def _existing(session: AsyncSession, ref: ListingRef) -> Listing | None:
    return await session.scalar(
        select(Listing).where(
            Listing.platform == ref.platform, Listing.external_id == ref.external_id
        )
    )


async def _refuse_if_linked(session: AsyncSession, ref: ListingRef) -> None:
    if (found := await _existing(session, ref)) is not None:
        event = await session.get(Event, found.event_id)
        title = event.title if event else "another event"
        label = PLATFORM_LABELS[ref.platform]
        raise InvalidInput({"source": f"This {label} event is already linked to “{title}”."})


async def fetch_remote(
    session: AsyncSession,
    settings: Settings,
    user: User,
    ref: ListingRef,
    budget: RateBudget,
    session_maker: async_sessionmaker[AsyncSession] | None = None,
) -> tuple[RemoteEvent, Listing]:
    """Read the event through the organiser's account; a Listing not yet attached to an event.

    In sandbox mode an organiser without a connected account reads the local stand-ins with
    their own credentials, like the mirror does.
    """
    label = PLATFORM_LABELS[ref.platform]
    await _refuse_if_linked(session, ref)
    account = await active_account(session, user.id, ref.platform)
    if account is None and settings.platform_mode != "sandbox":
        raise InvalidInput(
            {"source": f"Connect your {label} account first (Platforms), then paste again."}
        )
    listing = Listing(platform=ref.platform, account_id=account.id if account else None)
    try:
        client = await client_for_listing(
            settings, session, listing, budget, session_maker=session_maker
        )
    except PlatformError as exc:
        raise InvalidInput({"source": exc.message}) from exc
    try:
        external_id = await _resolve(client.client, ref)
        remote = await client.client.get_event(external_id)
    except PlatformNotFound as exc:
        raise InvalidInput(
            {"source": f"{label} has no event {ref.external_id} that your account can see."}
        ) from exc
    except PlatformError as exc:
        raise InvalidInput({"source": exc.message}) from exc
    finally:
        await client.aclose()
    listing.external_id = remote.external_id or external_id
    if listing.external_id != ref.external_id:  # found by its public link: linked already?
        await _refuse_if_linked(session, ListingRef(ref.platform, listing.external_id))
    listing.url = remote.url[:500]
    listing.platform_count = remote.going_count
    listing.last_pushed_limit = remote.capacity
    listing.remote_state = ListingState(remote.listing_state.value)
    return remote, listing


LUMA_ID_WHERE = (
    "Luma has no event at lu.ma/{slug} among the events your API key manages: paste the "
    "event's id instead, which starts with evt- and is at the end of the address of the "
    "event's Manage page on Luma (luma.com/event/manage/evt-…)."
)


async def _resolve(client: object, ref: ListingRef) -> str:
    """The platform's id for ``ref``: a pasted public Luma link (lu.ma/<slug>) is looked up
    among the calendar's events, since Luma's API reads events by their evt- id only."""
    if ref.platform != Platform.LUMA or ref.external_id.startswith("evt-"):
        return ref.external_id
    if not isinstance(client, LumaClient):
        return ref.external_id
    found = await client.find_event_by_slug(ref.external_id)
    if found is None:
        raise InvalidInput({"source": LUMA_ID_WHERE.format(slug=ref.external_id)})
    return found


def clone_values(remote: RemoteEvent, platform: str) -> dict[str, object]:
    """Event columns for a native clone of a platform event."""
    description = multi_line(remote.description)
    summary = one_line(description)[:297]
    if len(description) > 297:
        summary = summary.rsplit(" ", 1)[0] + "…"
    capacity = remote.capacity or max(DEFAULT_CAPACITY, remote.going_count)
    capacity = max(capacity, remote.going_count)
    return {
        "title": (one_line(remote.title) or "Imported event")[:200],
        "summary": summary[:300],
        "description_md": description[:20_000],
        "starts_at": remote.starts_at,
        "ends_at": remote.ends_at
        if remote.ends_at and remote.ends_at >= remote.starts_at
        else None,
        "timezone": remote.timezone or "UTC",
        "venue_name": one_line(remote.venue_name or "")[:200],
        "address": one_line(remote.address or "")[:300],
        "city": one_line(remote.city or "")[:120],
        # Only a two-letter code is a country code; a spelt-out name ("Germany") is dropped.
        "country": country.upper() if len(country := (remote.country or "").strip()) == 2 else "",
        "latitude": remote.lat,
        "longitude": remote.lon,
        "online_url": (remote.online_url or "")[:500],
        "cover_image_url": (remote.cover_url or "")[:500],
        "theme": Theme.LUMA if platform == Platform.LUMA else Theme.MEETUP,
        "capacity": capacity,
        "native_reserve": 0,
        "soldout_mode": SoldOutMode.WAITLIST
        if remote.listing_state.value == "waitlist"
        else SoldOutMode.SOLD_OUT,
    }


async def import_event(
    session: AsyncSession,
    settings: Settings,
    user: User,
    ref: ListingRef,
    budget: RateBudget,
    session_maker: async_sessionmaker[AsyncSession] | None = None,
) -> tuple[Event, Listing]:
    remote, listing = await fetch_remote(session, settings, user, ref, budget, session_maker)
    values = clone_values(remote, ref.platform)
    event = Event(**values, slug=await unique_slug(session, str(values["title"])), owner_id=user.id)
    if remote.status == "live":
        # Already public and selling on the platform: the clone takes over its seats at once,
        # so its registrations are pulled in and the listing follows our limit from now on.
        event.status = EventStatus.PUBLISHED
        event.published_at = datetime.now(UTC)
    session.add(event)
    await session.flush()
    listing.event_id = event.id
    session.add(listing)
    await session.flush()
    return event, listing


async def link_listing(
    session: AsyncSession,
    settings: Settings,
    user: User,
    event: Event,
    ref: ListingRef,
    budget: RateBudget,
    session_maker: async_sessionmaker[AsyncSession] | None = None,
) -> Listing:
    """Attach the same event's listing on another platform; the event's details stay ours."""
    label = PLATFORM_LABELS[ref.platform]
    if any(existing.platform == ref.platform for existing in event.listings):
        raise InvalidInput(
            {"source": f"This event already has a {label} listing; unlink it first."}
        )
    _, listing = await fetch_remote(session, settings, user, ref, budget, session_maker)
    listing.event_id = event.id
    session.add(listing)
    await session.flush()
    return listing
