"""The public JSON API takes JSON only, and one client cannot take many seats."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from litestar.testing import AsyncTestClient

from community.api_lane import with_api_lane
from community.app import create_app
from community.config import Settings, VisitorLimitSettings


def _person() -> dict[str, str]:
    return {"name": "Ada", "email": f"ada.{secrets.token_hex(4)}@example.com"}


async def test_a_body_not_declared_json_is_refused_with_415(client: Any, make_event: Any) -> None:
    event = await make_event(capacity=5)
    path = f"/api/events/{event.id}/registrations"
    body = '{"name": "Ada", "email": "ada@example.com"}'
    # What a cross-site "simple" form post can send: no preflight, so it must not count.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"content-type": content_type} if content_type else {}
        refused = await client.post(path, content=body, headers=headers)
        assert refused.status_code == 415, (content_type, refused.text)
    counts = (await client.get(f"/api/events/{event.id}/counts")).json()
    assert counts["taken"] == 0
    ok = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert ok.status_code == 201


async def test_one_client_is_limited_per_event_and_in_all(
    settings: Settings, redis: Any, make_event: Any
) -> None:
    limits = VisitorLimitSettings(register_per_address=6, register_per_event=3, window_s=600)
    first, second = await make_event(capacity=50), await make_event(capacity=50)
    async with AsyncTestClient(
        app=with_api_lane(create_app(replace(settings, limits=limits)))
    ) as client:
        statuses = [
            (await client.post(f"/api/events/{first.id}/registrations", json=_person())).status_code
            for _ in range(4)
        ]
        assert statuses == [201, 201, 201, 429]
        limited = await client.post(f"/api/events/{first.id}/registrations", json=_person())
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert "Too many requests" in limited.json()["detail"]
        # Refused attempts count too. Another event still takes this client, until its
        # sixth attempt in all.
        other = await client.post(f"/api/events/{second.id}/registrations", json=_person())
        assert other.status_code == 201
        over = await client.post(f"/api/events/{second.id}/registrations", json=_person())
        assert over.status_code == 429
        counts = (await client.get(f"/api/events/{first.id}/counts")).json()
        assert counts["taken"] == 3


async def test_cancellations_are_limited_per_client(
    settings: Settings, redis: Any, make_event: Any
) -> None:
    async with AsyncTestClient(app=with_api_lane(create_app(settings))) as client:
        statuses = [
            (await client.delete(f"/api/registrations/{secrets.token_urlsafe(32)}")).status_code
            for _ in range(21)
        ]
    assert statuses[:20] == [404] * 20 and statuses[20] == 429


async def test_a_refusal_costs_redis_one_round_trip(
    settings: Settings, redis: Any, make_event: Any, monkeypatch: Any
) -> None:
    """In a rush almost every attempt is refused: the client's counters are counted by the
    script that answers "sold out" or "already registered", not in a call of their own."""
    from community.services.seats import inventory

    event = await make_event(capacity=1)
    path = f"/api/events/{event.id}/registrations"
    full = create_app(settings)
    async with AsyncTestClient(app=with_api_lane(full)) as client:
        taken = _person()
        assert (await client.post(path, json=taken)).status_code == 201
        await full.state["after_reply"].drain()
        app_redis = full.state["redis"]
        pool = app_redis.connection_pool
        # Every round trip takes a pooled connection; what it sent is named by the path.
        calls: list[str] = []
        trips: list[int] = []
        checkout, sent = pool.get_connection, app_redis.execute_command
        packed = inventory.call_packed

        async def taken_out(*args: Any, **options: Any) -> Any:
            trips.append(1)
            return await checkout(*args, **options)

        async def counted(*args: Any, **options: Any) -> Any:
            calls.append(str(args[0]))
            return await sent(*args, **options)

        async def counted_packed(client: Any, command: bytes) -> Any:
            calls.append(command.split(b"\r\n")[2].decode())
            return await packed(client, command)

        monkeypatch.setattr(pool, "get_connection", taken_out)
        monkeypatch.setattr(app_redis, "execute_command", counted)
        monkeypatch.setattr(inventory, "call_packed", counted_packed)
        monkeypatch.setattr(app_redis, "pipeline", lambda *a, **k: calls.append("pipeline"))
        sold_out = await client.post(path, json=_person())
        for_sold_out, trips_for_sold_out = list(calls), len(trips)
        calls.clear()
        again = await client.post(path, json=taken)
        monkeypatch.undo()
    assert (sold_out.status_code, sold_out.json()["code"]) == (409, "sold_out")
    assert (for_sold_out, trips_for_sold_out) == (["EVALSHA"], 1)
    assert (again.status_code, again.json()["code"]) == (409, "already_registered")
    # Then the ticket's e-mail is queued again (a job of its own, after the answer).
    assert calls[0] == "EVALSHA" and "pipeline" not in calls


async def test_the_seat_script_counts_the_clients_attempts(
    settings: Settings, redis: Any, empty_event: Any
) -> None:
    from community.services.access.limiter import Counter
    from community.services.seats.inventory import Inventory, Limited, Seat, SoldOut

    inventory = Inventory(redis, settings.redis_prefix)
    event_id = await empty_event(2, 0)
    tag = secrets.token_hex(4)
    per_address = Counter(f"{settings.redis_prefix}limit:test-all:{tag}", 3, 60)
    per_event = Counter(f"{settings.redis_prefix}limit:test-event:{tag}", 2, 30)
    answers = [
        await inventory.reserve(event_id, [f"m:{i}"], limits=[per_address, per_event])
        for i in range(4)
    ]
    assert [type(a) for a in answers] == [Seat, Seat, Limited, Limited]
    # The longest wait of the counters that are over, never 0; nothing taken meanwhile.
    assert isinstance(answers[2], Limited) and 0 < answers[2].wait_s <= 30
    assert isinstance(answers[3], Limited) and 30 < answers[3].wait_s <= 60
    assert int(await redis.get(per_address.key)) == 4 and 0 < await redis.ttl(per_event.key) <= 30
    # Without counters the event answers as before: full.
    assert isinstance(await inventory.reserve(event_id, ["m:9"]), SoldOut)
