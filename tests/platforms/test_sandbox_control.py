"""The stand-ins' control endpoints, and bad input answered with 4xx in each platform's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from platform_helpers import BASE, PLATFORMS, new_sandbox

from community.sandbox.common import SandboxPlatform

API_PROBE = {
    "meetup": ("POST", "/gql-ext", {"Authorization": "Bearer sandbox-meetup-token"}),
    "eventbrite": ("GET", "/v3/users/me/", {"Authorization": "Bearer sandbox-eventbrite-token"}),
    "luma": ("GET", "/v1/users/get-self", {"x-luma-api-key": "sandbox-luma-key"}),
}


def error_text(platform: str, body: dict[str, Any]) -> str:
    """Each platform's error shape, reduced to its message."""
    if platform == "meetup":
        return body["errors"][0]["message"]
    if platform == "eventbrite":
        assert body["error"] and body["status_code"]
        return body["error_description"]
    return body["message"]


@pytest.fixture(params=PLATFORMS)
async def stand_in(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[SandboxPlatform, httpx.AsyncClient]]:
    sandbox = new_sandbox(request.param)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE
    ) as http:
        yield sandbox, http
    await sandbox.aclose()


async def test_seed_register_cancel_and_read_state(
    stand_in: tuple[SandboxPlatform, httpx.AsyncClient],
) -> None:
    sandbox, http = stand_in
    seeded = await http.post(
        "/_sandbox/events",
        json={
            "title": "Control",
            "limit": 1,
            "waitlist": False,
            "starts_at": "2031-01-01T18:00:00Z",
        },
    )
    assert seeded.status_code == 201
    event_id = seeded.json()["id"]

    first = await http.post(
        f"/_sandbox/events/{event_id}/registrations",
        json={"name": "First", "email": "first@example.org", "member_id": "m1"},
    )
    second = await http.post(
        f"/_sandbox/events/{event_id}/registrations",
        json={"name": "Second", "email": "second@example.org", "member_id": "m2"},
    )
    again = await http.post(
        f"/_sandbox/events/{event_id}/registrations",
        json={"name": "First", "email": "first@example.org", "member_id": "m1"},
    )

    assert (first.status_code, first.json()["status"]) == (201, "going")
    assert (second.status_code, second.json()["status"]) == (409, "refused")
    if sandbox.name == "eventbrite":
        # Eventbrite sells a ticket per order: the same buyer again needs another seat.
        assert again.json()["status"] == "refused"
    else:
        assert again.json() == {**first.json(), "reason": "already registered"}
    cancelled = await http.post(
        f"/_sandbox/events/{event_id}/registrations/{first.json()['id']}/cancel"
    )
    assert cancelled.status_code == 200
    state = (await http.get(f"/_sandbox/events/{event_id}")).json()
    assert (state["going"], state["cancelled"]) == (0, 1)
    whole = (await http.get("/_sandbox/state")).json()
    assert whole["platform"] == sandbox.name and len(whole["events"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"limit": -1},
        {"limit": "ten"},
        {"timezone": "Nowhere/Land"},
        {"starts_at": "tomorrow"},
        {"starts_at": "2031-01-01T18:00:00"},  # no offset
        {"starts_at": "2031-01-01T18:00:00Z", "ends_at": "2031-01-01T17:00:00Z"},
        {"colour": "blue"},
        ["not", "an", "object"],
    ],
)
async def test_bad_seed_is_a_400_in_platform_shape(
    stand_in: tuple[SandboxPlatform, httpx.AsyncClient], body: Any
) -> None:
    sandbox, http = stand_in
    response = await http.post("/_sandbox/events", json=body)
    assert response.status_code == 400
    assert error_text(sandbox.name, response.json())


async def test_bad_control_input_is_4xx_never_500(
    stand_in: tuple[SandboxPlatform, httpx.AsyncClient],
) -> None:
    sandbox, http = stand_in
    event_id = (await http.post("/_sandbox/events", json={})).json()["id"]
    checks = [
        (await http.post(f"/_sandbox/events/{event_id}/registrations", json={}), 400),
        (
            await http.post(
                f"/_sandbox/events/{event_id}/registrations", json={"name": "A", "email": "nope"}
            ),
            400,
        ),
        (await http.post("/_sandbox/events/missing/registrations", json={"name": "A"}), 404),
        (await http.post(f"/_sandbox/events/{event_id}/registrations/missing/cancel"), 404),
        (await http.post("/_sandbox/events", content=b"{not json"), 400),
        (await http.post("/_sandbox/faults", json={"kind": "meteor"}), 400),
        (await http.post("/_sandbox/faults", json={"latency_ms": -5}), 400),
        (await http.post("/_sandbox/rate", json={"window_s": 0}), 400),
        (await http.get("/_sandbox/nothing-here"), 404),
    ]
    for response, status in checks:
        assert response.status_code == status, response.text
        assert error_text(sandbox.name, response.json())


async def test_fault_queue_latency_and_clear_over_http(
    stand_in: tuple[SandboxPlatform, httpx.AsyncClient],
) -> None:
    sandbox, http = stand_in
    method, path, headers = API_PROBE[sandbox.name]
    body = {"query": "{ self { id } }"} if sandbox.name == "meetup" else None
    injected = await http.post("/_sandbox/faults", json={"kind": "5xx", "count": 2, "status": 500})
    assert len(injected.json()["pending"]) == 2

    statuses = [
        (await http.request(method, path, headers=headers, json=body)).status_code for _ in range(3)
    ]

    assert statuses == [500, 500, 200]
    await http.post("/_sandbox/faults", json={"kind": "429"})
    cleared = (await http.delete("/_sandbox/faults")).json()
    assert cleared == {
        "latency_ms": 0,
        "pending": [],
        "outage_left_s": 0.0,
        "rate_limit_wait_s": 30.0,
    }
    assert (await http.request(method, path, headers=headers, json=body)).status_code == 200
    logged = [c["status"] for c in (await http.get("/_sandbox/state")).json()["calls"]]
    assert logged == [500, 500, 200, 200]


async def test_missing_credentials_get_each_platforms_401(
    stand_in: tuple[SandboxPlatform, httpx.AsyncClient],
) -> None:
    sandbox, http = stand_in
    method, path, _ = API_PROBE[sandbox.name]
    response = await http.request(method, path, json={"query": "{ self { id } }"})
    assert response.status_code == 401
    assert error_text(sandbox.name, response.json())


async def test_eventbrite_query_token_works_and_is_not_logged() -> None:
    sandbox = new_sandbox("eventbrite")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE
    ) as http:
        response = await http.get("/v3/users/me/", params={"token": "sandbox-eventbrite-token"})
        missing = await http.get("/v3/nowhere/")
    assert response.status_code == 200
    assert "Eventbrite-API-Waypoint-Token" in response.headers
    assert missing.status_code in (401, 404)
    assert "token" not in str(sandbox.log.entries())


async def test_luma_has_no_tokens_to_expire() -> None:
    sandbox = new_sandbox("luma")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE
    ) as http:
        response = await http.post("/_sandbox/tokens/expire")
    assert response.status_code == 400
    assert "no expiring tokens" in response.json()["message"]
