"""Who is signed in, and guards that let only the right roles through.

The session holds the user id, the account's session version at sign-in and a random id of
the sign-in (`sid`); the user is re-read on each guarded request, so a disabled account, a
changed role or a password reset (which raises the session version) takes effect at once.

The door's JSON API is the exception, for speed: it is kept out of the session middleware
(no session read from and written back to Redis on every scan). The door page asks for a
short-lived door token (`DoorTokens`, an HMAC over user id, role, session version, sign-in
id and expiry) and sends it
with each API call; the API then re-reads the user at most every few seconds per process
(see community.services.door.staff.active_user_cached), so a disabled account is refused
within that bound rather than at once. Without a token the API still accepts the session
cookie, read (not written back) from the store, with the user re-read on every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.session.server_side import (
    ServerSideSessionConfig,
)
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from community import redis_keys
from community.db import app_session_maker
from community.models import Role, User
from community.services.access.users import UserService
from community.sessions import SESSION_ID_KEY, start_session

SESSION_USER_KEY = "uid"
SESSION_VERSION_KEY = "sv"
DOOR_TOKEN_HEADER = "x-door-token"
DOOR_TOKEN_SECONDS = 15 * 60


async def load_user(connection: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    cached: User | None = connection.scope.get("state", {}).get("user")  # set below
    if cached is not None:
        return cached
    data = connection.session if "session" in connection.scope else {}
    claim = session_claim(data)
    if claim is None:
        return None
    session: AsyncSession
    async with app_session_maker(connection.app)() as session:
        user = await UserService(session=session).get_active(claim.user_id)
    if user is None or user.session_version != claim.version:
        return None  # disabled, or signed in before a password reset
    connection.state.user = user
    return user


def sign_in(connection: ASGIConnection[Any, Any, Any, Any], user: User) -> None:
    """Start a new session (under a new id) for `user`, replacing whatever was there."""
    start_session(
        connection, {SESSION_USER_KEY: str(user.id), SESSION_VERSION_KEY: user.session_version}
    )
    connection.scope.get("state", {}).pop("user", None)


async def sign_out(
    connection: ASGIConnection[Any, Any, Any, Any], redis: Redis, prefix: str
) -> None:
    """End this session, and the door tokens issued from it (they outlive it by up to
    DOOR_TOKEN_SECONDS otherwise)."""
    if "session" in connection.scope and (sid := connection.session.get(SESSION_ID_KEY)):
        await redis.set(_signed_out_key(prefix, str(sid)), b"1", ex=DOOR_TOKEN_SECONDS)
    connection.clear_session()


async def is_signed_out(redis: Redis, prefix: str, sid: str) -> bool:
    return bool(await redis.exists(_signed_out_key(prefix, sid)))


def _signed_out_key(prefix: str, sid: str) -> str:
    return redis_keys.signed_out(prefix, sid)


@dataclass(frozen=True, slots=True)
class SessionClaim:
    user_id: UUID
    version: int
    sid: str


def session_claim(data: dict[str, Any]) -> SessionClaim | None:
    """Who a session's data says is signed in, or None."""
    raw = data.get(SESSION_USER_KEY)
    if not raw:
        return None
    try:
        return SessionClaim(
            UUID(str(raw)),
            int(data.get(SESSION_VERSION_KEY) or 0),
            str(data.get(SESSION_ID_KEY, "")),
        )
    except ValueError:
        return None


class RoleGuard:
    """Guard: a signed-in, active user with one of `roles` (the route-table test reads them)."""

    def __init__(self, *roles: Role) -> None:
        self.roles = {Role(r) for r in roles}

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:
        user = await load_user(connection)
        if user is None:
            raise NotAuthorizedException("Please sign in.")
        if Role(user.role) not in self.roles:
            raise PermissionDeniedException("Your account cannot open this page.")


def requires(*roles: Role) -> RoleGuard:
    """Guard: a signed-in, active user with one of `roles`."""
    return RoleGuard(*roles)


OWNER_ONLY = requires(Role.OWNER)
ORGANISERS = requires(Role.OWNER, Role.ORGANISER)
DOOR = requires(Role.OWNER, Role.ORGANISER, Role.DOOR)


async def session_user(connection: ASGIConnection[Any, Any, Any, Any]) -> SessionClaim | None:
    """The session's claim, also on paths the session middleware skips.

    There the session is read from the store directly (and not written back: its expiry is
    renewed by the pages and /door/token, which do go through the middleware).
    """
    if "session" in connection.scope:
        data: dict[str, Any] = connection.session
    else:
        config: ServerSideSessionConfig | None = connection.app.state.get("session_config")
        if config is None or not connection.cookies.get(config.key):
            return None
        data = await config._backend_class(config=config).load_from_connection(connection)
    return session_claim(data)


@dataclass(frozen=True, slots=True)
class DoorClaim:
    user_id: UUID
    role: str
    expires_at: int
    session_version: int = 0
    sid: str = ""


class DoorTokens:
    """Short-lived bearer tokens for the door API:
    `v2.<user id>.<role>.<session version>.<sign-in id>.<expiry>.<HMAC>`.

    Signed with a key derived from SECRET_KEY for this purpose only. The token says who was
    signed in, from which sign-in, and until when. The API refuses it once that sign-in has
    ended (`sign_out`), and checks against the database whether the account is still active,
    its role now and its session version (within a few seconds, see the module doc).
    """

    VERSION = "v2"

    def __init__(self, secret_key: str) -> None:
        self._key = hmac.new(secret_key.encode(), b"community/door-token/v1", "sha256").digest()
        self._genuine: dict[str, DoorClaim] = {}  # tokens whose HMAC was checked already

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(
        self,
        user_id: UUID,
        role: str,
        *,
        session_version: int = 0,
        sid: str = "",
        seconds: int = DOOR_TOKEN_SECONDS,
        now: float | None = None,
    ) -> str:
        expires_at = int(now if now is not None else time.time()) + seconds
        if not sid.isalnum() and sid:
            raise ValueError("a sign-in id is letters and digits")
        body = f"{self.VERSION}.{user_id.hex}.{role}.{session_version}.{sid}.{expires_at}"
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, *, now: float | None = None) -> DoorClaim | None:
        """The claim of a genuine, unexpired token; None for anything else."""
        claim = self._genuine.get(token)
        if claim is None:
            claim = self._check(token)
            if claim is None:
                return None
            if len(self._genuine) >= 1000:
                self._genuine.clear()
            self._genuine[token] = claim  # a door sends the same token for minutes
        if claim.expires_at <= (now if now is not None else time.time()):
            return None
        return claim

    def _check(self, token: str) -> DoorClaim | None:
        body, _, mac = token.rpartition(".")
        if len(token) > 200 or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        parts = body.split(".")
        if len(parts) != 6 or parts[0] != self.VERSION:
            return None  # a v1 token from before an upgrade: the page fetches a new one
        _, user_hex, role, session_version, sid, expiry = parts
        return DoorClaim(
            user_id=UUID(hex=user_hex),
            role=role,
            expires_at=int(expiry),
            session_version=int(session_version),
            sid=sid,
        )


@lru_cache(maxsize=4)
def door_tokens(secret_key: str) -> DoorTokens:
    return DoorTokens(secret_key)
