"""Platform accounts per organiser: connect (OAuth or a pasted key), see the state, disconnect."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import ORGANISERS
from community.config import Settings
from community.controllers.admin.common import current_user, flash, form_dict, page
from community.models import PLATFORM_LABELS
from community.services.mirror import platform_accounts as accounts
from community.services.mirror.platform_accounts import ConnectError

STATE_KEY = "oauth_state"


def _platform(name: str) -> str:
    if name not in PLATFORM_LABELS:
        raise NotFoundException("There is no such platform.")
    return name


class AccountsController(Controller):
    path = "/admin/accounts"
    guards = [ORGANISERS]
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        settings: Settings,
        *,
        errors: dict[str, dict[str, str]] | None = None,
        status_code: int = 200,
    ) -> Template:
        user = await current_user(request)
        return await page(
            request,
            "admin/accounts/list.html",
            section="accounts",
            status_code=status_code,
            connections=await accounts.connections(session, settings, user),
            errors=errors or {},
            sandbox=settings.platform_mode == "sandbox",
        )

    @get("/", name="admin:accounts")
    async def list_accounts(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, settings: Settings
    ) -> Template:
        return await self._page(request, db_session, settings)

    @get("/{platform:str}/connect", name="admin:account_connect")
    async def start_oauth(
        self, request: Request[Any, Any, Any], platform: str, settings: Settings
    ) -> Redirect:
        platform = _platform(platform)
        try:
            url, state = accounts.start_oauth(settings, platform)
        except ConnectError as exc:
            flash(request, exc.message, "error")
            return Redirect("/admin/accounts")
        # Tied to this browser's session: a callback without it is someone else's.
        request.session[STATE_KEY] = {"platform": platform, "state": state}
        return Redirect(url)

    @get("/{platform:str}/callback", name="admin:account_callback", cache=False)
    async def finish_oauth(
        self,
        request: Request[Any, Any, Any],
        platform: str,
        db_session: AsyncSession,
        settings: Settings,
        code: str = "",
        oauth_state: Annotated[str, Parameter(query="state")] = "",
        error: str = "",
    ) -> Redirect:
        platform = _platform(platform)
        label = PLATFORM_LABELS[platform]
        expected = request.session.pop(STATE_KEY, None) or {}
        if error:
            flash(
                request, f"{label} did not connect: you or {label} declined the request.", "error"
            )
            return Redirect("/admin/accounts")
        if expected.get("platform") != platform or not hmac.compare_digest(
            str(expected.get("state", "")), oauth_state[:200]
        ):
            flash(
                request,
                f"That {label} sign-in did not start here or took too long; connect again.",
                "error",
            )
            return Redirect("/admin/accounts")
        try:
            account = await accounts.finish_oauth(
                db_session, settings, await current_user(request), platform, code
            )
        except ConnectError as exc:
            flash(request, exc.message, "error")
            return Redirect("/admin/accounts")
        flash(request, f"{label} is connected as {account.display_name}.")
        return Redirect("/admin/accounts")

    @post("/{platform:str}/key", name="admin:account_key")
    async def connect_with_key(
        self,
        request: Request[Any, Any, Any],
        platform: str,
        db_session: AsyncSession,
        settings: Settings,
    ) -> Template | Redirect:
        platform = _platform(platform)
        form = await form_dict(request)
        try:
            account = await accounts.connect_with_secret(
                db_session, settings, await current_user(request), platform, form.get("secret", "")
            )
        except ConnectError as exc:
            return await self._page(
                request,
                db_session,
                settings,
                errors={platform: {"secret": exc.message}},
                status_code=422,
            )
        flash(request, f"{PLATFORM_LABELS[platform]} is connected as {account.display_name}.")
        return Redirect("/admin/accounts")

    @post("/{platform:str}/disconnect", name="admin:account_disconnect")
    async def disconnect(
        self,
        request: Request[Any, Any, Any],
        platform: str,
        db_session: AsyncSession,
    ) -> Redirect:
        platform = _platform(platform)
        user = await current_user(request)
        account = await accounts.active_account(db_session, user.id, platform)
        if account is None:
            flash(request, f"{PLATFORM_LABELS[platform]} was not connected.", "error")
        else:
            await accounts.disconnect(db_session, account)
            flash(
                request,
                f"{PLATFORM_LABELS[platform]} is disconnected and its keys are deleted. Listings "
                "that used it stop syncing until you connect again.",
            )
        return Redirect("/admin/accounts")
