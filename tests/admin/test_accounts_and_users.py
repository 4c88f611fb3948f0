"""Accounts: sign-in throttling, the owner's users page with one-time links, and platform
connections with their secrets encrypted at rest."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import PlatformCredentials, Settings
from community.models import PlatformAccount, User
from community.platforms.factory import make_client
from community.services.access.login_throttle import Throttle
from community.services.access.users import UserService
from community.services.mirror.platform_accounts import token_provider
from community.services.mirror.token_crypto import SecretUnreadable, decrypt, encrypt
from tests.helpers.admin import LiveClient, serve
from tests.helpers.web import TEST_PASSWORD, csrf_token

Client = AsyncTestClient[Litestar]


async def post(client: Client, url: str, data: dict[str, str], **kw: Any) -> Any:
    token = await csrf_token(client)
    return await client.post(url, data=data, headers={"x-csrftoken": token}, **kw)


# --- sign-in throttle --------------------------------------------------------------------------


async def test_failed_sign_ins_are_rate_limited(client: Client, organiser: User) -> None:
    for _ in range(5):
        response = await post(client, "/login", {"email": organiser.email, "password": "wrong!"})
        assert response.status_code == 400
    blocked = await post(client, "/login", {"email": organiser.email, "password": TEST_PASSWORD})
    # Even the right password waits: otherwise the lock would tell a guesser when they hit.
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0


async def test_throttle_counts_per_account_and_per_address(redis: Redis, settings: Settings):
    throttle = Throttle(redis, settings.redis_prefix, max_per_account=2, max_per_address=3)
    await throttle.failed("a@example.com", "10.0.0.1")
    assert await throttle.retry_after("a@example.com", "10.0.0.1") == 0
    await throttle.failed("A@Example.com ", "10.0.0.1")  # the same account, spelt differently
    assert await throttle.retry_after("a@example.com", "10.0.0.1") > 0
    assert await throttle.retry_after("a@example.com", "10.0.0.2") == 0  # other address
    await throttle.failed("b@example.com", "10.0.0.1")
    assert await throttle.retry_after("c@example.com", "10.0.0.1") > 0  # spraying accounts
    await throttle.succeeded("a@example.com", "10.0.0.2")
    keys = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}login:*")]
    assert keys and not any(b"example" in k for k in keys)  # no addresses in Redis


# --- the owner's users page ----------------------------------------------------------------


async def test_invite_link_sets_a_password_once(
    owner_client: Client, db_session: AsyncSession
) -> None:
    response = await post(
        owner_client,
        "/admin/users",
        {"name": "Door Dana", "email": "Dana@Example.com", "role": "door"},
    )
    assert response.status_code == 201
    link = re.search(r'value="(http[^"]+/welcome/[^"]+)"', response.text)
    assert link, response.text
    path = "/welcome/" + link[1].rsplit("/welcome/", 1)[1]
    user = await db_session.scalar(select(User).where(User.email == "dana@example.com"))
    assert user is not None and user.role == "door"

    visitor = owner_client
    await post(visitor, "/logout", {})  # the link works for whoever holds it, signed in or not
    form = await visitor.get(path)
    assert form.status_code == 200 and "Welcome, Door Dana" in form.text
    short = await post(visitor, path, {"password": "short", "password_again": "short"})
    assert short.status_code == 422 and "at least 10 characters" in short.text
    mismatch = await post(
        visitor, path, {"password": "a fine password", "password_again": "another one!"}
    )
    assert mismatch.status_code == 422 and "not the same" in mismatch.text
    done = await post(
        visitor,
        path,
        {"password": "a fine password", "password_again": "a fine password"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/door"
    used = await visitor.get(path)
    assert used.status_code == 410 and "no longer works" in used.text


async def test_invite_errors_are_shown_in_place(owner_client: Client, organiser: User) -> None:
    taken = await post(owner_client, "/admin/users", {"name": "X", "email": organiser.email})
    assert taken.status_code == 422 and "already exists" in taken.text
    bad = await post(owner_client, "/admin/users", {"name": "X", "email": "not-an-email"})
    assert bad.status_code == 422 and "valid e-mail" in bad.text
    role = await post(
        owner_client, "/admin/users", {"name": "X", "email": "x@example.com", "role": "admin"}
    )
    assert role.status_code == 422 and "Role must be" in role.text


async def test_disable_and_enable(
    owner_client: Client, owner: User, organiser: User, db_session: AsyncSession
) -> None:
    await post(owner_client, f"/admin/users/{organiser.id}/disable", {})
    await db_session.refresh(organiser)
    assert organiser.is_active is False
    assert (
        await UserService(session=db_session).authenticate(organiser.email, TEST_PASSWORD) is None
    )
    myself = await post(owner_client, f"/admin/users/{owner.id}/disable", {})
    assert "cannot disable your own account" in myself.text
    await post(owner_client, f"/admin/users/{organiser.id}/enable", {})
    await db_session.refresh(organiser)
    assert organiser.is_active is True


async def test_organisers_cannot_open_the_users_page(organiser_client: Client) -> None:
    assert (await organiser_client.get("/admin/users")).status_code == 403
    page = await organiser_client.get("/admin/events")
    assert 'href="/admin/users"' not in page.text  # not even offered in the navigation


# --- platform accounts ---------------------------------------------------------------------


def test_secrets_round_trip_and_refuse_another_key() -> None:
    key = "k" * 40
    stored = encrypt(key, "tok_abc")
    assert stored and "tok_abc" not in stored
    assert decrypt(key, stored) == "tok_abc"
    assert encrypt(key, "") == "" and decrypt(key, "") == ""
    with pytest.raises(SecretUnreadable):
        decrypt("z" * 40, stored)


async def test_luma_key_is_checked_then_stored_encrypted(
    organiser: User, rig: Any, live_client: LiveClient, db_session: AsyncSession
) -> None:
    api_key = rig.sandboxes["luma"].credentials["api_key"]
    await live_client.sign_in(organiser)
    wrong = await live_client.form("/admin/accounts/luma/key", {"secret": "not-the-key"})
    assert wrong.status_code == 422 and "Luma" in wrong.text and "field-error" in wrong.text
    spaced = await live_client.form("/admin/accounts/luma/key", {"secret": "two words"})
    assert spaced.status_code == 422 and "spaces" in spaced.text
    ok = await live_client.form(
        "/admin/accounts/luma/key", {"secret": api_key}, follow_redirects=True
    )
    assert ok.status_code == 200 and "Luma is connected as" in ok.text
    account = await db_session.scalar(
        select(PlatformAccount).where(PlatformAccount.user_id == organiser.id)
    )
    assert account is not None and api_key not in account.api_key_enc
    assert decrypt(rig.settings.secret_key, account.api_key_enc) == api_key
    gone = await live_client.form("/admin/accounts/luma/disconnect", {}, follow_redirects=True)
    assert "disconnected and its keys are deleted" in gone.text
    await db_session.refresh(account)
    assert account.api_key_enc == "" and account.disconnected_at is not None


async def test_meetup_oauth_round_trip(organiser: User, rig: Any, db_session: AsyncSession) -> None:
    meetup = rig.sandboxes["meetup"]
    creds = meetup.credentials
    settings = replace(
        rig.settings,
        meetup=PlatformCredentials(
            api_url=meetup.base_url,
            auth_url=meetup.base_url,
            client_id=creds["client_id"],
            client_secret=creds["client_secret"],
        ),
    )
    async with serve(settings) as base_url, LiveClient(base_url=base_url) as browser:
        await browser.sign_in(organiser)
        start = await browser.get("/admin/accounts/meetup/connect")
        assert start.status_code in (302, 303)
        authorize = start.headers["location"]
        assert authorize.startswith(meetup.base_url) and "state=" in authorize
        consent = await browser.get(authorize)  # the stand-in's consent page approves at once
        callback = consent.headers["location"]
        assert callback.startswith(f"{base_url}/admin/accounts/meetup/callback")
        forged = await browser.get(
            "/admin/accounts/meetup/callback?code=x&state=forged", follow_redirects=True
        )
        assert "did not start here" in forged.text
        # The forged attempt used up the stored state: start again and come back properly.
        start = await browser.get("/admin/accounts/meetup/connect")
        consent = await browser.get(start.headers["location"])
        done = await browser.get(consent.headers["location"], follow_redirects=True)
        assert "Meetup is connected as" in done.text
    account = await db_session.scalar(
        select(PlatformAccount).where(
            PlatformAccount.user_id == organiser.id, PlatformAccount.platform == "meetup"
        )
    )
    assert account is not None and account.access_token_enc and account.expires_at is not None
    assert creds["access_token"] not in account.access_token_enc


async def test_tokens_are_refreshed_before_they_expire(
    organiser: User, rig: Any, session_maker: Any
) -> None:
    meetup = rig.sandboxes["meetup"]
    creds = meetup.credentials
    settings = replace(
        rig.settings,
        meetup=PlatformCredentials(
            api_url=meetup.base_url,
            auth_url=meetup.base_url,
            client_id=creds["client_id"],
            client_secret=creds["client_secret"],
        ),
    )
    key = settings.secret_key
    async with session_maker() as session:
        account = PlatformAccount(
            user_id=organiser.id,
            platform="meetup",
            display_name="Sandbox organiser",
            access_token_enc=encrypt(key, creds["access_token"]),
            refresh_token_enc=encrypt(key, creds["refresh_token"]),
            # Two minutes left: inside the margin, so the next use renews first.
            expires_at=datetime.now(UTC) + timedelta(minutes=2),
        )
        session.add(account)
        await session.commit()
    provider = token_provider(settings, account, session_maker)
    token = await provider()
    assert token != creds["access_token"]
    client = make_client("meetup", meetup.base_url, provider)
    try:
        assert (await client.account()).name  # the renewed token works
    finally:
        await client.aclose()
    async with session_maker() as session:
        saved = await session.get(PlatformAccount, account.id)
    # Saved at once, encrypted: the old refresh token is spent and must never be used again.
    assert decrypt(key, saved.access_token_enc) == token
    assert decrypt(key, saved.refresh_token_enc) != creds["refresh_token"]
    assert saved.expires_at > datetime.now(UTC) + timedelta(minutes=30)
