"""Failed sign-ins are counted in Redis; too many in a window locks that door for a while.

Two counters: one per account (hashed email, so Redis holds no addresses) and client
address, which stops guessing one person's password, and one per client address alone,
which stops spraying many accounts. A successful sign-in clears the account counter only,
so a guesser cannot reset their address budget with an account of their own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis

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
        return f"{self.prefix}login:acct:{digest}", f"{self.prefix}login:addr:{addr}"

    async def retry_after(self, email: str, address: str) -> int:
        """Seconds until another attempt is allowed; 0 when it may go ahead."""
        account_key, address_key = self._keys(email, address)
        # Two keys in two cluster slots: a pipeline (not MGET) reads both in one round trip.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(account_key)
            pipe.get(address_key)
            account, per_address = await pipe.execute()
        waits = []
        if int(account or 0) >= self.max_per_account:
            waits.append(await self.redis.ttl(account_key))
        if int(per_address or 0) >= self.max_per_address:
            waits.append(await self.redis.ttl(address_key))
        return max([w for w in waits if w > 0], default=0) or (self.window if waits else 0)

    async def failed(self, email: str, address: str) -> None:
        account_key, address_key = self._keys(email, address)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in (account_key, address_key):
                # SET NX EX opens the window on the first failure (EXPIRE NX needs Redis 7).
                pipe.set(key, 0, ex=self.window, nx=True)
                pipe.incr(key)
            await pipe.execute()

    async def succeeded(self, email: str, address: str) -> None:
        await self.redis.delete(self._keys(email, address)[0])


def minutes_text(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
