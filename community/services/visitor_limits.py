"""Per-visitor limits on the public forms (registration, "send again", sign-in links).

Fixed windows counted in Redis. Client addresses are hashed before they become key names,
so Redis holds no address in clear. A limit answers with the seconds to wait.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis

from community.config import Settings


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_s: int


# A family or an office behind one address registers a handful of people, not dozens.
REGISTER_PER_ADDRESS = Limit("register", 20, 10 * 60)
RESEND_PER_ADDRESS = Limit("resend", 6, 10 * 60)
SIGNIN_PER_ADDRESS = Limit("signin", 8, 15 * 60)
SIGNIN_PER_EMAIL = Limit("signin-email", 3, 15 * 60)
CANCEL_PER_ADDRESS = Limit("cancel", 20, 10 * 60)


def resend_per_email(settings: Settings) -> Limit:
    """ "Send my ticket again" once per recipient per mail repeat window (mail bombing)."""
    return Limit("resend-email", 1, max(60, settings.mail_limits.repeat_window_s))


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


def wait_text(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
