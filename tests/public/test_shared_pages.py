"""The shared event page: rendered once per version of the event and of its seats, the same
bytes for every anonymous visitor, and never for a visitor carrying something personal."""

from __future__ import annotations

import gzip
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.controllers.public_cache import PERSONAL_COOKIES
from community.models import Event
from community.services.events.page_versions import bump
from tests.helpers.public import MakeEvent

Client = AsyncTestClient[Litestar]


async def _anonymous(client: Client, path: str, **headers: str) -> Any:
    client.cookies.clear()  # nothing personal: no session, no registration of theirs
    return await client.get(path, headers=headers)


async def test_rendered_once_per_version_of_the_event_and_its_seats(
    app: Litestar,
    client: Client,
    make_event: MakeEvent,
    session_maker: Any,
    settings: Any,
    redis: Any,
) -> None:
    event = await make_event(capacity=50)
    path = f"/events/{event.slug}"
    first = await _anonymous(client, path)
    pages = app.state["shared_pages"]
    assert first.status_code == 200 and pages.renders == 1
    for _ in range(3):
        same = await _anonymous(client, path)
        assert same.text == first.text and same.headers["etag"] == first.headers["etag"]
    assert pages.renders == 1

    # A seat taken (through the API, as anyone would) is a new version...
    taken = await client.post(
        f"/api/events/{event.id}/registrations", json={"name": "Ada", "email": "ada@example.com"}
    )
    assert taken.status_code == 201
    seated = await _anonymous(client, path)
    assert pages.renders == 2 and "1 going" in seated.text
    # ...so is a seat change made by another process (a worker), which bumps the version...
    await bump(redis, settings.redis_prefix, event.id)
    await _anonymous(client, path)
    assert pages.renders == 3
    # ...and so is an organiser's edit.
    async with session_maker() as session, session.begin():
        row = await session.get(Event, event.id)
        row.title = "Renamed evening"
    edited = await _anonymous(client, path)
    assert pages.renders == 4 and "Renamed evening" in edited.text
    assert edited.headers["etag"] != seated.headers["etag"]


async def test_a_personal_visitor_skips_the_shared_copy(
    app: Litestar, client: Client, make_event: MakeEvent
) -> None:
    event = await make_event()
    path = f"/events/{event.slug}"
    shared = await _anonymous(client, path)
    assert shared.headers["cache-control"].startswith("public")
    renders = app.state["shared_pages"].renders
    for cookie in PERSONAL_COOKIES:
        client.cookies.clear()
        client.cookies.set(cookie, "someone")
        own = await client.get(path)
        assert own.status_code == 200
        assert own.headers["cache-control"].startswith("private"), cookie
    assert app.state["shared_pages"].renders == renders


async def test_compressed_once_and_carrying_no_token_or_cookie(
    client: Client, make_event: MakeEvent, session_maker: async_sessionmaker[AsyncSession]
) -> None:
    event = await make_event()
    path = f"/events/{event.slug}"
    plain = await _anonymous(client, path, **{"accept-encoding": "identity"})
    zipped = await _anonymous(client, path, **{"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert zipped.text == plain.text  # the client decompressed it
    assert int(zipped.headers["content-length"]) < len(gzip.compress(plain.content)) * 1.2
    assert 'name="_csrf_token" value="' not in plain.text.replace('value=""', "")
    assert "csrftoken" not in plain.headers.get("set-cookie", "")
    assert "Accept-Encoding" in plain.headers["vary"]
