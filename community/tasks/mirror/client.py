"""The listing's platform client for one job run, and the account's rate budget (pushes,
pulls and webhook set-up share them)."""

from __future__ import annotations

import random
from uuid import UUID

from community.models import Listing
from community.platforms.base import PlatformClient
from community.platforms.errors import PlatformRateLimited
from community.services.mirror.clients import ListingClient, client_for_listing
from community.services.mirror.rate_budget import RateBudget
from community.tasks.context import JobContext


def _budget(ctx: JobContext) -> RateBudget:
    budget = ctx.get("rate_budget")
    if budget is None:
        budget = ctx["rate_budget"] = RateBudget(ctx["redis"], ctx["settings"].redis_prefix)
    return budget


class JobClient:
    """The listing's client, built on first use and reused for every call of one job run.

    Reuse keeps what a client learns (Eventbrite's managed ticket class, Luma's pushed limit)
    and its connection, so the second push of a burst costs one call, not two or three.
    """

    def __init__(self, ctx: JobContext, listing_id: UUID) -> None:
        self._ctx = ctx
        self._listing_id = listing_id
        self._client: ListingClient | None = None

    @property
    def account_key(self) -> str:
        return self._client.account_key if self._client is not None else ""

    async def get(self) -> PlatformClient:
        if self._client is None:
            ctx = self._ctx
            async with ctx["session_maker"]() as session:
                listing = await session.get(Listing, self._listing_id)
                if listing is None:
                    raise LookupError("the listing was deleted")
                self._client = await client_for_listing(
                    ctx["settings"],
                    session,
                    listing,
                    _budget(ctx),
                    session_maker=ctx["session_maker"],
                    transport=ctx.get("platform_transport"),
                )
        return self._client.client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def rate_limit_delay(
    ctx: JobContext, platform: str, exc: PlatformRateLimited, account_key: str
) -> float:
    """Seconds until the next attempt; a platform's 429 holds back the whole account.

    The HTTP transport already closed the account when the 429 arrived; this repeats it for a
    rate limit a client raised without one (harmless: the later deadline wins).
    """
    if exc.code != "BUDGET" and account_key:
        await _budget(ctx).block(platform, account_key, exc.retry_after)
    # A little jitter (never earlier), so jobs held back together do not all return at once.
    return exc.retry_after * (1 + random.random() * 0.1) + 0.05
