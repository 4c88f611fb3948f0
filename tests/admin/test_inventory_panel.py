"""The live inventory panel: numbers from the Traffic Cop, inline seat changes with their
rules, over-capacity alerts, and the listing retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.models import Event, Listing, ListingState, Registration, SoldOutMode, SyncState
from community.queue import make_queues
from community.services.seats.registrations import RegistrationService
from community.views.inventory_panel import build_panel
from tests.helpers.admin import MakeEvent, Register
from tests.helpers.web import csrf_token, take_ticket_mails

Client = AsyncTestClient[Litestar]


async def seats(client: Client, event: Event, **values: str) -> Any:
    token = await csrf_token(client)
    return await client.post(
        f"/admin/events/{event.id}/inventory",
        data=values,
        headers={"x-csrftoken": token, "hx-request": "true", "hx-target": "seat-settings"},
    )


def stat_of(html: str, name: str) -> str:
    """The text of the element carrying data-testid=name (numbers only, for the stats)."""
    marker = f'data-testid="{name}">'
    start = html.index(marker) + len(marker)
    return html[start : html.index("<", start)].strip()


async def test_panel_counts_per_channel(
    organiser_client: Client, make_event: MakeEvent, register: Register
) -> None:
    event = await make_event(capacity=100, reserve=40)
    await register(event, "Ada", "ada@example.com")
    await register(event, "Lin", "lin@example.com", channel="meetup")
    await register(event, "Bo", None, channel="luma")
    html = (await organiser_client.get(f"/admin/events/{event.id}/inventory")).text
    assert stat_of(html, "taken") == "3"
    assert stat_of(html, "channel-native") == "1"
    assert stat_of(html, "channel-meetup") == "1"
    assert stat_of(html, "channel-luma") == "1"
    # shared = (100 - 40) - (2 platform + max(0, 1 - 40)) = 58
    assert stat_of(html, "shared-left") == "58"
    assert stat_of(html, "native-left") == "97"
    assert 'hx-trigger="every 2s"' in html  # it keeps refreshing itself


async def test_capacity_and_reserve_change_inline(
    organiser_client: Client,
    make_event: MakeEvent,
    registrations: RegistrationService,
    db_session: AsyncSession,
) -> None:
    event = await make_event(capacity=100, reserve=0)
    response = await seats(
        organiser_client, event, capacity="120", native_reserve="40", soldout_mode="sold_out"
    )
    assert response.status_code == 200
    assert (
        "Saved: capacity 100 → 120, native reserve 0 → 40, show sold out when full."
        in response.text
    )
    assert 'hx-swap-oob="true"' in response.text  # the live numbers update in the same answer
    saved = await db_session.get(Event, event.id)
    assert (saved.capacity, saved.native_reserve, saved.soldout_mode) == (120, 40, "sold_out")
    counts = await registrations.counts(event.id)
    assert (counts.capacity, counts.reserve, counts.shared_left) == (120, 40, 80)


async def test_reserve_above_capacity_is_refused_in_place(
    organiser_client: Client, make_event: MakeEvent, db_session: AsyncSession
) -> None:
    event = await make_event(capacity=100, reserve=40)
    response = await seats(
        organiser_client, event, capacity="100", native_reserve="101", soldout_mode="waitlist"
    )
    assert response.status_code == 422
    assert 'data-testid="reserve-error"' in response.text
    assert "The reserve cannot be more than the capacity (100)." in response.text
    assert 'value="101"' in response.text
    saved = await db_session.get(Event, event.id)
    assert saved.native_reserve == 40


async def test_capacity_below_registrations_is_refused(
    organiser_client: Client, make_event: MakeEvent, register: Register
) -> None:
    event = await make_event(capacity=10, reserve=0)
    for n in range(3):
        await register(event, f"Person {n}", f"p{n}@example.com")
    response = await seats(
        organiser_client, event, capacity="2", native_reserve="0", soldout_mode="waitlist"
    )
    assert response.status_code == 422
    assert "3 people already hold a seat; capacity cannot go below 3." in response.text
    for bad in ("-1", "ten", ""):
        response = await seats(
            organiser_client, event, capacity=bad, native_reserve="0", soldout_mode="waitlist"
        )
        assert response.status_code == 422 and 'data-testid="capacity-error"' in response.text


async def test_raising_capacity_seats_the_waitlist(
    organiser_client: Client,
    make_event: MakeEvent,
    register: Register,
    settings: Settings,
    redis: Redis,
) -> None:
    event = await make_event(capacity=1, reserve=0)
    await register(event, "First", "first@example.com")
    waiting = await register(event, "Second", "second@example.com")
    assert waiting.status == "waitlisted"
    response = await seats(
        organiser_client, event, capacity="2", native_reserve="0", soldout_mode="waitlist"
    )
    assert "1 from the waitlist got a seat." in response.text
    assert stat_of(response.text, "waiting") == "0"
    # The person seated gets their ticket, once.
    assert await take_ticket_mails(settings, redis) == [(str(waiting.registration_id), "promoted")]


async def test_over_capacity_platform_races_are_alerted(
    organiser_client: Client, make_event: MakeEvent, register: Register
) -> None:
    event = await make_event(capacity=1, reserve=0)
    await register(event, "Native person", "n@example.com")
    raced = await register(event, "Racer", None, channel="eventbrite")
    assert raced.over_capacity
    html = (await organiser_client.get(f"/admin/events/{event.id}/inventory")).text
    assert 'data-testid="over-capacity"' in html
    assert "Racer" in html and "Raise capacity to 2" in html
    # The organiser raises the capacity from the alert: the racer gets the new seat.
    response = await seats(
        organiser_client, event, capacity="2", native_reserve="0", soldout_mode="waitlist"
    )
    assert "1 over-capacity registration now holds a seat." in response.text
    assert 'data-testid="over-capacity"' not in response.text
    assert stat_of(response.text, "taken") == "2"


async def test_a_freed_seat_goes_to_the_over_capacity_registration_first(
    organiser_client: Client,
    make_event: MakeEvent,
    register: Register,
    registrations: RegistrationService,
    db_session: AsyncSession,
) -> None:
    event = await make_event(capacity=1, reserve=0)
    first = await register(event, "Native person", "n@example.com")
    raced = await register(event, "Racer", None, channel="luma")
    url = f"/admin/events/{event.id}/registrations/{raced.registration_id}/seat"
    token = await csrf_token(organiser_client)
    full = await organiser_client.post(url, headers={"x-csrftoken": token})
    assert "No seat is free." in full.text
    # A seat comes free: it goes to the racer at once, never to a newcomer.
    await registrations.cancel(first.ticket_token)
    reg = await db_session.get(Registration, raced.registration_id)
    await db_session.refresh(reg)
    assert reg.seat_no == 1 and reg.over_capacity is False
    again = await organiser_client.post(url, headers={"x-csrftoken": token})
    assert "This registration already holds a seat." in again.text
    html = (await organiser_client.get(f"/admin/events/{event.id}/inventory")).text
    assert 'data-testid="over-capacity"' not in html


async def test_retry_marks_the_listing_pushing_and_enqueues(
    organiser_client: Client,
    make_event: MakeEvent,
    db_session: AsyncSession,
    settings: Settings,
    redis: Redis,
) -> None:
    event = await make_event()
    listing = Listing(
        event_id=event.id,
        platform="luma",
        external_id="evt-retry1",
        sync_state=SyncState.ERROR,
        last_error="Luma refused this API key; check it.",
    )
    db_session.add(listing)
    await db_session.commit()
    html = (await organiser_client.get(f"/admin/events/{event.id}/inventory")).text
    assert "Luma refused this API key; check it." in html and "Retry now" in html
    token = await csrf_token(organiser_client)
    response = await organiser_client.post(
        f"/admin/events/{event.id}/listings/{listing.id}/retry",
        headers={"x-csrftoken": token, "hx-request": "true"},
    )
    assert response.status_code == 200 and "Pushing" in response.text
    await db_session.refresh(listing)
    assert listing.sync_state == SyncState.PUSHING
    queue = make_queues(settings, redis)["urgent"]  # the app's queue, seen from this loop
    job = await queue.job(f"push:{listing.id}")
    assert job is not None and job.kwargs["listing_id"] == str(listing.id)


async def test_a_meetup_listing_sold_out_while_the_plan_says_waitlist_is_not_in_step(
    make_event: MakeEvent,
    register: Register,
    registrations: RegistrationService,
    db_session: AsyncSession,
) -> None:
    """Meetup can switch between sold out and waitlist, so the two are different states there;
    on Eventbrite the platform's own setting decides, so either closed state is in step."""
    event = await make_event(capacity=2, reserve=0, mode=SoldOutMode.WAITLIST)
    await register(event, "Lin", "lin@example.com", channel="meetup")
    await register(event, "Bo", "bo@example.com", channel="eventbrite")
    for platform in ("meetup", "eventbrite"):
        db_session.add(
            Listing(
                event_id=event.id,
                platform=platform,
                external_id=f"{platform}-closed",
                platform_count=1,
                last_pushed_limit=1,
                remote_state=ListingState.SOLD_OUT,
                sync_state=SyncState.IN_STEP,
            )
        )
    await db_session.commit()
    panel = await build_panel(registrations, db_session, event)
    rows = {row.listing.platform: row for row in panel.listings}
    assert rows["meetup"].plan.state == ListingState.WAITLIST
    assert rows["meetup"].in_step is False  # Meetup still shows sold out: a push is owed
    assert rows["eventbrite"].plan.state == ListingState.SOLD_OUT
    assert rows["eventbrite"].in_step is True


