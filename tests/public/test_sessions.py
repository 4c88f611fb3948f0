"""Sessions exist only for signed-in people, start under a new id, and end when they should."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from community.auth import DOOR_TOKEN_HEADER
from community.config import Settings
from community.models import User
from community.services.access import magic_links
from community.services.door import staff as door_staff
from community.sessions import CSRF_EXCLUDE, SESSION_EXCLUDE
from tests.helpers.public import MakeEvent, post_form
from tests.helpers.web import TEST_PASSWORD, csrf_token, login

Client = AsyncTestClient[Litestar]
ATTACKER_ID = "a" * 64  # a well-formed id the server never issued


async def redis_keys(redis: Redis, settings: Settings) -> set[bytes]:
    return {key async for key in redis.scan_iter(match=f"{settings.redis_prefix}*", count=500)}


@asynccontextmanager
async def other_browser(client: Client, **cookies: str) -> AsyncIterator[Client]:
    """The same test client as another browser: its own cookies for a while.

    (One app runs one test client: a second would run the app's lifespan on another loop.)
    """
    saved = httpx.Cookies(client.cookies)
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, value)
    try:
        yield client
    finally:
        client.cookies = saved


def session_cookie(response: object) -> str | None:
    """The value of the session cookie the response sets, if it sets one."""
    for header in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        if match := re.match(r"session=([^;]*)", header):
            return match[1]
    return None


async def test_anonymous_visits_write_no_session_and_no_redis_key(
    client: Client, make_event: MakeEvent, redis: Redis, settings: Settings
) -> None:
    event = await make_event()
    paths = [
        f"/events/{event.slug}",
        "/robots.txt",
        "/sitemap.xml",
        "/static/vendor/htmx.min.js",
        "/healthz",
        f"/api/events/{event.id}/counts",
        "/my-tickets",
        "/login",
    ]
    for path in paths:  # the event's seats load into Redis once
        assert (await client.get(path)).status_code == 200, path
    before = await redis_keys(redis, settings)
    for _ in range(3):
        async with other_browser(client) as visitor:
            for path in paths:
                response = await visitor.get(path)
                assert response.status_code == 200, path
                assert session_cookie(response) is None, path
            assert "session" not in visitor.cookies
    assert await redis_keys(redis, settings) == before

    # Registering, on the form or through the API, takes a seat but starts no session.
    async with other_browser(client) as visitor:
        for i, path in enumerate((f"/events/{event.slug}/register", None)):
            email = f"anon{i}@example.com"
            if path:
                answer = await post_form(visitor, path, {"name": "Anon", "email": email})
            else:
                answer = await visitor.post(
                    f"/api/events/{event.id}/registrations", json={"name": "Anon", "email": email}
                )
            assert answer.status_code in (200, 201, 303), answer.text
            assert session_cookie(answer) is None
        assert "session" not in visitor.cookies
    assert not [k for k in await redis_keys(redis, settings) if b":sessions:" in k]


async def test_a_session_id_the_server_never_issued_is_not_adopted_at_sign_in(
    client: Client, organiser: User, redis: Redis, settings: Settings
) -> None:
    client.cookies.set("session", ATTACKER_ID)
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={"email": organiser.email, "password": TEST_PASSWORD},
        headers={"x-csrftoken": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    issued = session_cookie(response)
    assert issued and issued != ATTACKER_ID
    assert not await redis.exists(f"{settings.redis_prefix}sessions:{ATTACKER_ID}")
    assert (await client.get("/admin/events", follow_redirects=False)).status_code == 200

    async with other_browser(client, session=ATTACKER_ID) as attacker:
        assert (await attacker.get("/admin/events", follow_redirects=False)).status_code != 200


async def test_every_sign_in_issues_a_new_id_and_ends_the_old_one(
    client: Client, organiser: User, settings: Settings
) -> None:
    await login(client, organiser)
    first = client.cookies.get("session")
    assert first
    # Signing in again (another account or the same) never keeps the id.
    await login(client, organiser)
    second = client.cookies.get("session")
    assert second and second != first
    async with other_browser(client, session=first) as stale:
        assert (await stale.get("/admin/events", follow_redirects=False)).status_code != 200

    # Gaining the "my tickets" identity is a privilege change: a new id, still signed in.
    link = magic_links.make_token(settings.secret_key, "some-member")
    confirmed = await post_form(client, f"/my-tickets/signin/{link}", {})
    assert confirmed.status_code == 303
    third = session_cookie(confirmed)
    assert third and third not in (first, second)
    assert (await client.get("/admin/events", follow_redirects=False)).status_code == 200
    async with other_browser(client, session=second) as stale:
        assert (await stale.get("/admin/events", follow_redirects=False)).status_code != 200


async def test_my_tickets_sign_in_ignores_a_chosen_id(
    client: Client, settings: Settings, redis: Redis
) -> None:
    client.cookies.set("session", ATTACKER_ID)
    link = magic_links.make_token(settings.secret_key, "some-member")
    confirmed = await post_form(client, f"/my-tickets/signin/{link}", {})
    assert confirmed.status_code == 303
    issued = session_cookie(confirmed)
    assert issued and issued != ATTACKER_ID
    assert not await redis.exists(f"{settings.redis_prefix}sessions:{ATTACKER_ID}")
    # Signing out of "my tickets" ends the session: its key goes, the cookie is cleared.
    out = await post_form(client, "/my-tickets/signout", {})
    assert out.status_code == 303 and session_cookie(out) == "null"
    assert not await redis.exists(f"{settings.redis_prefix}sessions:{issued}")


async def _reset_link(owner_client: Client, user: User) -> str:
    token = await csrf_token(owner_client)
    response = await owner_client.post(
        f"/admin/users/{user.id}/reset", headers={"x-csrftoken": token}
    )
    assert response.status_code == 200
    link = re.search(r'value="(http[^"]+/welcome/[^"]+)"', response.text)
    assert link, response.text
    return "/welcome/" + link[1].rsplit("/welcome/", 1)[1]


async def test_welcome_link_ignores_a_chosen_id_and_a_reset_ends_other_sessions(
    owner_client: Client, door_user: User
) -> None:
    path = await _reset_link(owner_client, door_user)
    async with other_browser(owner_client) as phone:  # signed in elsewhere before the reset
        await login(phone, door_user)
        assert (await phone.get("/door", follow_redirects=False)).status_code == 200
        door_token = (await phone.get("/door/token")).json()["token"]
        assert (await phone.get("/door/api/key")).status_code == 200
        phone_cookies = httpx.Cookies(phone.cookies)

    async with other_browser(owner_client, session=ATTACKER_ID) as holder:
        password = "a brand new password"
        done = await post_form(holder, path, {"password": password, "password_again": password})
        assert done.status_code == 303 and done.headers["location"] == "/door"
        issued = session_cookie(done)
        assert issued and issued != ATTACKER_ID
        assert (await holder.get("/door", follow_redirects=False)).status_code == 200

    async with other_browser(owner_client) as phone:
        phone.cookies = phone_cookies
        # The session from before the reset is over, on the pages and on the door API.
        assert (await phone.get("/door", follow_redirects=False)).status_code != 200
        assert (await phone.get("/door/api/key")).status_code == 401
        # Its door token too (each process re-reads a token's account every few seconds).
        door_staff.forget_cached_staff()
        phone.cookies.clear()
        refused = await phone.get("/door/api/key", headers={DOOR_TOKEN_HEADER: door_token})
        assert refused.status_code == 401


async def test_a_door_token_stops_working_at_sign_out(door_client: Client) -> None:
    door_staff.forget_cached_staff()
    headers = {DOOR_TOKEN_HEADER: (await door_client.get("/door/token")).json()["token"]}
    async with other_browser(door_client) as scanner:  # the token alone, no cookie
        assert (await scanner.get("/door/api/key", headers=headers)).status_code == 200
    out = await post_form(door_client, "/logout", {})
    assert out.status_code == 303 and session_cookie(out) == "null"
    async with other_browser(door_client) as scanner:
        assert (await scanner.get("/door/api/key", headers=headers)).status_code == 401


async def test_an_event_slug_that_looks_like_an_exempt_path_keeps_csrf(
    client: Client, make_event: MakeEvent
) -> None:
    event = await make_event(slug=f"healthz-party-{secrets.token_hex(3)}")
    path = f"/events/{event.slug}/register"
    # The public form is checked by where the post comes from (it carries no token: its page
    # is shared); a cross-site post stays refused whatever the slug looks like.
    cross_site = {"sec-fetch-site": "cross-site", "origin": "https://evil.example"}
    data = {"name": "Eve", "email": "eve@example.com"}
    response = await client.post(path, data=data, headers=cross_site)
    assert response.status_code == 403


async def test_exemptions_match_only_at_the_start_of_the_path(client: Client) -> None:
    """A token-protected form whose path merely contains an exempt word keeps its check."""
    for pattern in (*CSRF_EXCLUDE, *SESSION_EXCLUDE):
        assert pattern.startswith("^"), pattern
    exempt_csrf = re.compile("|".join(CSRF_EXCLUDE))
    assert exempt_csrf.search("/healthz") and exempt_csrf.search("/api/events/x/registrations")
    for path in ("/events/healthz-party/register", "/welcome/healthz", "/tickets/api/cancel"):
        assert not exempt_csrf.search(path), path
    # Through the app: no token, so refused before the handler looks at the link.
    response = await client.post("/welcome/healthz", data={"password": "x", "password_again": "x"})
    assert response.status_code == 403
