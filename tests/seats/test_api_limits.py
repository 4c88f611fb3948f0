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
