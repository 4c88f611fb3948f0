"""Per-visitor limits on the public forms (registration, "send again", sign-in links) and the
public JSON API, one limiter for both.

Fixed windows counted in Redis by the limiter every limit shares (`limiter`). Client
addresses are hashed before they become key names, so Redis holds no address in clear. A
limit answers with the seconds to wait, told in the limiter's words (`limiter.wait_text`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from community import redis_keys
from community.config import Settings, VisitorLimitSettings
from community.services.access import limiter


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_s: int


RESEND_PER_ADDRESS = Limit("resend", 6, 10 * 60)
SIGNIN_PER_ADDRESS = Limit("signin", 8, 15 * 60)
SIGNIN_PER_EMAIL = Limit("signin-email", 3, 15 * 60)
CANCEL_PER_ADDRESS = Limit("cancel", 20, 10 * 60)


def resend_per_email(settings: Settings) -> Limit:
    """ "Send my ticket again" once per recipient per mail repeat window (mail bombing)."""
    return Limit("resend-email", 1, max(60, settings.mail_limits.repeat_window_s))


@cache
def _keyed_hash(secret: str) -> Any:
    """SHA-256 already fed the secret's part, copied for each subject (a rush hashes two
    subjects per attempt)."""
    return hashlib.sha256(f"{secret[:16]}|".encode())


def _key(settings: Settings, limit: Limit, subject: str) -> str:
    hashed = _keyed_hash(settings.secret_key).copy()
    hashed.update(subject.encode())
    return redis_keys.visitor_limit(settings.redis_prefix, limit.name, hashed.hexdigest()[:24])


def counter(settings: Settings, limit: Limit, subject: str) -> limiter.Counter:
    return limiter.Counter(
        _key(settings, limit, subject or "unknown"), limit.max_hits, limit.window_s
    )


async def hit_many(redis: Redis, settings: Settings, checks: list[tuple[Limit, str]]) -> int:
    """Count one attempt against each (limit, subject); 0 if all allow it, else the longest
    wait in seconds."""
    return await limiter.wait_after_hits(
        redis, [counter(settings, limit, subject) for limit, subject in checks]
    )


async def hit(redis: Redis, settings: Settings, limit: Limit, subject: str) -> int:
    """Count one attempt; return 0 if allowed, else the seconds until the window resets."""
    return await hit_many(redis, settings, [(limit, subject)])


def registration_counters(
    settings: Settings, address: str, event_id: UUID
) -> tuple[limiter.Counter, limiter.Counter]:
    """What one registration attempt (event page or API, counted together) from `address`
    counts: limited in all and for any one event (settings.limits), so a rush of many people
    passes and one client cannot take many seats. The seat scripts count them in the call
    that takes the seat (RegistrationService.register's `limits`)."""
    per_address, per_event = registration_limits(settings)
    return counter(settings, per_address, address), counter(
        settings, per_event, f"{address}|{event_id}"
    )


async def hit_registration(redis: Redis, settings: Settings, address: str, event_id: UUID) -> int:
    """Count one registration attempt on its own (the paths that take no seat at once, such
    as a checkout's); 0 if allowed, else the seconds to wait."""
    return await limiter.wait_after_hits(redis, registration_counters(settings, address, event_id))


def registration_limits(settings: Settings) -> tuple[Limit, Limit]:
    return _registration_limits(settings.limits)


@cache
def _registration_limits(limits: VisitorLimitSettings) -> tuple[Limit, Limit]:
    # A family or an office behind one address registers a handful of people, not dozens.
    return (
        Limit("register", limits.register_per_address, limits.window_s),
        Limit("register-event", limits.register_per_event, limits.window_s),
    )
