"""What the three stand-ins share: the request gate and the app.

A stand-in is a ``SandboxPlatform``: it holds the platform's state in memory and exposes it
as an ASGI app shaped like the real API, plus control endpoints under ``/_sandbox/``. The
gate in front of the API paths applies injected latency and faults, checks the platform's
auth header, spends the rate budget and logs each call.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException

from community.sandbox.control import control_handlers
from community.sandbox.faults import CallLog, Faults, WindowQuota
from community.sandbox.shapes import Outcome, Person, Reply, SandboxHTTPError, SeedEvent
from community.sandbox.webhooks import WebhookSender

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SandboxPlatform(ABC):
    """State of one platform plus its ASGI app; subclasses provide routes and error shapes."""

    name: str
    api_prefixes: tuple[str, ...]

    def __init__(self, *, webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.faults = Faults()
        self.budget = self.default_budget()
        self.log = CallLog()
        self.webhooks = WebhookSender(webhook_transport)
        # Where this stand-in is reachable; used in URLs it hands out (webhook api_url...).
        self.public_url = "http://127.0.0.1"
        self._app: Gate | None = None

    # -- what each platform provides ------------------------------------------------------

    @abstractmethod
    def default_budget(self) -> WindowQuota: ...

    @abstractmethod
    def api_handlers(self) -> list[Any]: ...

    @abstractmethod
    def authorized(self, headers: dict[str, str], query: str) -> Reply | None:
        """None when the credentials are good; otherwise the platform's 401 reply."""

    @abstractmethod
    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply: ...

    @abstractmethod
    def rate_limited_reply(self, reset_in: float) -> Reply: ...

    @abstractmethod
    def seed_event(self, seed: SeedEvent) -> str: ...

    @abstractmethod
    def add_registration(self, event_id: str, person: Person) -> Outcome: ...

    @abstractmethod
    def cancel_registration(self, event_id: str, registration_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def check_in(self, event_id: str, registration_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def event_state(self, event_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def event_ids(self) -> list[str]: ...

    def credentials(self) -> dict[str, str]:
        return {}

    def expire_tokens(self) -> None:
        raise SandboxHTTPError(400, f"{self.name} has no expiring tokens.")

    def extra_handlers(self) -> list[Any]:
        """Routes outside the gated API (OAuth pages, deprecated endpoints)."""
        return []

    def extra_headers(self) -> dict[str, str]:
        """Headers added to every gated API answer."""
        return {}

    # -- shared -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "platform": self.name,
            "events": [self.event_state(event_id) for event_id in self.event_ids()],
            "faults": self.faults.describe(),
            "rate": self.budget.describe(),
            "calls": self.log.entries(),
            "webhooks": self.webhooks.deliveries[-100:],
        }

    @property
    def app(self) -> Gate:
        if self._app is None:
            litestar = Litestar(
                route_handlers=[
                    *self.api_handlers(),
                    *self.extra_handlers(),
                    *control_handlers(self),
                ],
                exception_handlers={
                    SandboxHTTPError: self._render_sandbox_error,
                    HTTPException: self._render_http_exception,
                    Exception: self._render_crash,
                },
                openapi_config=None,
                logging_config=None,
                debug=False,
            )
            self._app = Gate(self, litestar)
        return self._app

    def _render_sandbox_error(
        self, _: Request[Any, Any, Any], exc: SandboxHTTPError
    ) -> Response[Any]:
        return self.error_reply(exc.status, exc.message, exc.code).response()

    def _render_http_exception(
        self, _: Request[Any, Any, Any], exc: HTTPException
    ) -> Response[Any]:
        return self.error_reply(exc.status_code, str(exc.detail)).response()

    def _render_crash(self, _: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        return self.error_reply(500, "Internal error in the stand-in.").response()

    async def aclose(self) -> None:
        self.faults.release_hangs()
        await self.webhooks.aclose()


class Gate:
    """ASGI wrapper applying latency, faults, auth and the rate budget to API paths."""

    def __init__(self, platform: SandboxPlatform, app: Litestar) -> None:
        self.platform = platform
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)  # type: ignore[arg-type]
            return
        started = time.perf_counter()
        received = time.time()
        platform = self.platform
        method, path = scope["method"], scope["path"]  # before the router normalises them
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status = 0
        answered = 0.0
        rate_wait: float | None = None
        gated = path.startswith(platform.api_prefixes)

        async def logged_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = time.time()
                if gated:
                    extra = [
                        (k.lower().encode(), v.encode())
                        for k, v in platform.extra_headers().items()
                    ]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            reply, rate_wait = await self._gate(headers, scope) if gated else (None, None)
            if reply is None:
                await self.app(scope, receive, logged_send)  # type: ignore[arg-type]
            else:
                await _send_reply(logged_send, reply)
        finally:
            timing: dict[str, Any] = {"received": received, "answered": answered or time.time()}
            if rate_wait is not None:
                timing["retry_after_s"] = rate_wait
            platform.log.record(
                method,
                path,
                status,
                (time.perf_counter() - started) * 1000,
                **_call_details(headers),
                **timing,
            )

    async def _gate(
        self, headers: dict[str, str], scope: Scope
    ) -> tuple[Reply | None, float | None]:
        """The reply that stops the call here (or None), and the wait a 429 asked for."""
        platform = self.platform
        if platform.faults.latency_ms:
            await asyncio.sleep(platform.faults.latency_ms / 1000)
        fault = platform.faults.take()
        if fault is not None:
            if fault.kind == "hang":
                await platform.faults.hang()
                return platform.error_reply(504, "The stand-in hung on purpose."), None
            if fault.kind == "429":
                wait = float(max(1, math.ceil(platform.faults.rate_limit_wait_s)))
                return platform.rate_limited_reply(wait), wait
            return platform.error_reply(fault.status, "Injected server error."), None
        denied = platform.authorized(headers, scope.get("query_string", b"").decode("latin-1"))
        if denied is not None:
            return denied, None
        reset_in = platform.budget.take()
        if reset_in is not None:
            wait = float(max(1, math.ceil(reset_in)))  # whole seconds, never shorter than true
            return platform.rate_limited_reply(wait), wait
        return None, None


def _call_details(headers: dict[str, str]) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if "eventbrite-api-waypoint-token" in headers:
        details["waypoint"] = True
    return details


async def _send_reply(send: Send, reply: Reply) -> None:
    body = json.dumps(reply.body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
