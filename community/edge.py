"""What every answer goes through, of the full app and of the API lane alike, as one ASGI
middleware: the security headers on every answer (shed and outage answers included), who the
client is behind trusted proxies, overload shed before any work, the request log, and the 503
for an outage met on the way out.

Each is decided in its own module (security_headers, forwarded, load_shedding, logs,
outage_errors); here they run in one frame with one wrapped `send`, where five middlewares
passed every request through five layers and its messages through two wrappers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from community.config import Settings
from community.forwarded import client_rewriter
from community.load_shedding import NEVER_SHED, InFlight, shed
from community.logs import log_request, logs_requests
from community.outage_errors import answer_outage, outage_in
from community.security_headers import headers_for, with_headers


def edge(settings: Settings, in_flight: InFlight) -> Callable[[ASGIApp], ASGIApp]:
    rewrite_client = client_rewriter(settings.trusted_proxies)

    def middleware(app: ASGIApp) -> ASGIApp:
        async def edge_app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                if scope["type"] == ScopeType.WEBSOCKET and rewrite_client is not None:
                    rewrite_client(scope)
                await app(scope, receive, send)
                return
            if rewrite_client is not None:
                rewrite_client(scope)
            added, replaced = headers_for(scope)
            status = 500
            started = False

            async def answer(message: Message) -> None:
                nonlocal status, started
                if message["type"] == "http.response.start":
                    started = True
                    status = message["status"]
                    message["headers"] = with_headers(message.get("headers", ()), added, replaced)
                await send(message)

            counted = not scope["path"].startswith(NEVER_SHED)
            if counted:
                if in_flight.count >= in_flight.limit:
                    await shed(scope, answer)
                    return
                in_flight.count += 1
            begun = time.perf_counter() if logs_requests() else 0.0
            try:
                await app(scope, receive, answer)
            except Exception as exc:
                outage = outage_in(exc)
                if started or outage is None:
                    raise
                await answer_outage(scope, exc, outage, answer)
            finally:
                if counted:
                    in_flight.count -= 1
                if begun:
                    log_request(scope, status, begun)

        return edge_app

    return middleware
