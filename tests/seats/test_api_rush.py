"""The rush route (`community web`'s registration endpoint without the framework) answers as
the Litestar controller does, and leaves everything unusual to Litestar."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from community.api_lane import with_api_lane
from community.app import MAX_BODY, create_app
from community.config import Settings, VisitorLimitSettings
from community.controllers.api_rush import rush_route

# What differs from one answer to the next by nature, not by route.
VARYING = {"date", "content-length", "registration_id", "event_id"}


def _person(tag: str = "") -> dict[str, str]:
    return {"name": "Ada", "email": f"ada.{tag or secrets.token_hex(4)}@example.com"}


def _comparable(answer: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {k: v for k, v in answer.headers.items() if k not in VARYING}
    body = {k: v for k, v in answer.json().items() if k not in VARYING}
    return answer.status_code, headers, body


async def test_every_kind_of_answer_is_the_controllers(settings: Settings, make_event: Any) -> None:
    """The same requests, one set to the full app (the Litestar controller) and one down the
    lane: the same status, headers and body, refusals and framework errors included."""
    limits = VisitorLimitSettings(register_per_address=50, register_per_event=3, window_s=600)
    limited = replace(settings, limits=limits)
    answers: dict[str, list[Any]] = {"full": [], "lane": []}
    for kind in answers:
        event = await make_event(capacity=1)
        path = f"/api/events/{event.id}/registrations"
        full = create_app(limited)
        app = full if kind == "full" else with_api_lane(full)
        async with AsyncTestClient(app=app) as client:
            first = _person()
            for body in (first, first, _person(), _person()):  # 201, already, sold out, 429
                answers[kind].append(await client.post(path, json=body))
            answers[kind].append(await client.post(path, json={"name": "Ada", "email": "x"}))
            answers[kind].append(await client.post(path, content=b"{not json", headers=JSON))
            answers[kind].append(await client.post(path, content=b"{}", headers={}))
            too_big = {"name": "A" * MAX_BODY, "email": "ada@example.com"}
            answers[kind].append(await client.post(path, json=too_big))
            answers[kind].append(
                await client.post(f"/api/events/{secrets.token_hex(4)}/registrations", json=first)
            )
    statuses = [a.status_code for a in answers["lane"]]
    assert statuses == [201, 409, 409, 429, 400, 400, 415, 413, 404]
    for full_answer, lane_answer in zip(answers["full"][:-1], answers["lane"][:-1], strict=True):
        assert _comparable(lane_answer) == _comparable(full_answer)
    # No route, so Litestar runs no middleware: the full app's 404 goes without the security
    # headers. The lane's edge middleware wraps every answer, that one too.
    (full_404, lane_404) = answers["full"][-1], answers["lane"][-1]
    assert lane_404.json() == full_404.json()
    assert lane_404.headers["x-content-type-options"] == "nosniff"


JSON = {"content-type": "application/json"}


async def _call(app: Any, path: str, body: bytes, chunk: int = 0) -> list[dict[str, Any]]:
    """One request straight to an ASGI app, the body in chunks of `chunk` bytes."""
    parts = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]
    messages = [
        {"type": "http.request", "body": part, "more_body": n < len(parts) - 1}
        for n, part in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", b"application/json")],
        "client": ("10.1.2.3", 4000),
        "query_string": b"",
    }
    await app(scope, receive, send)
    return sent


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan (its Redis, queues and database) on this test's own loop, so the
    route can be called directly here."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)  # type: ignore[arg-type]
    )
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan


async def test_a_well_formed_registration_never_reaches_the_framework(
    settings: Settings, make_event: Any
) -> None:
    event = await make_event(capacity=1)
    path = f"/api/events/{event.id}/registrations"
    passed_on: list[bytes] = []

    async def litestar(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        passed_on.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    full = create_app(settings)
    async with running(full):
        route = rush_route(full, litestar, max_body=1000)
        taken = json.dumps(_person()).encode()
        answer = await _call(route, path, taken, chunk=7)
        assert answer[0]["status"] == 201 and passed_on == []
        assert (await _call(route, path, taken))[0]["status"] == 409
        # Unusual bodies go on whole, in order, however they arrived: malformed, too large.
        malformed = b'{"name": "Ada", "email": 7}'
        assert (await _call(route, path, malformed, chunk=5))[0]["status"] == 299
        large = json.dumps({"name": "A" * 3000, "email": "a@example.com"}).encode()
        assert (await _call(route, path, large, chunk=400))[0]["status"] == 299
        assert passed_on == [malformed, large]
        await full.state["after_reply"].drain()


async def test_the_lane_serves_the_rest_of_the_api_through_litestar(
    settings: Settings, make_event: Any
) -> None:
    event = await make_event(capacity=3)
    full: Litestar = create_app(settings)
    async with AsyncTestClient(app=with_api_lane(full)) as client:
        counts = await client.get(f"/api/events/{event.id}/counts")
        assert counts.status_code == 200 and counts.json()["capacity"] == 3
        wrong_method = await client.put(f"/api/events/{event.id}/registrations", json={})
        assert wrong_method.status_code == 405
        # The edge middleware wraps both ways once: one set of security headers.
        assert counts.headers.get_list("x-content-type-options") == ["nosniff"]
        registered = await client.post(f"/api/events/{event.id}/registrations", json=_person())
        assert registered.headers.get_list("x-content-type-options") == ["nosniff"]
        await full.state["after_reply"].drain()


async def test_registrations_ask_the_traffic_cop_a_few_at_a_time(
    settings: Settings, make_event: Any, monkeypatch: Any
) -> None:
    """The others wait their turn, parked, before any work; all are answered."""
    from community.services.seats.inventory import Inventory

    event = await make_event(capacity=5)
    path = f"/api/events/{event.id}/registrations"
    at_once = 0
    most = 0
    reserve = Inventory.reserve

    async def counted(*args: Any, **options: Any) -> Any:
        nonlocal at_once, most
        at_once += 1
        most = max(most, at_once)
        try:
            await asyncio.sleep(0.01)
            return await reserve(*args, **options)
        finally:
            at_once -= 1

    monkeypatch.setattr(Inventory, "reserve", counted)
    pools = replace(settings.pools, registrations_at_once=3)
    many = VisitorLimitSettings(register_per_address=100, register_per_event=100, window_s=600)
    full = create_app(replace(settings, pools=pools, limits=many))
    async with running(full):
        route = rush_route(full, full, max_body=1000)
        people = [json.dumps(_person()).encode() for _ in range(30)]
        answers = await asyncio.gather(*(_call(route, path, body) for body in people))
        await full.state["after_reply"].drain()
    statuses = sorted(a[0]["status"] for a in answers)
    assert statuses == [201] * 5 + [409] * 25
    assert most == 3


async def test_an_outage_is_a_503_and_the_unexpected_a_json_500(
    settings: Settings, make_event: Any, monkeypatch: Any
) -> None:
    from redis.exceptions import ConnectionError as RedisDown

    import community.controllers.api_rush as rush

    event = await make_event(capacity=5)
    path = f"/api/events/{event.id}/registrations"
    failure: Exception = RedisDown("gone")

    async def failing(*_: Any) -> Any:
        raise failure

    monkeypatch.setattr(rush, "take_place", failing)
    async with AsyncTestClient(app=with_api_lane(create_app(settings))) as client:
        down = await client.post(path, json=_person())
        failure = ValueError("a bug")
        bug = await client.post(path, json=_person())
    assert down.status_code == 503 and down.headers["retry-after"]
    assert bug.status_code == 500 and bug.json()["code"] == "internal"
    assert "a bug" not in bug.text
