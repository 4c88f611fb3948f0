"""Per-visitor limits on the public forms (registration, "send again", sign-in links) and the
public JSON API, one limiter for both.

Fixed windows counted in Redis. Client addresses are hashed before they become key names,
so Redis holds no address in clear. A limit answers with the seconds to wait.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

from community.config import Settings


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_s: int


RESEND_PER_ADDRESS = Limit("resend", 6, 10 * 60)
SIGNIN_PER_ADDRESS = Limit("signin", 8, 15 * 60)
SIGNIN_PER_EMAIL = Limit("signin-email", 3, 15 * 60)
CANCEL_PER_ADDRESS = Limit("cancel", 20, 10 * 60)


def _key(settings: Settings, limit: Limit, subject: str) -> str:
    digest = hashlib.sha256(f"{settings.secret_key[:16]}|{subject}".encode()).hexdigest()[:24]
    return f"{settings.redis_prefix}limit:{limit.name}:{digest}"


async def hit(redis: Redis, settings: Settings, limit: Limit, subject: str) -> int:
    """Count one attempt; return 0 if allowed, else the seconds until the window resets."""
    key = _key(settings, limit, subject or "unknown")
    async with redis.pipeline(transaction=True) as pipe:
        # SET NX starts the window once (EXPIRE NX would need Redis 7; we support 6.2).
        pipe.set(key, 0, ex=limit.window_s, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = await pipe.execute()
    if int(count) > limit.max_hits:
        return max(1, int(ttl))
    return 0


async def hit_registration(redis: Redis, settings: Settings, address: str, event_id: UUID) -> int:
    """One registration attempt (event page or API, counted together) from `address`: limited
    in all and for any one event (settings.limits), so a rush of many people passes and one
    client cannot take many seats. 0 if allowed, else the seconds to wait."""
    per_address, per_event = registration_limits(settings)
    waits = await asyncio.gather(
        hit(redis, settings, per_address, address),
        hit(redis, settings, per_event, f"{address}|{event_id}"),
    )
    return max(waits)


def registration_limits(settings: Settings) -> tuple[Limit, Limit]:
    # A family or an office behind one address registers a handful of people, not dozens.
    limits = settings.limits
    return (
        Limit("register", limits.register_per_address, limits.window_s),
        Limit("register-event", limits.register_per_event, limits.window_s),
    )


def wait_text(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
