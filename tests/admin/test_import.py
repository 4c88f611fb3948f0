"""Importing a platform event and linking listings, against the sandbox stand-ins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import Event, EventStatus, Listing, Registration, User
from community.sandbox.shapes import Person, SeedEvent
from community.services.events.importing import parse_listing_ref
from community.services.events.manage import InvalidInput
from tests.helpers.admin import LiveClient, MakeEvent
from tests.helpers.mirror import eventually


def test_links_and_ids_are_understood() -> None:
    cases = {
        ("https://www.meetup.com/berlin-python/events/312345678/", ""): ("meetup", "312345678"),
        ("meetup.com/berlin-python/events/312345678", ""): ("meetup", "312345678"),
        ("https://www.eventbrite.co.uk/e/rust-night-tickets-1234567890123", ""): (
            "eventbrite",
            "1234567890123",
        ),
        ("https://www.eventbrite.com/checkout?eid=998877665544", ""): (
            "eventbrite",
            "998877665544",
        ),
        ("https://lu.ma/event/manage/evt-AbC123xyz", ""): ("luma", "evt-AbC123xyz"),
        ("https://lu.ma/design-night", ""): ("luma", "design-night"),
        ("evt-AbC123xyz", ""): ("luma", "evt-AbC123xyz"),
        ("312345678", "meetup"): ("meetup", "312345678"),
        ("http://127.0.0.1:9000/evt-Loop1", "luma"): ("luma", "evt-Loop1"),
    }
    for (text, hint), expected in cases.items():
        ref = parse_listing_ref(text, hint)
        assert (ref.platform, ref.external_id) == expected, text


def test_unreadable_input_names_the_field() -> None:
    for text, hint, field in (
        ("", "", "source"),
        ("312345678", "", "platform"),
        ("https://example.com/some/page", "", "source"),
        ("https://www.meetup.com/group/about/", "", "source"),
        ("not an id!", "luma", "source"),
        ("x" * 600, "", "source"),
        ("312345678", "myspace", "platform"),
    ):
        try:
            parse_listing_ref(text, hint)
        except InvalidInput as exc:
            assert field in exc.errors, (text, exc.errors)
        else:
            raise AssertionError(f"accepted {text!r}")


async def test_import_a_luma_event_with_its_guests(
    rig: Any,
    live_client: LiveClient,
    organiser: User,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    luma = rig.sandboxes["luma"].sandbox
    external_id = luma.seed_event(
        SeedEvent(
            title="Design Systems Night",
            description="Tokens, components and the people behind them.",
            timezone="Europe/London",
            venue_name="Somerset House",
            city="London",
            limit=60,
        )
    )
    for name in ("Ana Guest", "Ben Guest"):
        luma.add_registration(external_id, Person(name, f"{name.split()[0].lower()}@example.com"))
    await live_client.sign_in(organiser)
    url = f"{rig.sandboxes['luma'].base_url}/{external_id}"
    response = await live_client.form(
        "/admin/events/import", {"source": url, "platform": "luma"}, follow_redirects=True
    )
    assert response.status_code == 200, response.text
    assert "Imported “Design Systems Night” from Luma" in response.text
    async with session_maker() as session:
        listing = await session.scalar(select(Listing).where(Listing.external_id == external_id))
        assert listing is not None and listing.platform == "luma"
        event = await session.get(Event, listing.event_id)
        assert event.status == EventStatus.PUBLISHED and event.theme == "luma"
        assert event.timezone == "Europe/London" and event.venue_name == "Somerset House"
        # Luma's API does not tell an event's capacity: the clone starts at the default.
        assert event.capacity == 100

    async def pulled() -> int:
        async with session_maker() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Registration)
                    .where(Registration.event_id == event.id, Registration.channel == "luma")
                )
                or 0
            )

    await eventually(lambda: _equals(pulled, 2), within=20)
    attendees = await live_client.get(f"/admin/events/{event.id}/attendees")
    assert "Ana Guest" in attendees.text and "Ben Guest" in attendees.text

    again = await live_client.form(
        "/admin/events/import", {"source": external_id, "platform": "luma"}
    )
    assert again.status_code == 422 and "already linked" in again.text


async def _equals(read: Any, expected: int) -> bool:
    return await read() == expected


async def test_link_a_second_listing_and_refuse_a_duplicate(
    rig: Any, live_client: LiveClient, organiser: User, make_event: MakeEvent
) -> None:
    event = await make_event()
    meetup = rig.sandboxes["meetup"].sandbox
    external_id = meetup.seed_event(SeedEvent(title=event.title))
    await live_client.sign_in(organiser)
    linked = await live_client.form(
        f"/admin/events/{event.id}/listings",
        {"source": f"https://www.meetup.com/x/events/{external_id}/", "platform": ""},
        follow_redirects=True,
    )
    assert "Linked the Meetup listing" in linked.text
    assert 'data-testid="listing-meetup"' in linked.text
    # Nobody is registered anywhere, yet the listing gets its first limit from the pull job:
    # its share of the 60 shared seats (100 minus the native reserve of 40), split with our
    # page while neither has sold anything (strict allocation).
    await eventually(lambda: meetup.event_state(external_id)["limit"] == 30, within=15)
    duplicate = await live_client.form(
        f"/admin/events/{event.id}/listings",
        {"source": external_id, "platform": "meetup"},
    )
    assert duplicate.status_code == 422 and 'data-testid="link-error"' in duplicate.text
    missing = await live_client.form(
        f"/admin/events/{event.id}/listings", {"source": "evt-doesnotexist", "platform": "luma"}
    )
    assert missing.status_code == 422 and "Luma has no event evt-doesnotexist" in missing.text


async def test_a_pasted_public_luma_link_finds_its_event_or_says_where_the_id_is(
    rig: Any, live_client: LiveClient, organiser: User, make_event: MakeEvent
) -> None:
    event = await make_event()
    luma = rig.sandboxes["luma"].sandbox
    external_id = luma.seed_event(SeedEvent(title=event.title))
    slug = luma.events[external_id].slug
    await live_client.sign_in(organiser)

    unknown = await live_client.form(
        f"/admin/events/{event.id}/listings", {"source": "https://lu.ma/no-such-night"}
    )
    assert unknown.status_code == 422
    assert "starts with evt-" in unknown.text and "Manage page" in unknown.text

    linked = await live_client.form(
        f"/admin/events/{event.id}/listings",
        {"source": f"https://luma.com/{slug}"},
        follow_redirects=True,
    )
    assert "Linked the Luma listing" in linked.text
    async with rig.session_maker() as session:
        listing = await session.scalar(select(Listing).where(Listing.event_id == event.id))
        assert listing is not None and listing.external_id == external_id
    # The same event pasted by its link again is refused as already linked, not a crash.
    again = await live_client.form(
        f"/admin/events/{event.id}/listings", {"source": f"https://lu.ma/{slug}"}
    )
    assert again.status_code == 422 and "already" in again.text
