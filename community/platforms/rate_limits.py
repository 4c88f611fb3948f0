"""How long a platform asked us to wait, read from a raw HTTP answer.

The HTTP transport in front of every platform client (services.mirror.clients) uses this to
hold the whole account back the moment a rate-limit answer arrives, before the client has even
parsed it: Meetup says so in a GraphQL error (``RATE_LIMITED`` with ``resetAt``, at HTTP 200
or 429), Eventbrite with 429 / ``HIT_RATE_LIMIT``, Luma with 429. Each client's own error
mapping computes the wait, so the transport and the client always agree.
"""

from __future__ import annotations

from typing import Any

import httpx

from community.platforms import eventbrite, luma, meetup
from community.platforms.errors import PlatformRateLimited
from community.platforms.http import json_body, retry_after_seconds


def _meetup(response: httpx.Response, body: Any) -> None:
    errors = body.get("errors") if isinstance(body, dict) else None
    meetup.raise_for_rate_limit(response, errors if isinstance(errors, list) else None)


def _eventbrite(response: httpx.Response, _: Any) -> None:
    if response.status_code == 429:
        raise PlatformRateLimited(
            "eventbrite", "rate limited", retry_after=eventbrite.rate_wait(response)
        )


def _luma(response: httpx.Response, _: Any) -> None:
    if response.status_code == 429:
        raise PlatformRateLimited(
            "luma",
            "rate limited",
            retry_after=retry_after_seconds(response, luma.DEFAULT_RATE_WAIT),
        )


_CHECKS = {"meetup": _meetup, "eventbrite": _eventbrite, "luma": _luma}
# Meetup may answer a rate limit with HTTP 200, so its answers are read whatever the status.
_READ_ALWAYS = frozenset({"meetup"})


async def rate_limit_wait(platform: str, response: httpx.Response) -> float | None:
    """Seconds the platform asked us to wait, or None when this answer is not a rate limit."""
    check = _CHECKS.get(platform)
    if check is None or (response.status_code != 429 and platform not in _READ_ALWAYS):
        return None
    await response.aread()
    try:
        check(response, json_body(response))
    except PlatformRateLimited as exc:
        return exc.retry_after
    return None
