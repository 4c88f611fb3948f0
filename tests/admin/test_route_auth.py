"""Every admin and door route refuses anonymous visitors and the wrong roles.

The routes come from the application's own route table, so a handler added tomorrow is
checked tomorrow without editing this file. A route must carry a role guard (or a dependency
that checks the role, as the door API does for speed), and each one is called for real:
anonymous (sent to sign in, or 401 for htmx/JSON), then as each role it leaves out (403).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Event, Listing, Registration, Role, SyncLog
from tests.helpers.web import csrf_token, login, make_user

GUARDED_PREFIXES = ("/admin", "/door")
# Served to anyone on purpose: the door's service worker script must load before sign-in.
PUBLIC = {("GET", "/door/sw.js")}
JSON_PREFIX = "/door/api/"
SAMPLE = {uuid.UUID: str(uuid.uuid4()), int: "1", str: "meetup"}


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    path: str
    roles: frozenset[Role]  # roles the guards let through


def _role_providers() -> dict[Any, frozenset[Role]]:
    """Dependencies that sign a user in and check the role themselves (instead of a guard)."""
    from community.controllers import door

    return {door.provide_door_user: frozenset(door.DOOR_ROLES)}


def _roles(handler: Any) -> frozenset[Role] | None:
    """The roles a handler lets through: its guards' and its role-checking dependencies'."""
    found = [getattr(guard, "roles", None) for guard in handler.resolve_guards()]
    providers = _role_providers()
    used = handler.parsed_fn_signature.parameters
    for name, provide in handler.resolve_dependencies().items():
        if name in used and provide.dependency in providers:
            found.append(providers[provide.dependency])
    allowed: set[Role] | None = None
    for roles in found:
        if roles is not None:
            allowed = set(roles) if allowed is None else allowed & set(roles)
    return None if allowed is None else frozenset(allowed)


def endpoints(app: Litestar) -> Iterator[Endpoint]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(GUARDED_PREFIXES):
            continue
        path = route.path_format.format(
            **{name: SAMPLE[p.type] for name, p in route.path_parameters.items()}
        )
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                if (method, route.path) in PUBLIC:
                    continue
                roles = _roles(handler)
                assert roles is not None, f"{method} {route.path} has no role guard"
                yield Endpoint(method, route.path, path, roles)


def test_the_route_table_has_admin_and_door_routes(app: Litestar) -> None:
    found = list(endpoints(app))
    templates = {e.template for e in found}
    # A broken walk would prove nothing: make sure the pages we know of are in it.
    for expected in (
        "/admin/events",
        "/admin/events/{event_id:uuid}/inventory",
        "/admin/events/{event_id:uuid}/attendees.csv",
        "/admin/members/{member_id:uuid}/merge",
        "/admin/users",
        "/admin/accounts/{platform:str}/connect",
        "/door",
    ):
        assert expected in templates, expected
    assert len(found) > 30
    owner_only = {e.template for e in found if e.roles == {Role.OWNER}}
    assert "/admin/users" in owner_only


async def _call(client: AsyncTestClient[Litestar], endpoint: Endpoint, **headers: str) -> Any:
    token = await csrf_token(client)
    body: dict[str, Any] = {}
    if endpoint.method in ("POST", "PUT", "PATCH"):
        # What each kind of endpoint accepts, so a refusal comes from auth, not the body type.
        body = {"json": {}} if endpoint.path.startswith(JSON_PREFIX) else {"data": {}}
    return await client.request(
        endpoint.method,
        endpoint.path,
        headers={"x-csrftoken": token, **headers},
        follow_redirects=False,
        **body,
    )


async def test_anonymous_visitors_are_sent_to_sign_in(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    refused = []
    for endpoint in endpoints(app):
        response = await _call(client, endpoint)
        location = response.headers.get("location", "")
        ok = response.status_code == 401 or (
            response.status_code in (302, 303) and location.startswith("/login")
        )
        if not ok:
            refused.append((endpoint.method, endpoint.path, response.status_code))
        # An htmx fragment request gets 401, and pages tell htmx where to sign in.
        htmx = await _call(client, endpoint, **{"hx-request": "true"})
        sign_in = htmx.headers.get("hx-redirect", "").startswith("/login")
        if htmx.status_code != 401 or not (sign_in or endpoint.path.startswith(JSON_PREFIX)):
            refused.append((endpoint.method, endpoint.path, "htmx", htmx.status_code))
    assert not refused, refused


@pytest.mark.parametrize("role", [Role.DOOR, Role.ORGANISER])
async def test_wrong_roles_get_403(
    role: Role, app: Litestar, client: AsyncTestClient[Litestar], db_session: AsyncSession
) -> None:
    user = await make_user(db_session, role)
    await login(client, user)
    checked = 0
    wrong = []
    for endpoint in endpoints(app):
        if role in endpoint.roles:
            continue
        checked += 1
        response = await _call(client, endpoint)
        if response.status_code != 403:
            wrong.append((endpoint.method, endpoint.path, response.status_code))
    assert checked, f"no route refuses {role}: the walk found nothing to test"
    assert not wrong, wrong


async def test_a_disabled_account_is_refused_at_once(
    app: Litestar, client: AsyncTestClient[Litestar], db_session: AsyncSession
) -> None:
    user = await make_user(db_session, Role.OWNER)
    await login(client, user)
    assert (await client.get("/admin/events")).status_code == 200
    user.is_active = False
    await db_session.commit()
    response = await client.get("/admin/events", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/login")


# --- scope: an organiser reaches only the events they manage --------------------------------

SCOPED_PARAMS = ("event_id", "member_id", "registration_id", "listing_id")


async def test_organisers_reach_only_the_events_they_manage(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    db_session: AsyncSession,
    organiser: Any,
    make_event: Any,
    register: Any,
) -> None:
    """Every admin route that names an event, a member, a registration or a listing answers
    404 to an organiser who does not manage it (nothing is changed), and the lists leave it
    out; its own organiser and the owner reach it."""

    event = await make_event(title="Alice's private evening")  # managed by `organiser`
    reg = await register(event, "Robin Private", "robin.private@example.com")
    registration = await db_session.get(Registration, reg.registration_id)
    assert registration is not None
    listing = Listing(event_id=event.id, platform="meetup", external_id="scope-1")
    db_session.add(listing)
    db_session.add(
        SyncLog(event_id=event.id, platform="meetup", direction="push", action="limit",
                outcome="ok", detail="Secret detail of Alice's event")
    )  # fmt: skip
    await db_session.commit()
    ids = {
        "event_id": str(event.id),
        "member_id": str(registration.member_id),
        "registration_id": str(registration.id),
        "listing_id": str(listing.id),
    }

    stranger = await make_user(db_session, Role.ORGANISER)
    await login(client, stranger)
    reached = []
    walked = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/admin"):
            continue
        names = set(route.path_parameters)
        if not names & set(SCOPED_PARAMS) or not names <= set(SCOPED_PARAMS):
            continue
        path = route.path_format.format(**{name: ids[name] for name in names})
        for handler in route.route_handlers:
            roles = _roles(handler)
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                if roles is None or Role.ORGANISER not in roles:
                    continue
                walked += 1
                response = await _call(client, Endpoint(method, route.path, path, roles))
                if response.status_code != 404:
                    reached.append((method, route.path, response.status_code))
    assert walked > 15, walked
    assert not reached, reached

    # The lists leave the event, its people and its log out.
    for page, secret in (
        ("/admin/events", "Alice&#39;s private evening"),
        ("/admin/events?show=drafts", "Alice"),
        ("/admin/members", "Robin Private"),
        ("/admin/members?q=robin", "Robin Private"),
        ("/admin/activity", "Secret detail"),
    ):
        body = (await client.get(page)).text
        assert secret not in body and "Alice's private evening" not in body, page
    saved = await db_session.get(Event, event.id, populate_existing=True)
    assert saved is not None and saved.status == "published"
    assert saved.title == "Alice's private evening"
    await db_session.refresh(registration)
    assert registration.status == "confirmed"

    # Its own organiser reaches all of it.
    await login(client, organiser)
    assert (await client.get(f"/admin/events/{event.id}")).status_code == 200
    assert "Alice&#39;s private evening" in (await client.get("/admin/events")).text
    assert "Robin Private" in (await client.get("/admin/members")).text
    assert (await client.get(f"/admin/members/{registration.member_id}")).status_code == 200
    csv = await client.get(f"/admin/events/{event.id}/attendees.csv")
    assert "robin.private@example.com" in csv.text
    assert "Secret detail" in (await client.get("/admin/activity")).text


async def test_the_owner_sees_everything_and_hands_an_event_over(
    client: AsyncTestClient[Litestar],
    db_session: AsyncSession,
    make_event: Any,
) -> None:

    unowned = await make_event(title="Nobody's evening", owner=None)
    owner = await make_user(db_session, Role.OWNER)
    colleague = await make_user(db_session, Role.ORGANISER)
    await login(client, owner)
    assert (await client.get(f"/admin/events/{unowned.id}")).status_code == 200
    assert "Outbox" in (await client.get("/admin/events")).text
    handed = await client.post(
        f"/admin/events/{unowned.id}/owner",
        data={"owner_id": str(colleague.id)},
        headers={"x-csrftoken": await csrf_token(client)},
        follow_redirects=False,
    )
    assert handed.status_code in (302, 303)
    refreshed = await db_session.get(Event, unowned.id, populate_existing=True)
    assert refreshed is not None and refreshed.owner_id == colleague.id

    await login(client, colleague)
    assert (await client.get(f"/admin/events/{unowned.id}")).status_code == 200
    page = (await client.get("/admin/events")).text
    assert "Outbox" not in page  # the outbox (every e-mail sent) is the owner's
    assert (await client.get("/admin/outbox")).status_code == 403
