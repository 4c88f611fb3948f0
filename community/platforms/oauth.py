"""OAuth2 authorization-code flow for Meetup and Eventbrite, and a refreshing token provider.

Endpoints hang off a configurable base: ``https://secure.meetup.com`` (``/oauth2/authorize``,
``/oauth2/access``) and ``https://www.eventbrite.com`` (``/oauth/authorize``, ``/oauth/token``),
or a sandbox stand-in serving the same paths. Meetup refreshes with ``grant_type=refresh_token``;
Eventbrite has no refresh flow (its tokens are long-lived).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from community.platforms.errors import (
    NotSupported,
    PlatformAuthError,
    PlatformRejected,
    PlatformTransient,
)
from community.platforms.http import DEFAULT_TIMEOUT, json_body


@dataclass(frozen=True, slots=True)
class OAuthPaths:
    authorize: str
    token: str
    refreshable: bool


OAUTH_PATHS = {
    "meetup": OAuthPaths("/oauth2/authorize", "/oauth2/access", refreshable=True),
    "eventbrite": OAuthPaths("/oauth/authorize", "/oauth/token", refreshable=False),
}


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None  # None = the platform gave no expiry

    def __repr__(self) -> str:
        return f"TokenSet(expires_at={self.expires_at!r})"

    def expires_within(self, margin: timedelta) -> bool:
        return self.expires_at is not None and self.expires_at - margin <= datetime.now(UTC)


def new_state() -> str:
    """An unguessable ``state`` value to tie the callback to the browser that started it."""
    return secrets.token_urlsafe(24)


class OAuthClient:
    def __init__(
        self,
        platform: str,
        auth_base_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> None:
        if platform not in OAUTH_PATHS:
            raise ValueError(f"{platform} has no OAuth flow")
        self.platform = platform
        self._paths = OAUTH_PATHS[platform]
        self._base = auth_base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._redirect_uri = redirect_uri
        self._transport = transport
        self._timeout = timeout or DEFAULT_TIMEOUT

    @property
    def refreshable(self) -> bool:
        return self._paths.refreshable

    def authorize_url(self, state: str) -> str:
        query = {
            "client_id": self._client_id,
            "response_type": "code",
            "redirect_uri": self._redirect_uri,
            "state": state,
        }
        return f"{self._base}{self._paths.authorize}?{urlencode(query)}"

    async def exchange_code(self, code: str) -> TokenSet:
        return await self._token_request(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self._redirect_uri}
        )

    async def refresh(self, refresh_token: str) -> TokenSet:
        if not self._paths.refreshable:
            raise NotSupported(
                self.platform, f"{self.platform.title()} tokens cannot be refreshed."
            )
        tokens = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        if tokens.refresh_token is None:  # some servers keep the old refresh token valid
            return TokenSet(tokens.access_token, refresh_token, tokens.expires_at)
        return tokens

    async def _token_request(self, form: dict[str, str]) -> TokenSet:
        form = {"client_id": self._client_id, "client_secret": self._client_secret, **form}
        name = self.platform.title()
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout) as http:
                response = await http.post(
                    f"{self._base}{self._paths.token}",
                    data=form,
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise PlatformTransient(self.platform, f"Could not reach {name} to sign in.") from exc
        body: Any = json_body(response)
        if response.status_code >= 500:
            raise PlatformTransient(self.platform, f"{name}'s sign-in service had an error.")
        if not isinstance(body, dict):
            raise PlatformRejected(
                self.platform, f"{name} sent a sign-in answer we could not read."
            )
        if response.status_code >= 400 or "access_token" not in body:
            error = str(body.get("error") or response.status_code)
            if error in ("invalid_grant", "invalid_client", "unauthorized_client", "401"):
                raise PlatformAuthError(
                    self.platform, f"{name} did not accept the sign-in; connect again.", code=error
                )
            raise PlatformRejected(
                self.platform, f"{name} refused the sign-in ({error}).", code=error
            )
        expires_in = body.get("expires_in")
        expires_at = (
            datetime.now(UTC) + timedelta(seconds=float(expires_in)) if expires_in else None
        )
        return TokenSet(str(body["access_token"]), body.get("refresh_token"), expires_at)


SaveTokens = Callable[[TokenSet], Awaitable[None]]


class RefreshingToken:
    """A token provider that refreshes shortly before expiry, or when a client saw a 401.

    ``on_refresh`` lets the app store the new tokens (encrypted) before they are used. One
    refresh runs at a time, so concurrent jobs do not burn the single-use refresh token twice.
    """

    def __init__(
        self,
        tokens: TokenSet,
        oauth: OAuthClient,
        *,
        on_refresh: SaveTokens | None = None,
        margin: timedelta = timedelta(minutes=5),
    ) -> None:
        self._tokens = tokens
        self._oauth = oauth
        self._on_refresh = on_refresh
        self._margin = margin
        self._lock = asyncio.Lock()

    @property
    def tokens(self) -> TokenSet:
        return self._tokens

    async def __call__(self, *, force_refresh: bool = False) -> str:
        seen = self._tokens.access_token
        if not force_refresh and not self._tokens.expires_within(self._margin):
            return seen
        async with self._lock:
            if self._tokens.access_token != seen:  # another caller refreshed meanwhile
                return self._tokens.access_token
            if not self._oauth.refreshable or not self._tokens.refresh_token:
                return seen  # nothing to refresh with; the client decides what a 401 means
            fresh = await self._oauth.refresh(self._tokens.refresh_token)
            if self._on_refresh is not None:
                await self._on_refresh(fresh)
            self._tokens = fresh
            return fresh.access_token
