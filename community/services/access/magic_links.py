"""Sign-in links for "my tickets": signed, expiring, and good for one sign-in only.

The token carries the member id (never the e-mail address: links end up in browser history),
an expiry and a random nonce, signed with HMAC-SHA256 under a key derived from the app's
secret. Redis remembers spent nonces until they would have expired anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis

from community import redis_keys
from community.config import Settings

LINK_TTL_SECONDS = 30 * 60
_PURPOSE = b"my-tickets-link:"


class LinkProblem(StrEnum):
    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"


class LinkError(Exception):
    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class LinkClaim:
    member_id: str
    expires_at: int
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    key = hashlib.sha256(_PURPOSE + secret.encode()).digest()  # a key for this purpose only
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def make_token(
    secret: str, member_id: str, *, ttl: int = LINK_TTL_SECONDS, now: float | None = None
) -> str:
    claim = {"m": member_id, "x": int((now or time.time()) + ttl), "n": secrets.token_urlsafe(12)}
    payload = _b64(json.dumps(claim, separators=(",", ":")).encode())
    return f"{payload}.{_sign(secret, payload)}"


def read_token(secret: str, token: str, *, now: float | None = None) -> LinkClaim:
    """Check signature and expiry (not single use: see `consume`)."""
    if not token or len(token) > 1024 or token.count(".") != 1:
        raise LinkError(LinkProblem.INVALID)
    payload, signature = token.split(".")
    if not hmac.compare_digest(signature, _sign(secret, payload)):
        raise LinkError(LinkProblem.INVALID)
    try:
        data = json.loads(_unb64(payload))
        claim = LinkClaim(str(data["m"]), int(data["x"]), str(data["n"]))
    except (ValueError, KeyError, TypeError):
        raise LinkError(LinkProblem.INVALID) from None
    if claim.expires_at < (now or time.time()):
        raise LinkError(LinkProblem.EXPIRED)
    return claim


def _spent_key(settings: Settings, nonce: str) -> str:
    return redis_keys.magic_link_spent(settings.redis_prefix, nonce)


async def is_spent(redis: Redis, settings: Settings, claim: LinkClaim) -> bool:
    return bool(await redis.exists(_spent_key(settings, claim.nonce)))


async def consume(redis: Redis, settings: Settings, token: str) -> LinkClaim:
    """Validate and spend the link; a second use of the same link fails with USED."""
    claim = read_token(settings.secret_key, token)
    ttl = max(1, claim.expires_at - int(time.time()) + 60)
    first = await redis.set(_spent_key(settings, claim.nonce), b"1", nx=True, ex=ttl)
    if not first:
        raise LinkError(LinkProblem.USED)
    return claim


def signin_url(settings: Settings, member_id: str) -> str:
    return f"{settings.base_url}/my-tickets/signin/{make_token(settings.secret_key, member_id)}"
