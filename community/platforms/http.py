"""One httpx session per client: timeouts, a total deadline, token refresh on 401.

Status codes other than the auth retry are left to each platform module, because each
platform words its errors differently.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from community.platforms.errors import PlatformAuthError, PlatformTransient
from community.platforms.tokens import TokenProvider

# Explicit per-phase timeouts; the deadline below also bounds slow-drip responses.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=15.0, pool=5.0)
DEFAULT_DEADLINE = 30.0
USER_AGENT = "community-dashboard/0.1"

AuthHeaders = Callable[[str], dict[str, str]]


def deadline_for(timeout: httpx.Timeout) -> float:
    phases = [t for t in (timeout.connect, timeout.read, timeout.write) if t is not None]
    return min(DEFAULT_DEADLINE, 2 * max(phases)) if phases else DEFAULT_DEADLINE


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class ApiSession:
    """Sends requests with the current token and maps network failures to PlatformTransient."""

    def __init__(
        self,
        platform: str,
        base_url: str,
        token: TokenProvider,
        *,
        auth_headers: AuthHeaders = bearer,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> None:
        self.platform = platform
        self._token = token
        self._auth_headers = auth_headers
        if isinstance(timeout, int | float):
            timeout = httpx.Timeout(timeout)
        self._timeout = timeout or DEFAULT_TIMEOUT
        # The whole call, body included, must end within the deadline: httpx's own timeouts
        # are per phase, so a server dripping bytes slowly could otherwise hold a job forever.
        self._deadline = deadline_for(self._timeout)
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=self._timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        token = await self._token()
        response = await self._send(method, path, token, params=params, json=json, headers=headers)
        if response.status_code != 401:
            return response
        fresh = await self._token(force_refresh=True)
        if fresh != token:
            response = await self._send(
                method, path, fresh, params=params, json=json, headers=headers
            )
            if response.status_code != 401:
                return response
        raise PlatformAuthError(
            self.platform,
            f"{self.platform.title()} refused our credentials; reconnect the account.",
            code="401",
        )

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        all_headers = {**self._auth_headers(token), **(headers or {})}
        try:
            async with asyncio.timeout(self._deadline):
                return await self._client.request(
                    method, path, params=params, json=json, headers=all_headers
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise PlatformTransient(
                self.platform, f"{self.platform.title()} did not answer in time.", code="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise PlatformTransient(
                self.platform, f"Could not reach {self.platform.title()}.", code="network"
            ) from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def retry_after_seconds(response: httpx.Response, default: float) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def json_body(response: httpx.Response) -> Any:
    """The decoded body, or None when it is not JSON (error pages, empty bodies)."""
    try:
        return response.json()
    except ValueError:
        return None
