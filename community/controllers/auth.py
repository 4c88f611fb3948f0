"""Sign in and out of the admin and the door page."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import SESSION_USER_KEY, load_user
from community.models import Role
from community.services.users import UserService


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
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        user = None
        if 0 < len(data.email) <= 320 and 0 < len(data.password) <= 256:
            user = await UserService(session=db_session).authenticate(data.email, data.password)
        if user is None:
            return Template(
                "auth/login.html",
                context={
                    "next": data.next,
                    "email": data.email[:320],
                    "error": "That email and password do not match an active account.",
                    "user": None,
                },
                status_code=400,
            )
        request.clear_session()
        request.set_session({SESSION_USER_KEY: str(user.id)})
        return Redirect(safe_next(data.next, home_for(user.role)), status_code=303)

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/login", status_code=303)
