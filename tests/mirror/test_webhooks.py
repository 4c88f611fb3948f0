"""Webhooks: only addresses we handed out, only bodies shaped like the platform's; each good
one becomes a pull. End to end, the stand-ins deliver over real HTTP to the app on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from community.app import create_app
from community.models import Listing, PlatformAccount, Registration, Role, SyncLog, User
from community.platforms import make_client
from community.platforms.eventbrite import EventbriteClient
from community.platforms.luma import LumaClient
from community.sandbox.shapes import Person
from community.services.mirror.coalescing import Coalescer
from community.services.mirror.token_crypto import encrypt
from community.services.mirror.webhooks import webhook_token
from community.tasks.platform_webhooks import register_webhooks, unreachable_reason
from tests.helpers.mirror import PLATFORMS, MakeEvent, MirroredEvent, MirrorRig, eventually


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield  # leave signals to pytest


@pytest.fixture
async def served(rig: MirrorRig) -> AsyncIterator[tuple[str, MirrorRig]]:
    """The app on a loopback port, sharing the rig's Redis prefix, queues and stand-ins."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = replace(rig.settings, base_url=base)
    app = create_app(settings)
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started)
    try:
        yield base, replace(rig, settings=settings)
    finally:
        server.should_exit = True
        await task
        sock.close()


def url(base: str, rig: MirrorRig, platform: str, event: MirroredEvent) -> str:
    token = webhook_token(rig.settings, platform, event.listings[platform].id)
    return f"{base}/webhooks/{platform}/{token}"


async def post(target: str, body: object) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(target, json=body)


async def test_strangers_and_malformed_bodies_are_refused(
    served: tuple[str, MirrorRig], make_event: MakeEvent
) -> None:
    base, rig = served
    event = await make_event()
    eventbrite = url(base, rig, "eventbrite", event)
    luma = url(base, rig, "luma", event)
    api = rig.settings.eventbrite.api_url
    good = {"api_url": f"{api}/v3/orders/1/", "config": {"action": "order.placed"}}

    # Unknown, forged or misplaced addresses: 401, whatever the body.
    forged = eventbrite[:-4] + ("0000" if not eventbrite.endswith("0000") else "1111")
    assert (await post(forged, good)).status_code == 401
    assert (await post(f"{base}/webhooks/eventbrite/not-a-token", good)).status_code == 401
    luma_token = luma.rsplit("/", 1)[1]
    assert (await post(f"{base}/webhooks/eventbrite/{luma_token}", good)).status_code == 401

    # Our address, but not a body Eventbrite sends: 400 with a reason.
    async with httpx.AsyncClient() as client:
        not_json = await client.post(eventbrite, content=b"{nope")
        # 5,000 levels deep: a clear 400, never the decoder's RecursionError as a 500.
        deep = await client.post(eventbrite, content=b"[" * 5000 + b"]" * 5000)
        deep_luma = await client.post(luma, content=b'{"type":' + b"[" * 5000 + b"]" * 5000)
        # Bodies past the webhook limit are refused before they are read.
        huge = await client.post(luma, content=b'{"x":"' + b"a" * 300_000 + b'"}')
    assert not_json.status_code == 400
    assert (deep.status_code, deep_luma.status_code) == (400, 400), deep.text
    assert deep.json()["code"] == "invalid"
    assert (huge.status_code, huge.json()["code"]) == (413, "too_large")
    assert (await post(eventbrite, ["a", "list"])).status_code == 400
    assert (await post(eventbrite, {"api_url": good["api_url"]})).status_code == 400
    elsewhere = {"api_url": "https://evil.example/v3/orders/1/", "config": good["config"]}
    refused = await post(eventbrite, elsewhere)
    assert refused.status_code == 400
    assert "Eventbrite API" in refused.json()["detail"]
    other_event = {"api_url": f"{api}/v3/events/999/attendees/1/", "config": good["config"]}
    assert (await post(eventbrite, other_event)).status_code == 400
    assert (await post(luma, {"type": "guest.updated"})).status_code == 400
    assert (await post(luma, {"type": "nonsense", "data": {}})).status_code == 400
    # Luma webhooks are per calendar: another event's news is acknowledged, not pulled.
    wrong = {"type": "guest.updated", "data": {"event": {"id": "evt-someoneelse"}}}
    other = await post(luma, wrong)
    assert other.status_code == 202 and other.json()["status"] == "ignored"

    # A test ping and event-level news are acknowledged without a pull.
    ping = await post(eventbrite, {"api_url": "", "config": {"action": "test"}})
    assert ping.status_code == 202 and ping.json()["status"] == "ignored"
    assert (await post(luma, {"type": "event.updated", "data": {}})).status_code == 202

    # A good one is accepted and logged.
    accepted = await post(eventbrite, good)
    assert accepted.status_code == 202 and accepted.json() == {"status": "accepted"}
    async with rig.session_maker() as session:
        logged = (
            await session.scalars(
                select(SyncLog).where(SyncLog.event_id == event.id, SyncLog.direction == "webhook")
            )
        ).all()
    assert [entry.action for entry in logged] == ["order.placed"]


