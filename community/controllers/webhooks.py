"""Platform webhooks: parse, let services.mirror.webhooks decide, answer; a good one becomes a pull.

``POST /webhooks/eventbrite/{secret}`` and ``POST /webhooks/luma/{secret}``: the secret names
one listing and proves the sender got the address from us (services.mirror.webhooks). Anything else
is answered 401 (unknown address) or 400 (not a webhook we understand), never 500. A Luma one
is pulled at once; an Eventbrite one is first confirmed by fetching its ``api_url`` with our
token (tasks.platform_webhooks), since Eventbrite signs nothing.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, post
from litestar.exceptions import HTTPException
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings
from community.errors import TOO_LARGE, UNAVAILABLE, error_spec
from community.services.jobs import enqueue_pull, enqueue_webhook_confirmation
from community.services.mirror import sync_log
from community.services.mirror.poll_schedule import mark_selling
from community.services.mirror.webhooks import (
    WebhookDecision,
    WebhookRefused,
    check_eventbrite,
    check_luma,
    listing_for,
)

MAX_BODY = 256 * 1024


async def _json_body(request: Request[Any, Any, Any]) -> Any:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise HTTPException(status_code=413, detail="The webhook body is too large.")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(status_code=413, detail="The webhook body is too large.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(status_code=400, detail="The webhook body is not JSON.") from None
    except RecursionError:
        raise HTTPException(
            status_code=400, detail="The webhook body is nested too deeply."
        ) from None


RESPONSES = {
    400: error_spec(400, "Our address, but not a webhook body we understand", "Not JSON."),
    401: error_spec(401, "Not an address we handed out for this platform", "Unknown address."),
    413: TOO_LARGE,
    503: UNAVAILABLE,
}


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]
    request_max_body_size = MAX_BODY

    async def _handle(
        self,
        platform: str,
        token: str,
        request: Request[Any, Any, Any],
        settings: Settings,
        redis: Redis,
        queues: dict[str, Queue],
        db_session: AsyncSession,
    ) -> dict[str, str]:
        started = time.perf_counter()
        check = check_eventbrite if platform == "eventbrite" else check_luma
        try:
            # The address is checked before the body is read: strangers learn nothing else.
            listing = await listing_for(db_session, settings, platform, token)
            body = await _json_body(request)
            decision: WebhookDecision = check(settings, listing, body)
        except WebhookRefused as exc:
            raise HTTPException(status_code=exc.status, detail=exc.message) from None
        if not decision.pull:
            return {"status": "ignored", "action": decision.action}
        # The platform is busy with this listing: poll it often for a while (adaptive polling).
        mark_selling(listing, datetime.now(UTC))
        if platform == "eventbrite":
            await enqueue_webhook_confirmation(
                queues, listing.id, decision.api_url, decision.action
            )
            detail = "Confirming with Eventbrite, then pulling."
        else:
            await enqueue_pull(settings, redis, queues, listing.id)
            detail = "Pull requested."
        await sync_log.record(
            db_session,
            listing=listing,
            platform=platform,
            direction="webhook",
            action=decision.action,
            outcome=sync_log.OK,
            detail=detail,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )
        await db_session.commit()
        return {"status": "accepted"}

    @post(
        "/eventbrite/{token:str}",
        status_code=202,
        responses=RESPONSES,
        description="202 `accepted` (a pull is queued) or `ignored` (nothing to pull).",
    )
    async def eventbrite(
        self,
        token: str,
        request: Request[Any, Any, Any],
        settings: Settings,
        redis: Redis,
        queues: dict[str, Queue],
        db_session: AsyncSession,
    ) -> dict[str, str]:
        """Eventbrite says something changed: pull the listing (the body is not trusted)."""
        return await self._handle("eventbrite", token, request, settings, redis, queues, db_session)

    @post(
        "/luma/{token:str}",
        status_code=202,
        responses=RESPONSES,
        description="202 `accepted` (a pull is queued) or `ignored` (nothing to pull).",
    )
    async def luma(
        self,
        token: str,
        request: Request[Any, Any, Any],
        settings: Settings,
        redis: Redis,
        queues: dict[str, Queue],
        db_session: AsyncSession,
    ) -> dict[str, str]:
        """Luma says a guest changed: pull the listing (the body is not trusted)."""
        return await self._handle("luma", token, request, settings, redis, queues, db_session)
