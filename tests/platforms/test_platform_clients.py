"""The shared interface, exercised on all three clients against their stand-ins."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from platform_helpers import CountingProvider, Pair, credential, new_client, stand_in_id, sweep

from community.platforms import (
    NotSupported,
    PlatformAuthError,
    PlatformNotFound,
    PlatformRateLimited,
    PlatformTransient,
    RemoteListingState,
    make_client,
)
from community.sandbox.shapes import Person

START = datetime(2031, 5, 17, 16, 0, tzinfo=UTC)


@pytest.mark.asyncio
async def test_reads_event_in_common_shape(pair: Pair) -> None:
    event_id = pair.seed(
        title="Spring talks",
        description="Two talks and snacks.",
        starts_at=START,
        timezone="Europe/Berlin",
        venue_name="Library",
        address="Main Street 5",
        city="Berlin",
        country="DE",
        limit=10,
    )
    pair.register(event_id, 3)

    event = await pair.client.get_event(event_id)

    assert event.external_id == event_id
    assert event.title == "Spring talks"
    assert "Two talks" in event.description
    assert event.starts_at == START and event.starts_at.tzinfo is not None
    assert event.ends_at is not None and event.ends_at > event.starts_at
    assert event.timezone == "Europe/Berlin"
    assert event.venue_name == "Library"
    assert event.city == "Berlin"
    assert event.going_count == 3
    assert event.status == "live"
    assert event.listing_state is RemoteListingState.OPEN
    # Luma does not expose max_capacity; the client only knows what it pushed itself.
    assert event.capacity == (None if pair.sandbox.name == "luma" else 10)


@pytest.mark.asyncio
async def test_pushes_absolute_limit_idempotently(pair: Pair) -> None:
    event_id = pair.seed(limit=10)
    pair.register(event_id, 3)

    first = await pair.client.set_limit(event_id, 7)
    again = await pair.client.set_limit(event_id, 7)

    assert first == again
    assert (first.limit, first.going_count, first.state) == (7, 3, RemoteListingState.OPEN)
    assert pair.state(event_id)["limit"] == 7
    later = await pair.client.get_event(event_id)
    assert later.capacity == 7


@pytest.mark.asyncio
async def test_sold_out_blocks_platform_registrations_and_reopen_restores(pair: Pair) -> None:
    event_id = pair.seed(limit=10, waitlist=False)
    pair.register(event_id, 3)

    closed = await pair.client.set_state(event_id, RemoteListingState.SOLD_OUT, 3)

    assert closed.state is RemoteListingState.SOLD_OUT
    assert closed.going_count == 3
    refused = pair.sandbox.add_registration(event_id, Person("Late Comer", "late@example.org"))
    assert refused.status == "refused"

    reopened = await pair.client.set_state(event_id, RemoteListingState.OPEN, 3, limit=6)

    assert reopened.state is RemoteListingState.OPEN
    assert reopened.limit == 6
    accepted = pair.sandbox.add_registration(event_id, Person("Late Comer", "late@example.org"))
    assert accepted.status == "going"
    assert pair.state(event_id)["going"] == 4


WAITLIST_FALLBACK = {
    # Meetup and Luma keep their own waitlist once the limit equals the going count;
    # Eventbrite has no waitlist in its API, so the listing shows sold out.
    "meetup": (RemoteListingState.WAITLIST, "waitlist"),
    "eventbrite": (RemoteListingState.SOLD_OUT, "refused"),
    "luma": (RemoteListingState.WAITLIST, "waitlist"),
}


@pytest.mark.asyncio
async def test_waitlist_state_or_documented_fallback(pair: Pair) -> None:
    event_id = pair.seed(limit=10, waitlist=True)
    pair.register(event_id, 2)

    result = await pair.client.set_state(event_id, RemoteListingState.WAITLIST, 2)

    expected_state, expected_outcome = WAITLIST_FALLBACK[pair.sandbox.name]
    assert result.state is expected_state
    assert result.limit == 2
    outcome = pair.sandbox.add_registration(event_id, Person("Next One", "next@example.org"))
    assert outcome.status == expected_outcome


@pytest.mark.asyncio
async def test_lists_registrations_across_pages(pair: Pair) -> None:
    event_id = pair.seed(limit=50)
    registered = pair.register(event_id, 5)

    items, pages = await sweep(pair.client, event_id)

    assert pages >= 3  # five people, two per page
    assert sorted(stand_in_id(r) for r in items) == sorted(registered)
    assert {r.status for r in items} == {"going"}
    assert all(r.name.startswith("Person ") and r.member_external_id for r in items)
    assert all(r.updated_at is not None and r.updated_at.tzinfo for r in items)


@pytest.mark.asyncio
async def test_cancellation_shows_up_in_the_next_sweep(pair: Pair) -> None:
    event_id = pair.seed(limit=50)
    registered = pair.register(event_id, 3)
    before, _ = await sweep(pair.client, event_id)
    watermark = max(r.updated_at for r in before if r.updated_at)

    pair.sandbox.cancel_registration(event_id, registered[0])
    after, _ = await sweep(pair.client, event_id, changed_since=watermark)

    cancelled = {stand_in_id(r): r.status for r in after}
    assert cancelled[registered[0]] == "cancelled"


@pytest.mark.asyncio
async def test_whoami_names_the_connected_account(pair: Pair) -> None:
    assert await pair.client.whoami() == "Sandbox Organiser"
    account = await pair.client.account()
    assert account.id and account.email == "organiser@example.org"


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unknown_event_is_not_found(pair: Pair) -> None:
    with pytest.raises(PlatformNotFound) as caught:
        await pair.client.get_event("999999999")
    assert caught.value.platform == pair.sandbox.name
    assert caught.value.message


@pytest.mark.asyncio
async def test_server_error_is_transient_and_passes(pair: Pair) -> None:
    event_id = pair.seed(limit=5)
    pair.sandbox.faults.inject("5xx", status=502)

    with pytest.raises(PlatformTransient) as caught:
        await pair.client.set_limit(event_id, 4)
    assert "502" in caught.value.message

    assert (await pair.client.set_limit(event_id, 4)).limit == 4


@pytest.mark.asyncio
async def test_injected_429_carries_retry_after(pair: Pair) -> None:
    pair.sandbox.faults.inject("429")

    with pytest.raises(PlatformRateLimited) as caught:
        await pair.client.whoami()

    assert 25 <= caught.value.retry_after <= 31  # the stand-in asks for 30 s


@pytest.mark.asyncio
async def test_rate_budget_answers_each_platforms_rate_limit(pair: Pair) -> None:
    pair.sandbox.budget.configure(limit=2, window_s=60)
    await pair.client.whoami()
    await pair.client.whoami()

    with pytest.raises(PlatformRateLimited) as caught:
        await pair.client.whoami()

    assert 50 <= caught.value.retry_after <= 61  # announced in whole seconds, rounded up


@pytest.mark.asyncio
async def test_hang_past_timeout_is_transient(pair: Pair) -> None:
    client = new_client(pair.sandbox, timeout=0.2)
    pair.sandbox.faults.inject("hang")
    started = time.perf_counter()

    with pytest.raises(PlatformTransient) as caught:
        await client.whoami()

    assert caught.value.code == "timeout"
    assert time.perf_counter() - started < 2
    await client.aclose()


@pytest.mark.asyncio
async def test_latency_is_applied(pair: Pair) -> None:
    pair.sandbox.faults.latency_ms = 120
    started = time.perf_counter()
    await pair.client.whoami()
    assert time.perf_counter() - started >= 0.12


@pytest.mark.asyncio
async def test_wrong_credentials_are_an_auth_error(pair: Pair) -> None:
    client = new_client(pair.sandbox, token="not-a-valid-token")
    with pytest.raises(PlatformAuthError) as caught:
        await client.whoami()
    assert "not-a-valid-token" not in caught.value.message
    await client.aclose()


@pytest.mark.asyncio
async def test_401_asks_the_provider_once_for_a_fresh_token(pair: Pair) -> None:
    good = credential(pair.sandbox)
    provider = CountingProvider(lambda force, _: good if force else "stale-token")
    client = new_client(pair.sandbox, token=provider)

    assert await client.whoami() == "Sandbox Organiser"
    assert provider.calls == [False, True]
    await client.aclose()


@pytest.mark.asyncio
async def test_refresh_that_does_not_help_ends_in_auth_error(pair: Pair) -> None:
    provider = CountingProvider(lambda _, n: f"wrong-{n}")
    client = new_client(pair.sandbox, token=provider)

    with pytest.raises(PlatformAuthError):
        await client.whoami()

    assert provider.calls == [False, True]  # one forced refresh, then give up
    await client.aclose()


@pytest.mark.asyncio
async def test_check_in_is_not_supported_anywhere(pair: Pair) -> None:
    event_id = pair.seed()
    (registration,) = pair.register(event_id, 1)
    with pytest.raises(NotSupported):
        await pair.client.mark_checkin(event_id, registration)


@pytest.mark.asyncio
async def test_negative_limit_is_a_programming_error(pair: Pair) -> None:
    with pytest.raises(ValueError):
        await pair.client.set_limit(pair.seed(), -1)


def test_factory_refuses_unknown_platform() -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        make_client("myspace", "http://example.invalid", "token")
