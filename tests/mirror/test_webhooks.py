"""Webhooks: only addresses we handed out, only bodies shaped like the platform's; each good
one becomes a pull. End to end, the stand-ins deliver over real HTTP to the app on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from community.app import create_app
from community.models import Registration, SyncLog
from community.platforms import make_client
from community.platforms.eventbrite import EventbriteClient
from community.platforms.luma import LumaClient
from community.sandbox.common import Person
from community.services.webhooks import webhook_token
from tests.mirror.conftest import MakeEvent, MirroredEvent, MirrorRig, eventually


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
    wrong = {"type": "guest.updated", "data": {"event": {"id": "evt-someoneelse"}}}
    assert (await post(luma, wrong)).status_code == 400

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
