"""The door's pages and JSON endpoints over HTTP, with the roles and bad input they face."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.demo.ledger_rows import add_people, add_person, make_event
from community.models import CheckinLog, Registration, User
from community.services.jobs import GATHER_SECONDS
from community.services.tickets.signatures import TicketSigner, ticket_signer
from tests.helpers.web import TEST_PASSWORD, take_jobs

Client = AsyncTestClient[Litestar]


def _signer(settings: Settings) -> TicketSigner:
    return ticket_signer(settings.secret_key)


async def test_door_needs_a_signed_in_user(client: Client) -> None:
    page = await client.get("/door", follow_redirects=False)
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
    api = await client.get("/door/api/key")
    assert api.status_code == 401 and api.json()["detail"]
    post = await client.post(
        f"/door/api/events/{uuid4()}/checkins", json={"device": "Door 1", "token": "x"}
    )
    assert post.status_code == 401


async def test_event_list_and_door_page(door_client: Client, db_session: AsyncSession) -> None:
    event = await make_event(db_session, title="Door Page Night")
    await add_people(db_session, event, ["Ann One", "Ben Two"])
    listing = await door_client.get("/door")
    assert listing.status_code == 200
    assert "Door Page Night" in listing.text and f"/door/events/{event.id}" in listing.text
    assert "of 2 checked in" in listing.text

    page = await door_client.get(f"/door/events/{event.id}")
    assert page.status_code == 200
    assert f'data-event-id="{event.id}"' in page.text
    assert "/static/door/door.js?v=" in page.text
    assert (await door_client.get(f"/door/events/{uuid4()}")).status_code == 404
    assert (await door_client.get("/door/events/not-an-id")).status_code == 404


async def test_service_worker_lists_assets_that_exist(door_client: Client) -> None:
    response = await door_client.get("/door/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assets = re.findall(r'"(/static/[^"]+)"', response.text.split("\n", 1)[0])
    assert "/static/door/vendor/jsQR.js" in " ".join(assets)
    for url in assets:
        assert (await door_client.get(url)).status_code == 200, url


async def test_public_key_is_published(door_client: Client, settings: Settings) -> None:
    response = await door_client.get("/door/api/key")
    assert response.status_code == 200
    assert response.json() == _signer(settings).public_info()


async def test_scan_then_rescan_then_forgery(
    door_client: Client, db_session: AsyncSession, settings: Settings
) -> None:
    event = await make_event(db_session)
    ada = await add_person(db_session, event, "Ada Lovelace", channel="luma")
    url = f"/door/api/events/{event.id}/checkins"
    token = _signer(settings).sign(event.id, ada.registration_id)

    first = await door_client.post(url, json={"device": "Door 1", "token": token})
    assert first.status_code == 200
    body = first.json()
    assert (body["result"], body["tone"]) == ("ok", "green")
    assert body["attendee"]["name"] == "Ada Lovelace" and body["attendee"]["channel"] == "luma"

    second = (await door_client.post(url, json={"device": "Door 2", "token": token})).json()
    assert (second["result"], second["tone"]) == ("duplicate", "amber")
    assert second["attendee"]["checked_in_by"] == "Door 1"
    assert second["attendee"]["checked_in_at"] == body["attendee"]["checked_in_at"]

    forged = TicketSigner("a different secret key for forging " * 2).sign(
        event.id, ada.registration_id
    )
    third = (await door_client.post(url, json={"device": "Door 2", "token": forged})).json()
    assert (third["result"], third["tone"], third["attendee"]) == ("forged", "red", None)

    log = await db_session.scalars(select(CheckinLog.result).where(CheckinLog.event_id == event.id))
    assert sorted(log) == ["duplicate", "forged", "ok"]


async def test_platform_check_ins_are_handed_back_in_one_job(
    door_client: Client, settings: Settings, redis: Redis, db_session: AsyncSession
) -> None:
    event = await make_event(db_session)
    bo = await add_person(db_session, event, "Bo Meetup", channel="meetup")
    cy = await add_person(db_session, event, "Cy Luma", channel="luma", seat=2)
    na = await add_person(db_session, event, "Na Native", seat=3)
    url = f"/door/api/events/{event.id}/checkins"
    for person in (bo, na, cy, bo):
        response = await door_client.post(
            url, json={"device": "Door 1", "registration_id": str(person.registration_id)}
        )
        assert response.json()["result"] in ("ok", "duplicate")
    # Gathered for a moment, then queued as one job; native guests have nothing to tell.
    await asyncio.sleep(GATHER_SECONDS + 0.3)
    jobs = await take_jobs(settings, redis, "default")
    assert jobs == [
        (
            "pass_checkins_back",
            {"registration_ids": [str(bo.registration_id), str(cy.registration_id)]},
        )
    ]


async def test_bad_input_is_a_clear_4xx(door_client: Client, db_session: AsyncSession) -> None:
    event = await make_event(db_session)
    url = f"/door/api/events/{event.id}/checkins"
    cases = [
        ({"device": "Door 1"}, 400),  # neither token nor registration
        ({"device": "", "token": "abc"}, 400),
        ({"device": "D" * 61, "token": "abc"}, 400),
        ({"device": "Door 1", "token": "A" * 513}, 400),
        ({"device": "Door 1", "registration_id": "not-a-uuid"}, 400),
        ({"device": "Door 1", "token": "abc", "admit": True}, 400),
        ([1, 2, 3], 400),
    ]
    for body, status in cases:
        response = await door_client.post(url, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["detail"]
    not_json = await door_client.post(
        url, content=b"device=Door", headers={"content-type": "text/plain"}
    )
    assert not_json.status_code == 415
    broken = await door_client.post(url, content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    missing = await door_client.post(
        f"/door/api/events/{uuid4()}/checkins", json={"device": "Door 1", "token": "abc"}
    )
    assert missing.status_code == 404
    assert (await door_client.get(f"/door/api/events/{event.id}/search?q=a")).status_code == 400
    since = await door_client.get(f"/door/api/events/{event.id}/roster?since=yesterday")
    assert since.status_code == 400


async def test_sync_applies_queued_ops_and_reports_reconciliation(
    door_client: Client, db_session: AsyncSession, settings: Settings
) -> None:
    event = await make_event(db_session)
    ada, bo = await add_people(db_session, event, ["Ada Lovelace", "Bo Brown"])
    token = _signer(settings).sign(event.id, ada.registration_id)
    url = f"/door/api/events/{event.id}/sync"
    now = datetime.now(UTC)

    # Door 2 was online and checked Ada in just now...
    await door_client.post(
        f"/door/api/events/{event.id}/checkins", json={"device": "Door 2", "token": token}
    )
    # ...Door 1 scanned her offline five minutes ago, then checked Bo in and undid it.
    ops = [
        {"op_id": str(uuid4()), "scanned_at": (now - timedelta(minutes=5)).isoformat(),
         "token": token},
        {"op_id": str(uuid4()), "scanned_at": (now - timedelta(minutes=4)).isoformat(),
         "registration_id": str(bo.registration_id)},
        {"op_id": str(uuid4()), "scanned_at": (now - timedelta(minutes=3)).isoformat(),
         "kind": "undo", "registration_id": str(bo.registration_id)},
    ]  # fmt: skip
    response = await door_client.post(url, json={"device": "Door 1", "ops": ops})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["ok", "ok", "undone"]
    assert results[0]["superseded"]["by"] == "Door 2"
    assert response.json()["counts"] == {"checked_in": 1, "expected": 2}

    # Sending the same queue again (the answer was lost) changes nothing.
    again = (await door_client.post(url, json={"device": "Door 1", "ops": ops})).json()
    assert [r["replayed"] for r in again["results"]] == [True, True, True]
    registration = await db_session.get(Registration, ada.registration_id)
    assert registration is not None and registration.checked_in_by == "Door 1"

    too_many = [{**ops[1], "op_id": str(uuid4())} for _ in range(501)]
    assert (await door_client.post(url, json={"device": "D", "ops": too_many})).status_code == 400
    no_target = [{"op_id": str(uuid4()), "scanned_at": now.isoformat(), "kind": "undo"}]
    assert (await door_client.post(url, json={"device": "D", "ops": no_target})).status_code == 400


async def test_roster_search_counts_and_undo(
    organiser_client: Client, organiser: User, db_session: AsyncSession, settings: Settings
) -> None:
    # An organiser at the door of their own event: the roster carries e-mail addresses.
    event = await make_event(db_session, timezone="America/New_York", owner_id=organiser.id)
    people = await add_people(db_session, event, ["Grace Hopper", "Alan Turing", "Ada Byron"])
    base = f"/door/api/events/{event.id}"

    roster = (await organiser_client.get(f"{base}/roster")).json()
    assert roster["full"] is True and roster["event"]["timezone"] == "America/New_York"
    assert roster["key"] == _signer(settings).public_info()
    rows = {row[0]: dict(zip(roster["fields"], row, strict=True)) for row in roster["people"]}
    assert rows[str(people[0].registration_id)]["email"] == people[0].email
    assert roster["counts"] == {"checked_in": 0, "expected": 3}

    await organiser_client.post(
        f"{base}/checkins",
        json={"device": "Front", "registration_id": str(people[1].registration_id)},
    )
    changed = (
        await organiser_client.get(f"{base}/roster", params={"since": roster["generated_at"]})
    ).json()
    assert changed["full"] is False
    assert [row[1] for row in changed["people"]] == ["Alan Turing"]
    assert (await organiser_client.get(f"{base}/counts")).json() == {
        "checked_in": 1,
        "expected": 3,
    }

    found = (await organiser_client.get(f"{base}/search", params={"q": "ada"})).json()
    assert [row[1] for row in found["people"]] == ["Ada Byron"]

    undo = await organiser_client.post(
        f"{base}/undo", json={"device": "Front", "registration_id": str(people[1].registration_id)}
    )
    assert undo.json()["result"] == "undone"
    assert (await organiser_client.get(f"{base}/counts")).json()["checked_in"] == 0


def test_every_door_api_handler_signs_the_door_in() -> None:
    # The API checks the user in a dependency rather than a guard (see provide_door_user):
    # a handler that forgot to ask for it would be open to anyone.
    from community.controllers.door import DoorApiController

    handlers = [
        value
        for value in vars(DoorApiController).values()
        if hasattr(value, "fn") and hasattr(value, "http_methods")
    ]
    assert len(handlers) == 7
    for handler in handlers:
        assert "door_user" in handler.fn.__code__.co_varnames, handler.fn.__name__


async def test_a_disabled_door_account_is_refused_at_once(
    door_client: Client, door_user: User, db_session: AsyncSession
) -> None:
    assert (await door_client.get("/door/api/key")).status_code == 200
    door_user.is_active = False
    await db_session.commit()
    assert (await door_client.get("/door/api/key")).status_code == 401


async def test_fifty_doors_posting_one_ticket_at_once_over_http(
    live_server: str, door_user: User, db_session: AsyncSession, settings: Settings
) -> None:
    event = await make_event(db_session)
    ada = await add_person(db_session, event, "Ada Lovelace")
    token = _signer(settings).sign(event.id, ada.registration_id)
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=live_server, limits=limits, timeout=30) as http:
        await http.get("/login")
        signed_in = await http.post(
            "/login",
            data={"email": door_user.email, "password": TEST_PASSWORD},
            headers={"x-csrftoken": http.cookies.get("csrftoken") or ""},
        )
        assert signed_in.status_code == 303
        url = f"/door/api/events/{event.id}/checkins"
        responses = await asyncio.gather(
            *(http.post(url, json={"device": f"Door {i}", "token": token}) for i in range(50))
        )
    results = [response.json()["result"] for response in responses]
    assert results.count("ok") == 1 and results.count("duplicate") == 49
    winner = next(
        r.json()["attendee"]["checked_in_by"] for r in responses if r.json()["result"] == "ok"
    )
    assert all(r.json()["attendee"]["checked_in_by"] == winner for r in responses)