async def test_platform_webhooks_pull_new_registrations(
    served: tuple[str, MirrorRig], make_event: MakeEvent
) -> None:
    base, rig = served
    event = await make_event()
    creds = {p: rig.sandboxes[p].credentials for p in ("eventbrite", "luma")}
    eventbrite = make_client(
        "eventbrite", rig.settings.eventbrite.api_url, creds["eventbrite"]["access_token"]
    )
    luma = make_client("luma", rig.settings.luma.api_url, creds["luma"]["api_key"])
    assert isinstance(eventbrite, EventbriteClient) and isinstance(luma, LumaClient)
    try:
        await eventbrite.register_webhook(
            url(base, rig, "eventbrite", event),
            ["order.placed", "attendee.updated"],
            event_id=event.external("eventbrite"),
        )
        await luma.register_webhook(url(base, rig, "luma", event), ["guest.registered"])
    finally:
        await eventbrite.aclose()
        await luma.aclose()

    for platform, email in (("eventbrite", "eve@example.org"), ("luma", "lou@example.org")):
        sandbox = rig.sandboxes[platform].sandbox
        sandbox.add_registration(event.external(platform), Person(email.split("@")[0], email))

    async def both_recorded() -> bool:
        async with rig.session_maker() as session:
            rows = await session.scalars(
                select(Registration.channel).where(Registration.event_id == event.id)
            )
            return set(rows) == {"eventbrite", "luma"}

    # No schedule runs in tests: only the webhooks can have caused these pulls.
    await eventually(both_recorded)
    await eventually(lambda: jobs_idle(rig, event))  # before the event is deleted


async def jobs_idle(rig: MirrorRig, event: MirroredEvent) -> bool:
    for kind in ("pull", "push"):
        coalescer = Coalescer(rig.redis, rig.settings.redis_prefix, kind)
        for listing in event.listings.values():
            progress = await coalescer.progress(listing.id)
            if progress.pending or progress.runner_active:
                return False
    return True


async def _connect_accounts(rig: MirrorRig, event: MirroredEvent) -> None:
    """Connected (live-style) accounts for the Eventbrite and Luma listings, not the sandbox's
    fallback credential: webhooks are registered for any account."""
    async with rig.session_maker() as session:
        owner = User(
            email=f"owner-{secrets.token_hex(4)}@example.org",
            name="Owner",
            role=Role.OWNER,
            password_hash="-",
        )
        session.add(owner)
        await session.flush()
        creds = {p: rig.sandboxes[p].credentials for p in ("eventbrite", "luma")}
        key = rig.settings.secret_key
        accounts = {
            "eventbrite": PlatformAccount(
                user_id=owner.id,
                platform="eventbrite",
                access_token_enc=encrypt(
                    rig.settings.secret_key, creds["eventbrite"]["access_token"]
                ),
            ),
            "luma": PlatformAccount(
                user_id=owner.id,
                platform="luma",
                api_key_enc=encrypt(key, creds["luma"]["api_key"]),
            ),
        }
        for platform, account in accounts.items():
            session.add(account)
            await session.flush()
            listing = await session.get(Listing, event.listings[platform].id)
            assert listing is not None
            listing.account_id = account.id
        await session.commit()


