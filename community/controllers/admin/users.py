"""The owner's page for accounts: invite with a one-time link, disable, enable, reset; and the
public page where the link's holder chooses a password."""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import OWNER_ONLY, sign_in
from community.config import Settings
from community.controllers.admin.common import current_user, flash, form_dict, page
from community.controllers.auth import home_for
from community.models import Role, User
from community.services.access.invitations import LINK_TTL_SECONDS, Invitations
from community.services.access.passwords import hash_password, password_problem
from community.services.access.users import UserError, UserService

ROLE_LABELS = {
    Role.OWNER: ("Owner", "Everything, including these accounts"),
    Role.ORGANISER: ("Organiser", "Events, members, platforms"),
    Role.DOOR: ("Door staff", "Check-in only"),
}


async def _users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.is_active.desc(), User.name)))


async def _active_owners(session: AsyncSession) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.OWNER, User.is_active.is_(True))
        )
        or 0
    )


class UsersController(Controller):
    path = "/admin/users"
    guards = [OWNER_ONLY]
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        link: str = "",
        link_for: User | None = None,
        status_code: int = 200,
    ) -> Template:
        return await page(
            request,
            "admin/users/list.html",
            section="users",
            status_code=status_code,
            users=await _users(session),
            values=values or {"name": "", "email": "", "role": Role.ORGANISER},
            errors=errors or {},
            roles=ROLE_LABELS,
            link=link,
            link_for=link_for,
            link_hours=LINK_TTL_SECONDS // 3600,
        )

    @get("/", name="admin:users")
    async def list_users(
        self, request: Request[Any, Any, Any], db_session: AsyncSession
    ) -> Template:
        return await self._page(request, db_session)

    @post("/", name="admin:user_invite")
    async def invite(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
    ) -> Template:
        form = await form_dict(request)
        values = {k: form.get(k, "").strip() for k in ("name", "email", "role")}
        try:
            # A random password nobody knows: the person sets their own through the link.
            user = await UserService(session=db_session).create_user(
                email=values["email"],
                name=values["name"],
                password=secrets.token_urlsafe(24),
                role=values["role"] or Role.ORGANISER,
            )
        except UserError as exc:
            return await self._page(
                request, db_session, values=values, errors={exc.field: exc.message}, status_code=422
            )
        token = await Invitations(redis, settings.redis_prefix).create(user.id)
        return await self._page(
            request,
            db_session,
            link=f"{settings.base_url}/welcome/{token}",
            link_for=user,
            status_code=201,
        )

    async def _user(self, session: AsyncSession, user_id: UUID) -> User:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFoundException("There is no such account.")
        return user

    @post("/{user_id:uuid}/disable", name="admin:user_disable")
    async def disable(
        self, request: Request[Any, Any, Any], user_id: UUID, db_session: AsyncSession
    ) -> Redirect:
        user = await self._user(db_session, user_id)
        me = await current_user(request)
        if user.id == me.id:
            flash(request, "You cannot disable your own account.", "error")
        elif user.role == Role.OWNER and user.is_active and await _active_owners(db_session) <= 1:
            flash(request, "This is the last active owner; make someone else owner first.", "error")
        else:
            user.is_active = False
            flash(request, f"{user.name} can no longer sign in. Their sessions end at once.")
        return Redirect("/admin/users")

    @post("/{user_id:uuid}/enable", name="admin:user_enable")
    async def enable(
        self, request: Request[Any, Any, Any], user_id: UUID, db_session: AsyncSession
    ) -> Redirect:
        user = await self._user(db_session, user_id)
        user.is_active = True
        flash(request, f"{user.name} can sign in again.")
        return Redirect("/admin/users")

    @post("/{user_id:uuid}/reset", name="admin:user_reset")
    async def reset_link(
        self,
        request: Request[Any, Any, Any],
        user_id: UUID,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
    ) -> Template:
        user = await self._user(db_session, user_id)
        token = await Invitations(redis, settings.redis_prefix).create(user.id)
        return await self._page(
            request, db_session, link=f"{settings.base_url}/welcome/{token}", link_for=user
        )


class WelcomeController(Controller):
    """Anyone holding a valid link may set that account's password, once."""

    path = "/welcome"
    include_in_schema = False

    @get("/{token:str}", name="welcome", cache=False)
    async def form(
        self, token: str, db_session: AsyncSession, redis: Redis, settings: Settings
    ) -> Template:
        user_id = await Invitations(redis, settings.redis_prefix).peek(token)
        user = await db_session.get(User, user_id) if user_id else None
        if user is not None and not user.is_active:
            user = None  # a disabled account stays disabled, whatever links are around
        return Template(
            "admin/users/welcome.html",
            context={"user": user, "valid": user is not None, "error": "", "token": token},
            status_code=200 if user else 410,
        )

    @post("/{token:str}", name="welcome_post", status_code=303)
    async def set_password(
        self,
        request: Request[Any, Any, Any],
        token: str,
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
    ) -> Template | Redirect:
        invitations = Invitations(redis, settings.redis_prefix)
        user_id = await invitations.peek(token)
        user = await db_session.get(User, user_id) if user_id else None
        if user is None or not user.is_active:
            return Template(
                "admin/users/welcome.html",
                context={"user": None, "valid": False, "error": "", "token": ""},
                status_code=410,
            )
        form = await form_dict(request)
        password, again = form.get("password", ""), form.get("password_again", "")
        problem = password_problem(password)
        if problem is None and password != again:
            problem = "The two passwords are not the same."
        if problem is not None:
            return Template(
                "admin/users/welcome.html",
                context={"user": user, "valid": True, "error": problem, "token": token},
                status_code=422,
            )
        if await invitations.consume(token) != user.id:  # used in another tab meanwhile
            return Redirect("/login", status_code=303)
        user.password_hash = hash_password(password)
        # A new password ends every other session and door token of the account.
        user.session_version += 1
        await db_session.commit()
        sign_in(request, user)
        return Redirect(home_for(user.role), status_code=303)
