"""The few kinds of platform failure that background jobs act on.

Every error carries a plain-words ``message`` that is safe to show an organiser: it never
contains tokens, and the platform's own wording is only added where the platform means it
for humans (error descriptions, mutation messages).
"""

from __future__ import annotations


class PlatformError(Exception):
    """Base of every failure talking to a platform."""

    def __init__(self, platform: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.platform = platform
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.platform}: {self.message}"


class PlatformAuthError(PlatformError):
    """The credentials were refused even after a refresh: stop and tell the organiser."""


class PlatformNotFound(PlatformError):
    """The event (or object) does not exist, or this account cannot see it."""


class PlatformRateLimited(PlatformError):
    """The platform asked us to slow down; try again after ``retry_after`` seconds."""

    def __init__(
        self, platform: str, message: str, *, retry_after: float, code: str | None = None
    ) -> None:
        super().__init__(platform, message, code=code)
        self.retry_after = max(0.0, retry_after)


class PlatformTransient(PlatformError):
    """Server error, timeout or connection failure: retrying later may work."""


class PlatformRejected(PlatformError):
    """The platform understood the request and refused it (e.g. a limit below its own count)."""


class NotSupported(PlatformError):
    """The platform's API has no way to do this; the caller must fall back (e.g. stay local)."""
