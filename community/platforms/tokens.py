"""Token providers: how a client obtains the credential it sends.

A client never holds a fixed string. It asks a provider for the current token before each
request and, after a 401, asks once more with ``force_refresh=True``. A provider that cannot
refresh returns the same token, and the client then gives up with ``PlatformAuthError``.
"""

from __future__ import annotations

from typing import Protocol


class TokenProvider(Protocol):
    async def __call__(self, *, force_refresh: bool = False) -> str: ...


class StaticToken:
    """A credential that never changes: Luma API keys, Eventbrite private tokens."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def __call__(self, *, force_refresh: bool = False) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(***)"


def as_provider(token: str | TokenProvider) -> TokenProvider:
    return StaticToken(token) if isinstance(token, str) else token
