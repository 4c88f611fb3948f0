"""Build the platform client a job uses for one listing, with the account's budget in front.

The credential is the listing's connected account (decrypted only here, refreshed by
services.mirror.platform_accounts). In sandbox mode a listing without an account talks to the local
stand-ins with their own credentials, so the mirror works with no platform account at all.
Every HTTP request first spends one unit of the account's rate budget (services.mirror.rate_budget),
and a rate-limit answer closes the whole account until the platform's wait is over, at the
moment it arrives: no other request on that token leaves in between, whatever job sends it.
For that to hold, a process sends one request per token at a time (``TokenLane``): a request
already on its way when another one's 429 comes back would otherwise reach the platform after
it. The platforms' budgets (3 to 8 calls a second) are below what one lane carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import PLATFORM_LABELS, Listing, PlatformAccount
from community.platforms.base import PlatformClient
from community.platforms.errors import PlatformAuthError, PlatformRateLimited
from community.platforms.factory import make_client
from community.platforms.rate_limits import rate_limit_wait
from community.platforms.tokens import StaticToken, TokenProvider
from community.services.mirror.platform_accounts import ConnectError, token_provider
from community.services.mirror.rate_budget import BudgetExhausted, RateBudget

SANDBOX_ACCOUNT = "sandbox"
# A request waits at most this long for its token's lane (a platform that hangs): then it goes
# anyway rather than stall every listing of the account behind one stuck connection.
LANE_WAIT_S = 5.0
# A job waits this long for budget inline; beyond it (and always after a 429), it reschedules
# itself for when there is room instead of holding a worker slot.
INLINE_BUDGET_WAIT = 2.0


class TokenLane:
    """One request at a time per platform token in this process (see the module's note)."""

    # Per event loop: an asyncio lock belongs to the loop it was first used in.
    _locks: ClassVar[weakref.WeakKeyDictionary[Any, dict[tuple[str, str], asyncio.Lock]]] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    @contextlib.asynccontextmanager
    async def held(cls, platform: str, account: str) -> AsyncIterator[None]:
        lanes = cls._locks.setdefault(asyncio.get_running_loop(), {})
        lock = lanes.setdefault((platform, account), asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), LANE_WAIT_S)
        except TimeoutError:
            yield  # the lane is stuck behind a hanging call: go without it
            return
        try:
            yield
        finally:
            lock.release()


class BudgetedTransport(httpx.AsyncBaseTransport):
    """Spends one budget unit per request before it leaves; refuses when the wait is long."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        budget: RateBudget,
        platform: str,
        account: str,
        *,
        max_wait: float = INLINE_BUDGET_WAIT,
    ) -> None:
        self._inner = inner
        self._budget = budget
        self._platform = platform
        self._account = account
        self._max_wait = max_wait

    def _holding_back(self, retry_after: float) -> PlatformRateLimited:
        label = PLATFORM_LABELS.get(self._platform, self._platform)
        return PlatformRateLimited(
            self._platform,
            f"Holding back to stay within {label}'s rate limit.",
            retry_after=retry_after,
            code="BUDGET",
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        platform, account = self._platform, self._account
        try:
            await self._budget.acquire(platform, account, max_wait=self._max_wait)
        except BudgetExhausted as exc:
            raise self._holding_back(exc.retry_after) from exc
        async with TokenLane.held(platform, account):
            # A 429 may have come back while we waited: look once more before leaving.
            if (held := self._budget.blocked_for(platform, account)) > 0:
                raise self._holding_back(held)
            response = await self._inner.handle_async_request(request)
            wait = await rate_limit_wait(platform, response)
            if wait is not None:
                # In this process first (no await), then in Redis for the other processes.
                self._budget.block_here(platform, account, wait)
                await self._budget.block(platform, account, wait)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class ListingClient:
    """A client for one listing and the budget account it spends from."""

    client: PlatformClient
    account_key: str

    async def aclose(self) -> None:
        await self.client.aclose()


# Credentials of the stand-ins: those running in this process (set by whoever started them),
# else their defaults (set by the app and the workers in sandbox mode, for stand-ins started
# by another process).
_sandbox_credentials: dict[str, dict[str, str]] = {}


def use_sandbox_credentials(platform: str, credentials: dict[str, str]) -> None:
    _sandbox_credentials[platform] = dict(credentials)


def default_sandbox_credentials(defaults: Mapping[str, Mapping[str, str]]) -> None:
    """The stand-ins' default credentials, for platforms whose stand-ins this process did
    not start itself (those registered with `use_sandbox_credentials` are kept)."""
    for platform, credentials in defaults.items():
        _sandbox_credentials.setdefault(platform, dict(credentials))


def sandbox_token(platform: str) -> str:
    """The stand-ins' own credential for ``platform`` (access token or Luma API key)."""
    creds = _sandbox_credentials.get(platform, {})
    token = creds.get("access_token") or creds.get("api_key")
    if not token:
        raise PlatformAuthError(platform, "The sandbox stand-in has no credential to use.")
    return token


async def _credential(
    settings: Settings,
    session: AsyncSession,
    listing: Listing,
    session_maker: async_sessionmaker[AsyncSession] | None,
) -> tuple[TokenProvider, str]:
    label = PLATFORM_LABELS.get(listing.platform, listing.platform)
    if listing.account_id is not None:
        account = await session.get(PlatformAccount, listing.account_id)
        if account is None or account.disconnected_at is not None:
            raise PlatformAuthError(
                listing.platform,
                f"The {label} account of this listing is disconnected; connect it again.",
                code="NO_ACCOUNT",
            )
        try:
            return token_provider(settings, account, session_maker), str(account.id)
        except ConnectError as exc:
            raise PlatformAuthError(listing.platform, exc.message, code="NO_ACCOUNT") from exc
    if settings.platform_mode == "sandbox":
        return StaticToken(sandbox_token(listing.platform)), SANDBOX_ACCOUNT
    raise PlatformAuthError(
        listing.platform,
        f"No {label} account is connected for this listing; connect one in the admin.",
        code="NO_ACCOUNT",
    )


async def client_for_listing(
    settings: Settings,
    session: AsyncSession,
    listing: Listing,
    budget: RateBudget,
    *,
    session_maker: async_sessionmaker[AsyncSession] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    max_budget_wait: float = INLINE_BUDGET_WAIT,
) -> ListingClient:
    """Raises PlatformAuthError (with words for the organiser) when there is no credential."""
    token, account_key = await _credential(settings, session, listing, session_maker)
    budgeted = BudgetedTransport(
        transport or httpx.AsyncHTTPTransport(retries=0),
        budget,
        listing.platform,
        account_key,
        max_wait=max_budget_wait,
    )
    client = make_client(
        listing.platform, settings.platform(listing.platform).api_url, token, transport=budgeted
    )
    return ListingClient(client=client, account_key=account_key)