async def test_strict_allocation_is_explained_and_shared_mode_warns_of_overflow(
    organiser_client: Client, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=10, reserve=4)
    overview = (await organiser_client.get(f"/admin/events/{event.id}")).text
    assert 'value="strict" selected' in overview
    live = (await organiser_client.get(f"/admin/events/{event.id}/inventory")).text
    assert "Split: 0 promised to the listings, 6 for this page" in live
    response = await seats(
        organiser_client,
        event,
        capacity="10",
        native_reserve="4",
        soldout_mode="waitlist",
        allocation="shared",
    )
    assert "every listing may sell all the shared seats left." in response.text
    assert 'value="shared" selected' in response.text
    live = (await organiser_client.get(f"/admin/events/{event.id}/inventory")).text
    assert "Every listing may sell all of them" in live
    # A wrong allocation is refused in words.
    bad = await seats(organiser_client, event, capacity="10", native_reserve="4", allocation="x")
    assert "Choose how the listings share the seats" in bad.text


async def test_a_listing_in_error_keeps_its_error_and_says_when_it_is_retried(
    organiser_client: Client, make_event: MakeEvent, db_session: AsyncSession
) -> None:
    event = await make_event()
    retry_at = datetime(2026, 12, 4, 16, 31, 5, tzinfo=UTC)
    listing = Listing(
        event_id=event.id,
        platform="meetup",
        external_id="retry-at-1",
        sync_state=SyncState.ERROR,
        last_error="Meetup had a server error (503).",
        failing_since=retry_at - timedelta(minutes=3),
        retry_at=retry_at,
    )
    db_session.add(listing)
    await db_session.commit()
    html = (await organiser_client.get(f"/admin/events/{event.id}/inventory")).text
    shown = retry_at.astimezone(ZoneInfo(event.timezone)).strftime("%H:%M:%S %Z")
    assert "Meetup had a server error (503)." in html
    assert f"Retrying at {shown}." in html
