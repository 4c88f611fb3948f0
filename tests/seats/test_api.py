"""The Traffic Cop's JSON API through the real app: register, cancel, counts, OpenAPI."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.models import EventStatus, SoldOutMode
from tests.helpers.seats import post_registration, ticket_token

Client = AsyncTestClient[Litestar]


async def test_register_then_refusals_with_stable_codes(client: Client, make_event: Any) -> None:
    event = await make_event(capacity=1)
    ok = await post_registration(client, event.id, "Ada", "ada@example.com")
    assert ok.status_code == 201, ok.text
    body = ok.json()
    assert (body["status"], body["seat_no"], body["waitlist_position"]) == ("confirmed", 1, None)
    assert body["event_id"] == str(event.id)
    assert ok.headers["cache-control"] == "no-store"

    again = await post_registration(client, event.id, "Ada", "ADA@example.com")
    assert again.status_code == 409
    assert again.json()["code"] == "already_registered"
    assert "already has a place" in again.json()["detail"]

    full = await post_registration(client, event.id, "Grace", "grace@example.com")
    assert full.status_code == 409
    assert full.json() == {
        "status_code": 409,
        "code": "sold_out",
        "detail": "This event is sold out.",
    }


async def test_waitlist_position_and_cancel_promotes(
    client: Client, make_event: Any, session_maker: async_sessionmaker[AsyncSession]
) -> None:
    event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
    first = (await post_registration(client, event.id, "Ada", "ada@example.com")).json()
    first["ticket_token"] = await ticket_token(session_maker, first["registration_id"])
    waiting = await post_registration(client, event.id, "Grace", "grace@example.com")
    assert waiting.status_code == 201
    assert (waiting.json()["status"], waiting.json()["waitlist_position"]) == ("waitlisted", 1)

    cancelled = await client.delete(f"/api/registrations/{first['ticket_token']}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {
        "status": "cancelled",
        "registration_id": first["registration_id"],
        "event_id": str(event.id),
        "promoted_from_waitlist": 1,
    }
    counts = (await client.get(f"/api/events/{event.id}/counts")).json()
    assert (counts["taken"], counts["waiting"]) == (1, 0)

    twice = await client.delete(f"/api/registrations/{first['ticket_token']}")
    assert (twice.status_code, twice.json()["code"]) == (409, "already_cancelled")
    unknown = await client.delete(f"/api/registrations/{'x' * 43}")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "ticket_not_found")
    too_long = await client.delete(f"/api/registrations/{'x' * 65}")
    assert too_long.status_code == 400


async def test_live_counts(client: Client, make_event: Any) -> None:
    event = await make_event(capacity=10, reserve=4)
    for n in range(6):
        await post_registration(client, event.id, f"P{n}", f"p{n}@example.com")
    response = await client.get(f"/api/events/{event.id}/counts")
    assert response.status_code == 200
    counts = response.json()
    assert {k: counts[k] for k in ("capacity", "native_reserve", "taken", "free")} == {
        "capacity": 10,
        "native_reserve": 4,
        "taken": 6,
        "free": 4,
    }
    # native 6, reserve 4: two native seats spilled into the six shared ones.
    assert (counts["shared_used"], counts["shared_left"], counts["native_left"]) == (2, 4, 4)
    assert counts["per_channel"]["native"] == 6 and counts["mode"] == "sold_out"


async def test_bad_input_gets_a_clear_4xx(client: Client, make_event: Any) -> None:
    event = await make_event()
    url = f"/api/events/{event.id}/registrations"
    cases = [
        ({"name": "Ada"}, 400),
        ({"name": "Ada", "email": "nope"}, 400),
        ({"name": "", "email": "ada@example.com"}, 400),
        ({"name": "   ", "email": "ada@example.com"}, 400),
        ({"name": "x" * 201, "email": "ada@example.com"}, 400),
        ({"name": 7, "email": "ada@example.com"}, 400),
        ([], 400),
    ]
    for body, status in cases:
        response = await client.post(url, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["detail"]
    invalid = await client.post(url, json={"name": "Ada", "email": "nope"})
    assert invalid.json()["code"] == "invalid" and invalid.json()["field"] == "email"
    garbage = await client.post(
        url, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert garbage.status_code == 400
    assert (await client.post("/api/events/not-a-uuid/registrations", json={})).status_code in (
        400,
        404,
    )
    missing = await post_registration(client, uuid4(), "Ada", "ada@example.com")
    assert (missing.status_code, missing.json()["code"]) == (404, "event_not_found")
    assert (await client.get(f"/api/events/{uuid4()}/counts")).status_code == 404


async def test_closed_event_is_refused(client: Client, make_event: Any) -> None:
    draft = await make_event(status=EventStatus.DRAFT)
    response = await post_registration(client, draft.id, "Ada", "ada@example.com")
    assert (response.status_code, response.json()["code"]) == (409, "closed")


async def test_the_api_is_documented_in_openapi(client: Client) -> None:
    spec = (await client.get("/api/docs/openapi.json")).json()
    paths = spec["paths"]
    register = paths["/api/events/{event_id}/registrations"]["post"]
    assert set(register["responses"]) >= {"201", "400", "404", "409", "503"}
    assert register["requestBody"]
    assert "delete" in paths["/api/registrations/{ticket_token}"]
    counts = paths["/api/events/{event_id}/counts"]["get"]
    assert "shared_left" in str(spec["components"]["schemas"])
    assert counts["responses"]["200"]
