"""The door API's own sign-in: a short-lived door token instead of the session on every scan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from community.auth import DOOR_TOKEN_HEADER, DoorTokens, door_tokens
from community.config import Settings
from community.db import (
    APPLICATION_NAME,
    RESERVED_CONNECTIONS,
    DatabaseUnavailable,
    driver_connection,
)
from community.demo.ledger_rows import add_people, make_event
from community.models import Role, User
from community.services.door import staff as door_staff
from community.services.tickets.signatures import ticket_signer
from tests.helpers.web import make_user

Client = AsyncTestClient[Litestar]


@asynccontextmanager
async def without_cookies(client: Client) -> AsyncIterator[Client]:
    """The same client with its cookies (the session) put aside for a while."""
    saved = httpx.Cookies(client.cookies)
    client.cookies.clear()
    try:
        yield client
    finally:
        client.cookies = saved


@pytest.fixture(autouse=True)
def _no_remembered_staff() -> None:
    door_staff.forget_cached_staff()


async def _token(door_client: Client) -> str:
    response = await door_client.get("/door/token", headers={"accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert 60 <= body["expires_in"] <= 3600
    return str(body["token"])


def test_tokens_say_who_and_until_when_and_nothing_else_passes() -> None:
    tokens = DoorTokens("a secret key of this installation " * 2)
    user_id = uuid4()
    token = tokens.issue(user_id, "door", seconds=60, now=1_000_000)
    claim = tokens.verify(token, now=1_000_030)
    assert claim is not None and (claim.user_id, claim.role) == (user_id, "door")
    assert tokens.verify(token, now=1_000_060) is None  # expired
    assert DoorTokens("another installation's key " * 2).verify(token, now=1_000_030) is None
    body, _, mac = token.rpartition(".")
    organiser = body.replace(".door.", ".organiser.")
    for forged in (f"{organiser}.{mac}", token[:-1] + ("A" if token[-1] != "A" else "B"), ""):
        assert tokens.verify(forged, now=1_000_030) is None
    for garbage in ("x", "a.b.c.d.e", "v1..door.1.", "é" * 50, "v1." * 100):
        assert tokens.verify(garbage, now=1_000_030) is None


async def test_the_api_takes_a_door_token_without_the_session(
    door_client: Client, db_session: AsyncSession, settings: Settings
) -> None:
    event = await make_event(db_session)
    (ada,) = await add_people(db_session, event, ["Ada Lovelace"])
    token = await _token(door_client)
    headers = {DOOR_TOKEN_HEADER: token}

    async with without_cookies(door_client) as bare:
        assert (await bare.get("/door/api/key")).status_code == 401
        key = await bare.get("/door/api/key", headers=headers)
        assert key.status_code == 200
        ticket = ticket_signer(settings.secret_key).sign(event.id, ada.registration_id)
        scan = await bare.post(
            f"/door/api/events/{event.id}/checkins",
            json={"device": "Door 1", "token": ticket},
            headers=headers,
        )
        assert scan.status_code == 200 and scan.json()["result"] == "ok"
        # The API neither reads nor writes the session: no cookie comes back.
        assert "set-cookie" not in scan.headers and "set-cookie" not in key.headers

        for bad in (token[:-2], token.replace(".door.", ".owner."), "v1.nonsense"):
            refused = await bare.get("/door/api/key", headers={DOOR_TOKEN_HEADER: bad})
            assert refused.status_code == 401 and refused.json()["detail"]
    signed_in = await door_client.get("/door/api/key")  # the session cookie alone still works
    assert signed_in.status_code == 200


async def test_an_expired_token_is_refused(
    client: Client, door_user: User, settings: Settings
) -> None:
    old = door_tokens(settings.secret_key).issue(door_user.id, door_user.role, seconds=-1)
    response = await client.get("/door/api/key", headers={DOOR_TOKEN_HEADER: old})
    assert response.status_code == 401


async def test_a_disabled_account_is_refused_within_the_cache_bound(
    door_client: Client, door_user: User, db_session: AsyncSession
) -> None:
    headers = {DOOR_TOKEN_HEADER: await _token(door_client)}
    async with without_cookies(door_client) as bare:
        assert (await bare.get("/door/api/key", headers=headers)).status_code == 200
        door_user.is_active = False
        await db_session.commit()
        # Each process re-reads a token's user at most every STAFF_CACHE_SECONDS...
        assert door_staff.STAFF_CACHE_SECONDS <= 10
        door_staff.forget_cached_staff()  # ...which is what those seconds passing amounts to.
        assert (await bare.get("/door/api/key", headers=headers)).status_code == 401
    # A new token is not given out either, and the session cookie is refused at once.
    assert (await door_client.get("/door/token", follow_redirects=False)).status_code in (302, 303)
    assert (await door_client.get("/door/api/key")).status_code == 401


async def test_door_roles_pass_and_strangers_do_not(
    client: Client, db_session: AsyncSession, settings: Settings
) -> None:
    for role in (Role.DOOR, Role.ORGANISER, Role.OWNER):
        user = await make_user(db_session, role)
        token = door_tokens(settings.secret_key).issue(user.id, user.role)
        response = await client.get("/door/api/key", headers={DOOR_TOKEN_HEADER: token})
        assert response.status_code == 200, role
    # A token for someone who is not (or no longer) a user at all.
    stranger = door_tokens(settings.secret_key).issue(uuid4(), "door")
    response = await client.get("/door/api/key", headers={DOOR_TOKEN_HEADER: stranger})
    assert response.status_code == 401


async def _kill_app_connections(db_session: AsyncSession) -> int:
    """Terminate the PostgreSQL backends of the app's pooled connections (not the test's)."""
    killed = await db_session.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = :name"
        ),
        {"name": APPLICATION_NAME},
    )
    await db_session.commit()
    return len(killed.all())


async def test_a_lost_connection_is_one_503_then_the_pool_recovers(
    door_client: Client, db_session: AsyncSession, settings: Settings
) -> None:
    event = await make_event(db_session)
    people = await add_people(db_session, event, ["Ada Lovelace", "Bo Brown"])
    url = f"/door/api/events/{event.id}/checkins"
    signer = ticket_signer(settings.secret_key)

    warm = await door_client.get(f"/door/api/events/{event.id}/counts")
    assert warm.status_code == 200
    assert await _kill_app_connections(db_session) >= 1
    body = {"device": "Door 1", "token": signer.sign(event.id, people[0].registration_id)}
    lost = await door_client.post(url, json=body)
    assert lost.status_code == 503 and lost.json()["detail"]
    again = await door_client.post(url, json=body)
    assert again.status_code == 200 and again.json()["result"] == "ok"

    # The same on an endpoint that goes through SQLAlchemy's session.
    assert await _kill_app_connections(db_session) >= 1
    counts = f"/door/api/events/{event.id}/counts"
    statuses = [(await door_client.get(counts)).status_code for _ in range(3)]
    assert statuses[0] == 503 and statuses[1:] == [200, 200]


async def test_driver_connection_turns_a_lost_connection_into_database_unavailable(
    settings: Settings, db_session: AsyncSession
) -> None:
    engine = create_async_engine(settings.database_url or "", pool_size=2)
    try:
        async with driver_connection(engine) as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        await db_session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await db_session.commit()
        with pytest.raises(DatabaseUnavailable):
            async with driver_connection(engine) as conn:
                await conn.fetchval("SELECT 1")
        async with driver_connection(engine) as conn:
            assert await conn.fetchval("SELECT 1") == 1
        # Errors that are not about the connection pass through unchanged.
        with pytest.raises(ZeroDivisionError):
            async with driver_connection(engine) as conn:
                await conn.fetchval("SELECT 1")
                raise ZeroDivisionError
    finally:
        await engine.dispose()


async def test_the_hot_path_stays_within_the_pool(settings: Settings) -> None:
    """Past the pool's size, SQLAlchemy would open overflow connections and close them again
    at once; the door's statements wait for a pooled one instead, and leave some for others."""
    engine = create_async_engine(settings.database_url or "", pool_size=6, max_overflow=10)
    held = most = 0

    async def scan() -> None:
        nonlocal held, most
        async with driver_connection(engine) as conn:
            held += 1
            most = max(most, held)
            await conn.execute("SELECT pg_sleep(0.02)")
            held -= 1

    try:
        await asyncio.gather(*(scan() for _ in range(12)))
        assert most == 6 - RESERVED_CONNECTIONS
        assert engine.sync_engine.pool.checkedin() == most  # none was opened and closed
    finally:
        await engine.dispose()
