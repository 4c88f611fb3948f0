"""Deciding what a platform webhook may cause: at most a pull of one listing.

Neither platform signs its webhooks in a way we can check (Eventbrite sends no signature;
Luma's scheme is not published), so the body is never trusted. What can be verified is:

- the path carries an unguessable per-listing secret (an HMAC of the listing id under the
  server's SECRET_KEY): a stranger cannot make us pull, nor learn which listings exist;
- the body has the shape the platform sends, and names the same event as the listing
  (Luma) or points at the configured Eventbrite API host (Eventbrite's ``api_url``).

Then the listing is pulled through the API with our own credentials, as on a schedule. An
Eventbrite webhook is also verified before that pull: its ``api_url`` is fetched with our token
and must name the listing's event (tasks.platform_webhooks).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.models import Listing

_CONTEXT = "community/webhook-path/v1"
EVENT_IN_PATH = re.compile(r"^/v3/events/([^/]+)/")
LUMA_PULL_TYPES = frozenset({"guest.registered", "guest.updated", "ticket.registered"})
LUMA_IGNORED_TYPES = frozenset(
    {"event.created", "event.updated", "event.canceled", "calendar.event.added",
     "calendar.person.subscribed"}
)  # fmt: skip
EVENTBRITE_PULL_ACTIONS = frozenset(
    {"order.placed", "order.refunded", "order.updated", "attendee.updated",
     "attendee.checked_in", "attendee.checked_out", "barcode.checked_in", "barcode.un_checked_in"}
)  # fmt: skip


class WebhookRefused(Exception):
    """The request is not a webhook we accept; ``status`` is 400 or 401."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class WebhookDecision:
    pull: bool  # False: acknowledged, nothing to do (test ping, an unrelated type)
    action: str
    api_url: str = ""  # Eventbrite: what to fetch with our token to confirm the webhook


def _signature(settings: Settings, platform: str, listing_id: UUID) -> str:
    message = f"{_CONTEXT}|{platform}|{listing_id}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()[:40]


def webhook_token(settings: Settings, platform: str, listing_id: UUID) -> str:
    return f"{listing_id.hex}{_signature(settings, platform, listing_id)}"


def webhook_url(settings: Settings, platform: str, listing_id: UUID) -> str:
    """The address to register with the platform for this listing."""
    return (
        f"{settings.base_url}/webhooks/{platform}/{webhook_token(settings, platform, listing_id)}"
    )


def listing_id_from_token(settings: Settings, platform: str, token: str) -> UUID | None:
    if len(token) != 72:
        return None
    try:
        listing_id = UUID(hex=token[:32])
    except ValueError:
        return None
    expected = _signature(settings, platform, listing_id)
    return listing_id if hmac.compare_digest(token[32:], expected) else None


async def listing_for(
    session: AsyncSession, settings: Settings, platform: str, token: str
) -> Listing:
    """The listing a webhook address names; WebhookRefused(401) for any other address."""
    listing_id = listing_id_from_token(settings, platform, token)
    listing = await session.get(Listing, listing_id) if listing_id is not None else None
    if listing is None or listing.platform != platform:
        # One answer for a forged path and a deleted listing: nothing to learn from probing.
        raise WebhookRefused(401, "Unknown webhook address.")
    return listing


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise WebhookRefused(400, f"The {what} webhook body must be a JSON object.")
    return body


def same_origin(url: str, base_url: str) -> bool:
    """Scheme, host and port equal to the configured API base URL."""
    got, want = urlsplit(url), urlsplit(base_url)
    return (got.scheme, got.hostname, got.port) == (want.scheme, want.hostname, want.port)


def check_eventbrite(settings: Settings, listing: Listing, body: Any) -> WebhookDecision:
    """Eventbrite: ``{"api_url": ..., "config": {"action": ...}}``; the api_url is only a hint."""
    body = _object(body, "Eventbrite")
    config = body.get("config")
    action = config.get("action") if isinstance(config, dict) else None
    if not isinstance(action, str) or not action:
        raise WebhookRefused(400, "The Eventbrite webhook has no config.action.")
    if action == "test":
        return WebhookDecision(False, "test")
    api_url = body.get("api_url")
    if not isinstance(api_url, str) or not api_url:
        raise WebhookRefused(400, "The Eventbrite webhook has no api_url.")
    api_base = settings.eventbrite.api_url
    path = urlsplit(api_url).path
    if not same_origin(api_url, api_base) or not path.startswith("/v3/"):
        raise WebhookRefused(400, "The api_url does not point at the Eventbrite API.")
    named = EVENT_IN_PATH.match(path)
    if named and named.group(1) != listing.external_id:
        raise WebhookRefused(400, "The webhook is about another Eventbrite event.")
    if action not in EVENTBRITE_PULL_ACTIONS:
        return WebhookDecision(False, action[:64])
    return WebhookDecision(True, action, api_url)


def check_luma(settings: Settings, listing: Listing, body: Any) -> WebhookDecision:
    """Luma: ``{"type": "guest.updated", "data": {..., "event": {"id": ...}}}``."""
    body = _object(body, "Luma")
    kind, data = body.get("type"), body.get("data")
    if not isinstance(kind, str) or not isinstance(data, dict):
        raise WebhookRefused(400, "The Luma webhook needs a type and a data object.")
    if kind in LUMA_IGNORED_TYPES:
        return WebhookDecision(False, kind)
    if kind not in LUMA_PULL_TYPES:
        raise WebhookRefused(400, "Unknown Luma webhook type.")
    event = data.get("event") if isinstance(data.get("event"), dict) else {}
    event_id = event.get("id") or event.get("api_id") or data.get("event_id")
    if event_id is not None and str(event_id) != listing.external_id:
        # Luma's webhooks are per calendar: news of the calendar's other events is acknowledged
        # (an error answer could get the webhook paused) and changes nothing here.
        return WebhookDecision(False, "another event")
    return WebhookDecision(True, kind)