async def test_webhooks_are_registered_for_connected_accounts_and_trigger_pulls(
    served: tuple[str, MirrorRig], make_event: MakeEvent
) -> None:
    base, rig = served
    event = await make_event()
    await _connect_accounts(rig, event)
    eventbrite_sb = rig.sandboxes["eventbrite"].sandbox
    luma_sb = rig.sandboxes["luma"].sandbox

    outcomes = {
        p: await register_webhooks(rig.ctx(), listing_id=str(event.listings[p].id))
        for p in PLATFORMS
    }
    assert outcomes == {
        "meetup": {"outcome": "none"},  # Meetup has no webhooks: it is polled
        "eventbrite": {"outcome": "registered"},
        "luma": {"outcome": "registered"},
    }
    # Registering again finds ours instead of adding a second one.
    again = await register_webhooks(rig.ctx(), listing_id=str(event.listings["luma"].id))
    assert again == {"outcome": "present"}
    hooks = [h for h in eventbrite_sb.webhook_subscriptions.values() if base in h["endpoint_url"]]
    assert [h["event_id"] for h in hooks] == [event.external("eventbrite")]
    assert url(base, rig, "luma", event) in [
        h["url"] for h in luma_sb.webhook_subscriptions.values()
    ]

    for platform, sandbox in (("eventbrite", eventbrite_sb), ("luma", luma_sb)):
        email = f"{platform}-buyer@example.org"
        sandbox.add_registration(event.external(platform), Person(platform.title(), email))

    async def both_recorded() -> bool:
        async with rig.session_maker() as session:
            rows = await session.scalars(
                select(Registration.channel).where(Registration.event_id == event.id)
            )
            return set(rows) == {"eventbrite", "luma"}

    started = asyncio.get_running_loop().time()
    await eventually(both_recorded)  # no schedule runs in tests: the webhooks did this
    assert asyncio.get_running_loop().time() - started < 5
    async with rig.session_maker() as session:
        details = list(
            await session.scalars(
                select(SyncLog.detail).where(
                    SyncLog.event_id == event.id, SyncLog.direction == "webhook"
                )
            )
        )
        listing = await session.get(Listing, event.listings["eventbrite"].id)
        assert listing is not None and listing.sales_seen_at is not None  # polled often now
    assert "Confirmed with Eventbrite; pull requested." in details
    await eventually(lambda: jobs_idle(rig, event))


async def test_an_eventbrite_webhook_is_verified_with_our_token_before_any_pull(
    served: tuple[str, MirrorRig], make_event: MakeEvent
) -> None:
    base, rig = served
    ours, other = await make_event(), await make_event()
    sandbox = rig.sandboxes["eventbrite"].sandbox
    # A real order, but of another event: its api_url passes the shape checks.
    sandbox.add_registration(other.external("eventbrite"), Person("Olga", "olga@example.org"))
    order_id = next(iter(sandbox.events[other.external("eventbrite")].attendees.values())).order_id
    api = rig.settings.eventbrite.api_url
    forged = {
        "api_url": f"{api}/v3/orders/{order_id}/",
        "config": {"action": "order.placed", "webhook_id": "1"},
    }
    answer = await post(url(base, rig, "eventbrite", ours), forged)
    assert answer.status_code == 202

    async def refused() -> bool:
        async with rig.session_maker() as session:
            rows = await session.scalars(
                select(SyncLog.detail).where(
                    SyncLog.event_id == ours.id, SyncLog.direction == "webhook"
                )
            )
            return any(d.startswith("Not confirmed") for d in rows)

    await eventually(refused)
    async with rig.session_maker() as session:
        pulls = await session.scalar(
            select(func.count()).where(SyncLog.event_id == ours.id, SyncLog.direction == "pull")
        )
    assert pulls == 0


def test_real_platforms_are_not_asked_to_deliver_to_a_loopback_address(
    rig: MirrorRig,
) -> None:
    live = replace(rig.settings, platform_mode="live", base_url="http://127.0.0.1:8000")
    assert "public BASE_URL" in unreachable_reason(live)
    assert unreachable_reason(replace(live, base_url="https://events.example.org")) == ""
    assert unreachable_reason(replace(live, platform_mode="sandbox")) == ""
