"""Failed sign-ins are counted in Redis; too many in a window locks that door for a while.

Two counters: one per account (hashed email, so Redis holds no addresses) and client
address, which stops guessing one person's password, and one per client address alone,
which stops spraying many accounts. A successful sign-in clears the account counter only,
so a guesser cannot reset their address budget with an account of their own. The counters
are the visitor limits' fixed windows (`limiter`), asked before and counted after.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis

from community import redis_keys
from community.services.access import limiter

WINDOW_SECONDS = 15 * 60
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 30


@dataclass(frozen=True)
class Throttle:
    redis: Redis
    prefix: str
    window: int = WINDOW_SECONDS
    max_per_account: int = MAX_PER_ACCOUNT
    max_per_address: int = MAX_PER_ADDRESS

    def _keys(self, email: str, address: str) -> tuple[str, str]:
        digest = hashlib.sha256(f"{email.strip().lower()}|{address}".encode()).hexdigest()[:32]
        addr = hashlib.sha256(address.encode()).hexdigest()[:32]
        return (
            redis_keys.login_account(self.prefix, digest),
            redis_keys.login_address(self.prefix, addr),
        )

    async def retry_after(self, email: str, address: str) -> int:
        """Seconds until another attempt is allowed; 0 when it may go ahead."""
        account_key, address_key = self._keys(email, address)
        return await limiter.wait_when_full(
            self.redis,
            [
                (account_key, self.max_per_account, self.window),
                (address_key, self.max_per_address, self.window),
            ],
        )

    async def failed(self, email: str, address: str) -> None:
        await limiter.count(self.redis, [(key, self.window) for key in self._keys(email, address)])

    async def succeeded(self, email: str, address: str) -> None:
        await self.redis.delete(self._keys(email, address)[0])
