"""Health reporting, sign-in and sign-out over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from litestar import Litestar, Request, get
from litestar.testing import AsyncTestClient

from community.app import create_app
from community.auth import ORGANISERS
from community.config import Settings
from community.models import User
from tests.helpers.web import TEST_PASSWORD, csrf_token, login


async def test_healthz_is_503_when_redis_is_down(settings: Settings) -> None:
    broken = replace(settings, redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=create_app(broken)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("down")


async def test_login_page_renders_with_csrf_field(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/login")
    assert response.status_code == 200
    assert 'name="_csrf_token"' in response.text
    assert 'autocomplete="current-password"' in response.text


async def test_wrong_password_is_refused_in_place(
    client: AsyncTestClient[Litestar], organiser: User
) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={"email": organiser.email, "password": "not it at all"},
        headers={"x-csrftoken": token},
    )
    assert response.status_code == 400
    assert "do not match an active account" in response.text
    assert organiser.email in response.text  # the email stays filled in


async def test_post_without_csrf_token_is_403(
    client: AsyncTestClient[Litestar], organiser: User
) -> None:
    response = await client.post(
        "/login", data={"email": organiser.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/admin/events"])
async def test_login_redirects_only_to_local_paths(
    client: AsyncTestClient[Litestar], organiser: User, target: str
) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={"email": organiser.email, "password": TEST_PASSWORD, "next": target},
        headers={"x-csrftoken": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    expected = target if target == "/admin/events" else "/admin"
    assert response.headers["location"] == expected


async def test_door_staff_land_on_the_door_page(
    client: AsyncTestClient[Litestar], door_user: User
) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={"email": door_user.email, "password": TEST_PASSWORD},
        headers={"x-csrftoken": token},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/door"


@get("/whoami-test", guards=[ORGANISERS], sync_to_thread=False)
def whoami_test(request: Request[Any, Any, Any]) -> str:
    return request.state.user.email


@pytest.fixture
async def guarded_client(
    settings: Settings, redis: Any
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings, extra_handlers=[whoami_test])) as client:
        yield client


async def test_guard_lets_the_right_role_in_and_logout_ends_it(
    guarded_client: AsyncTestClient[Litestar], owner: User
) -> None:
    anonymous = await guarded_client.get("/whoami-test", follow_redirects=False)
    assert anonymous.status_code == 302
    assert anonymous.headers["location"] == "/login?next=/whoami-test"
    await login(guarded_client, owner)
    assert (await guarded_client.get("/whoami-test")).text == owner.email
    token = await csrf_token(guarded_client)
    response = await guarded_client.post(
        "/logout", headers={"x-csrftoken": token}, follow_redirects=False
    )
    assert response.status_code == 303
    after = await guarded_client.get("/whoami-test", follow_redirects=False)
    assert after.status_code == 302


async def test_guard_refuses_a_wrong_role_with_403(
    guarded_client: AsyncTestClient[Litestar], door_user: User
) -> None:
    await login(guarded_client, door_user)
    response = await guarded_client.get("/whoami-test")
    assert response.status_code == 403
    assert "cannot open this page" in response.text


async def test_unknown_page_is_a_friendly_404(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "Traceback" not in response.text


async def test_request_log_has_no_query_string_or_personal_data(
    client: AsyncTestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="community.access"):
        await client.get("/login?next=/admin&email=alice@example.com")
    lines = [r for r in caplog.records if r.name == "community.access"]
    assert lines, "one line per request"
    record = lines[-1]
    assert record.path == "/login"  # type: ignore[attr-defined]
    assert record.status == 200  # type: ignore[attr-defined]
    assert isinstance(record.ms, float)  # type: ignore[attr-defined]
    assert "alice" not in caplog.text
