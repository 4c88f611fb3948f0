"""OAuth2 code flow and refresh against the Meetup and Eventbrite stand-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from platform_helpers import BASE, new_client, new_sandbox

from community.platforms import NotSupported, PlatformAuthError
from community.platforms.oauth import OAuthClient, RefreshingToken, TokenSet, new_state
from community.sandbox.common import SandboxPlatform

REDIRECT = "http://dashboard.test/connect/callback"


def oauth_for(sandbox: SandboxPlatform, secret: str | None = None) -> OAuthClient:
    creds = sandbox.credentials()
    return OAuthClient(
        sandbox.name,
        BASE,
        creds["client_id"],
        secret or creds["client_secret"],
        REDIRECT,
        transport=httpx.ASGITransport(app=sandbox.app),
    )


async def authorize(sandbox: SandboxPlatform, oauth: OAuthClient, state: str) -> dict[str, str]:
    """Follow the authorize URL like a browser would; the stand-in approves at once."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app)) as browser:
        response = await browser.get(oauth.authorize_url(state))
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


@pytest.mark.parametrize(
    ("platform", "path"), [("meetup", "/oauth2/authorize"), ("eventbrite", "/oauth/authorize")]
)
def test_authorize_url_carries_client_redirect_and_state(platform: str, path: str) -> None:
    oauth = OAuthClient(platform, "https://auth.example", "key-1", "secret", REDIRECT)
    state = new_state()
    url = urlsplit(oauth.authorize_url(state))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == path
    assert query == {
        "client_id": "key-1",
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "state": state,
    }
    assert len(state) >= 32 and state != new_state()


async def test_meetup_code_exchange_refresh_and_single_use() -> None:
    sandbox = new_sandbox("meetup")
    oauth = oauth_for(sandbox)
    back = await authorize(sandbox, oauth, "state-123")
    assert back["state"] == "state-123"

    tokens = await oauth.exchange_code(back["code"])

    assert tokens.refresh_token and tokens.expires_at is not None
    assert timedelta(minutes=59) < tokens.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    client = new_client(sandbox, token=tokens.access_token)
    assert await client.whoami() == "Sandbox Organiser"
    with pytest.raises(PlatformAuthError):
        await oauth.exchange_code(back["code"])  # codes are single use

    fresh = await oauth.refresh(tokens.refresh_token)

    assert fresh.access_token != tokens.access_token
    assert fresh.refresh_token != tokens.refresh_token
    with pytest.raises(PlatformAuthError) as caught:
        await oauth.refresh(tokens.refresh_token)  # rotated away
    assert caught.value.code == "invalid_grant"
    await client.aclose()


async def test_wrong_client_secret_is_an_auth_error() -> None:
    sandbox = new_sandbox("meetup")
    back = await authorize(sandbox, oauth_for(sandbox), "s")
    with pytest.raises(PlatformAuthError) as caught:
        await oauth_for(sandbox, secret="wrong").exchange_code(back["code"])
    assert caught.value.code == "invalid_client"


async def test_eventbrite_tokens_are_long_lived_without_refresh() -> None:
    sandbox = new_sandbox("eventbrite")
    oauth = oauth_for(sandbox)
    back = await authorize(sandbox, oauth, "eb-state")

    tokens = await oauth.exchange_code(back["code"])

    assert tokens.refresh_token is None and tokens.expires_at is None
    assert not oauth.refreshable
    with pytest.raises(NotSupported):
        await oauth.refresh("anything")
    client = new_client(sandbox, token=tokens.access_token)
    assert await client.whoami() == "Sandbox Organiser"
    await client.aclose()


async def test_client_refreshes_after_401_and_saves_new_tokens() -> None:
    sandbox = new_sandbox("meetup")
    creds = sandbox.credentials()
    saved: list[TokenSet] = []

    async def save(tokens: TokenSet) -> None:
        saved.append(tokens)

    far = datetime.now(UTC) + timedelta(hours=1)
    provider = RefreshingToken(
        TokenSet(creds["access_token"], creds["refresh_token"], far),
        oauth_for(sandbox),
        on_refresh=save,
    )
    client = new_client(sandbox, token=provider)
    sandbox.expire_tokens()  # the platform revoked the access token early

    assert await client.whoami() == "Sandbox Organiser"

    assert len(saved) == 1 and saved[0].access_token == provider.tokens.access_token
    assert provider.tokens.access_token != creds["access_token"]
    await client.aclose()


async def test_provider_refreshes_before_expiry_without_a_failed_call() -> None:
    sandbox = new_sandbox("meetup")
    creds = sandbox.credentials()
    soon = datetime.now(UTC) + timedelta(minutes=1)
    provider = RefreshingToken(
        TokenSet(creds["access_token"], creds["refresh_token"], soon), oauth_for(sandbox)
    )
    client = new_client(sandbox, token=provider)

    await client.whoami()

    statuses = [call["status"] for call in sandbox.log.entries()]
    assert statuses == [200, 200]  # the token call, then the API call; no 401 first
    assert provider.tokens.access_token != creds["access_token"]
    await client.aclose()


async def test_revoked_refresh_token_surfaces_as_auth_error() -> None:
    sandbox = new_sandbox("meetup")
    creds = sandbox.credentials()
    provider = RefreshingToken(
        TokenSet(creds["access_token"], "revoked-refresh-token", None), oauth_for(sandbox)
    )
    client = new_client(sandbox, token=provider)
    sandbox.expire_tokens()

    with pytest.raises(PlatformAuthError):
        await client.whoami()
    await client.aclose()
