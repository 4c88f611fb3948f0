"""Build the right client for a platform name."""

from __future__ import annotations

from typing import Any

import httpx

from community.platforms.base import PlatformClient
from community.platforms.eventbrite import EventbriteClient
from community.platforms.luma import LumaClient
from community.platforms.meetup import MeetupClient
from community.platforms.tokens import TokenProvider

PLATFORMS = ("meetup", "eventbrite", "luma")


def make_client(
    platform: str,
    base_url: str,
    token: str | TokenProvider,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout | float | None = None,
    **options: Any,
) -> PlatformClient:
    """``token`` is the access token (Meetup, Eventbrite) or API key (Luma), or a provider.

    ``options`` go to the client: ``group_urlname`` (Meetup), ``organization_id``,
    ``ticket_class_name``, ``currency`` (Eventbrite), ``page_size`` (Meetup, Luma).
    """
    if platform == "meetup":
        return MeetupClient(base_url, token, transport=transport, timeout=timeout, **options)
    if platform == "eventbrite":
        return EventbriteClient(base_url, token, transport=transport, timeout=timeout, **options)
    if platform == "luma":
        return LumaClient(base_url, token, transport=transport, timeout=timeout, **options)
    raise ValueError(f"unknown platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
