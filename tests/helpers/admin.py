"""Helpers of the admin tests: a live server for the browser and its client, the event form."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import uvicorn
from litestar import Litestar
from litestar.testing import AsyncTestClient

from community.config import Settings
from community.models import Event, User
from community.services.seats.results import Registered
from tests.helpers.mirror import eventually
from tests.helpers.web import TEST_PASSWORD, csrf_token

MakeEvent = Callable[..., Awaitable[Event]]
Register = Callable[..., Awaitable[Registered]]
Client = AsyncTestClient[Litestar]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns the signals
        pass


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[str]:
    """The whole app on a loopback port in this event loop (so it can call the stand-ins,
    which run in this loop too). Yields its base URL."""
    from community.app import create_app

    port = free_port()
    settings = replace(settings, base_url=f"http://127.0.0.1:{port}")
    app: Litestar = create_app(settings)
    server = _QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        yield settings.base_url
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class LiveClient(httpx.AsyncClient):
    """A browser-like HTTP client for the live server: cookies, CSRF header, sign-in."""

    async def csrf(self) -> str:
        if "csrftoken" not in self.cookies:
            await self.get("/login")
        return self.cookies.get("csrftoken") or ""

    async def form(self, url: str, data: dict[str, str], **kw: Any) -> httpx.Response:
        return await self.post(url, data=data, headers={"x-csrftoken": await self.csrf()}, **kw)

    async def sign_in(self, user: User) -> None:
        response = await self.form("/login", {"email": user.email, "password": TEST_PASSWORD})
        assert response.status_code == 303, response.text


EVENT_FORM = {
    "title": "Python Evening",
    "summary": "Talks and pizza",
    "description_md": "Hello **world**",
    "starts_at": "2031-03-05T18:30",
    "ends_at": "2031-03-05T21:00",
    "timezone": "Europe/Berlin",
    "venue_name": "Factory",
    "city": "Berlin",
    "country": "de",
    "capacity": "100",
    "native_reserve": "40",
    "soldout_mode": "waitlist",
    "theme": "luma",
    "price": "12,50",
    "currency": "eur",
}


async def post_admin_form(client: Client, url: str, data: dict[str, str], **kw: Any) -> Any:
    token = await csrf_token(client)
    return await client.post(url, data=data, headers={"x-csrftoken": token}, **kw)
