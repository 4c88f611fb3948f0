"""Who is signed in, and guards that let only the right roles through.

The session holds only the user id; the user is re-read on each guarded request, so a
disabled account or a changed role takes effect at once.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession

from community.db import app_session_maker
from community.models import Role, User
from community.services.users import UserService

SESSION_USER_KEY = "uid"

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Coroutine[Any, Any, None]]


async def load_user(connection: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    cached = connection.scope.get("state", {}).get("user")
    if cached is not None:
        return cached
    raw = connection.session.get(SESSION_USER_KEY) if "session" in connection.scope else None
    if not raw:
        return None
    try:
        user_id = UUID(str(raw))
    except ValueError:
        return None
    session: AsyncSession
    async with app_session_maker(connection.app)() as session:
        user = await UserService(session=session).get_active(user_id)
    if user is not None:
        connection.state.user = user
    return user


def requires(*roles: Role) -> Guard:
    """Guard: a signed-in, active user with one of `roles`."""
    allowed = {Role(r) for r in roles}

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = await load_user(connection)
        if user is None:
            raise NotAuthorizedException("Please sign in.")
        if Role(user.role) not in allowed:
            raise PermissionDeniedException("Your account cannot open this page.")

    guard.roles = allowed  # type: ignore[attr-defined]  # read by the route-table test
    return guard


OWNER_ONLY = requires(Role.OWNER)
ORGANISERS = requires(Role.OWNER, Role.ORGANISER)
DOOR = requires(Role.OWNER, Role.ORGANISER, Role.DOOR)


async def provide_current_user(request: Any) -> User:
    user = await load_user(request)
    if user is None:
        raise NotAuthorizedException("Please sign in.")
    return user
