"""Sign in and out of the admin and the door page."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from msgspec import Struct
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import load_user, sign_in, sign_out
from community.config import Settings
from community.models import Role
from community.services.access.limiter import wait_text
from community.services.access.login_throttle import Throttle
from community.services.access.users import UserService
from community.services.people.members import MAX_EMAIL


class LoginForm(Struct):
    email: str = ""
    password: str = ""
    next: str = ""


def safe_next(target: str, default: str) -> str:
    """Only local paths, so the sign-in form cannot bounce people to another site."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def home_for(role: str) -> str:
    return "/door" if role == Role.DOOR else "/admin"


class AuthController(Controller):
    include_in_schema = False

    @get("/login", cache=False)
    async def login_page(self, request: Request[Any, Any, Any], next: str = "") -> Template:
        user = await load_user(request)
        return Template(
            "auth/login.html", context={"next": next, "error": "", "email": "", "user": user}
        )

    @post("/login", status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        redis: Redis,
        settings: Settings,
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        throttle = Throttle(redis, settings.redis_prefix)
        address = request.client.host if request.client else "unknown"
        context = {"next": data.next, "email": data.email[:MAX_EMAIL], "user": None}
        if wait := await throttle.retry_after(data.email, address):
            return Template(
                "auth/login.html",
                context={
                    **context,
                    "error": "Too many failed sign-ins. "
                    f"Try again in {wait_text(wait)}, or ask the owner to reset your password.",
                },
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        user = None
        if 0 < len(data.email) <= MAX_EMAIL and 0 < len(data.password) <= 256:
            user = await UserService(session=db_session).authenticate(data.email, data.password)
        if user is None:
            await throttle.failed(data.email, address)
            return Template(
                "auth/login.html",
                context={
                    **context,
                    "error": "That email and password do not match an active account.",
                },
                status_code=400,
            )
        await throttle.succeeded(data.email, address)
        sign_in(request, user)
        return Redirect(safe_next(data.next, home_for(user.role)), status_code=303)

    @post("/logout", status_code=303)
    async def logout(
        self, request: Request[Any, Any, Any], redis: Redis, settings: Settings
    ) -> Redirect:
        await sign_out(request, redis, settings.redis_prefix)
        return Redirect("/login", status_code=303)
