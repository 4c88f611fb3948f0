"""One-time links that let an invited (or locked-out) user choose their own password.

Only a hash of the token is stored, in Redis with an expiry, so the link cannot be read back
from the server: the owner sees it once, right after creating it. A new link for the same
user replaces the old one.
"""

from __future__ import annotations

import hashlib
import secrets
from uuid import UUID

from redis.asyncio import Redis

from community import redis_keys

LINK_TTL_SECONDS = 72 * 3600


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _text(raw: bytes | str) -> str:
    """A stored value as text: the shared client answers bytes, a decoding client str."""
    return raw.decode() if isinstance(raw, bytes) else raw


class Invitations:
    def __init__(self, redis: Redis, prefix: str, ttl: int = LINK_TTL_SECONDS) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl

    def _token_key(self, token: str) -> str:
        return redis_keys.invitation(self.prefix, _digest(token))

    def _user_key(self, user_id: UUID) -> str:
        return redis_keys.invitation_of_user(self.prefix, user_id)

    async def create(self, user_id: UUID) -> str:
        token = secrets.token_urlsafe(32)
        previous = await self.redis.getdel(self._user_key(user_id))
        async with self.redis.pipeline(transaction=False) as pipe:
            if previous:
                pipe.delete(redis_keys.invitation(self.prefix, _text(previous)))
            pipe.set(self._token_key(token), str(user_id), ex=self.ttl)
            pipe.set(self._user_key(user_id), _digest(token), ex=self.ttl)
            await pipe.execute()
        return token

    async def peek(self, token: str) -> UUID | None:
        if not token or len(token) > 100:
            return None
        raw = await self.redis.get(self._token_key(token))
        return UUID(_text(raw)) if raw else None

    async def consume(self, token: str) -> UUID | None:
        """The user the link was for, once; None when unknown, expired or already used."""
        if not token or len(token) > 100:
            return None
        raw = await self.redis.getdel(self._token_key(token))
        if not raw:
            return None
        user_id = UUID(_text(raw))
        await self.redis.delete(self._user_key(user_id))
        return user_id
