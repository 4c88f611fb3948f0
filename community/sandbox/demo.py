"""A seeded demo state: one listing per platform mirroring a sample event, with a few people
already registered there (some of them on two platforms, so member merging has work to do).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from community.sandbox.common import SandboxPlatform
from community.sandbox.shapes import Person, SeedEvent


def sample_event(capacity: int = 60) -> SeedEvent:
    start = (datetime.now(UTC) + timedelta(days=14)).replace(
        hour=17, minute=30, second=0, microsecond=0
    )
    return SeedEvent(
        title="Python Community Night",
        description=(
            "Three short talks, pizza and plenty of time to meet people.\n\n"
            "Doors open at 18:30; talks start at 19:00."
        ),
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        timezone="Europe/Berlin",
        venue_name="Community Hall",
        address="Hauptstrasse 1",
        city="Berlin",
        country="DE",
        lat=52.52,
        lon=13.405,
        limit=capacity,
        waitlist=True,
    )


DEMO_PEOPLE: dict[str, list[Person]] = {
    "meetup": [
        Person("Ada Lovelace", member_id="100001"),
        Person("Grace Hopper", member_id="100002"),
        Person("Alan Turing", member_id="100003", guests=1),
    ],
    "eventbrite": [
        Person("Katherine Johnson", "katherine@example.org"),
        Person("Linus Torvalds", "linus@example.org", guests=2),  # an order of 3 tickets
        Person("Grace Hopper", "grace@example.org"),
    ],
    "luma": [
        Person("Margaret Hamilton", "margaret@example.org"),
        Person("Guido van Rossum", "guido@example.org"),
        Person("Katherine Johnson", "katherine@example.org"),
    ],
}


def seed_demo(
    sandboxes: Mapping[str, SandboxPlatform], event: SeedEvent | None = None
) -> dict[str, str]:
    """Seed each stand-in; returns platform -> external event id."""
    base = event or sample_event()
    created: dict[str, str] = {}
    for platform, sandbox in sandboxes.items():
        event_id = sandbox.seed_event(base)
        for person in DEMO_PEOPLE.get(platform, []):
            sandbox.add_registration(event_id, person)
        created[platform] = event_id
    return created
