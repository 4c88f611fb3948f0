"""Server-side sessions for signed-in people only.

Litestar's own backend writes a session (a Redis key and a cookie) for every request that
passes its middleware, and keeps whatever id the browser sends. Here:

- a session starts only through `start_session` (admin sign-in, the welcome/reset link, the
  "my tickets" confirmation); anonymous requests never write Redis or get a session cookie;
- every start issues a fresh id and deletes the previous one (no session fixation);
- an id that is not in the store is ignored, never adopted;
- an unchanged session is not written back; its expiry is renewed on read.

Paths that never need a session skip the middleware altogether (`SESSION_EXCLUDE`).
"""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.types import Empty, Message, ScopeSession
from litestar.utils.dataclass import extract_dataclass_items

# Anchored: a pattern matched anywhere would exempt an event slug such as "healthz-party".
SESSION_EXCLUDE = [
    r"^/healthz$",
    r"^/static/",
    r"^/api/",
    r"^/door/api/",
    r"^/webhooks/",
    r"^/_sandbox/",
    r"^/robots\.txt$",
    r"^/sitemap\.xml$",
]
CSRF_EXCLUDE = [r"^/api/", r"^/webhooks/", r"^/door/api/", r"^/healthz$", r"^/_sandbox/"]

SESSION_ID_KEY = "sid"  # a random id of this sign-in, safe to show (not the cookie value)
_LOADED = "community.session.loaded"  # (id, raw bytes) found in the store for this request
_START = "community.session.start"  # set by start_session: issue a new id


def _scope_extras(connection: ASGIConnection[Any, Any, Any, Any]) -> MutableMapping[str, Any]:
    """The request's scope as the plain dict it is, for this module's own keys: Litestar types
    the scope as a closed TypedDict, while ASGI lets a middleware add keys to it."""
    return cast("MutableMapping[str, Any]", connection.scope)


def start_session(connection: ASGIConnection[Any, Any, Any, Any], data: dict[str, Any]) -> str:
    """Sign in: replace the session with `data` under a new id; returns the sign-in's `sid`
    (kept if `data` carries one: the same sign-in gained a privilege)."""
    sid = str(data.get(SESSION_ID_KEY) or secrets.token_hex(16))
    connection.scope["session"] = {**data, SESSION_ID_KEY: sid}
    _scope_extras(connection)[_START] = True
    return sid


class SignedInSessionBackend(ServerSideSessionBackend):
    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        session_id = connection.cookies.get(self.config.key)
        if not session_id or len(session_id) > 128:
            return {}
        store = self.config.get_store_from_app(connection.scope["app"])
        raw = await self.get(session_id, store=store)
        if raw is None:
            return {}  # never issued, expired or ended: not adopted
        _scope_extras(connection)[_LOADED] = (session_id, raw)
        return self.deserialize_data(raw)

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        loaded: tuple[str, bytes] | None = _scope_extras(connection).get(_LOADED)
        return loaded[0] if loaded else ""

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        scope = connection.scope
        loaded: tuple[str, bytes] | None = _scope_extras(connection).get(_LOADED)
        starting = bool(_scope_extras(connection).get(_START))
        store = self.config.get_store_from_app(scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        params = dict(
            extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
        )

        if scope_session is Empty or not scope_session:
            if loaded is not None:
                await self.delete(loaded[0], store=store)
            if loaded is not None or connection.cookies.get(self.config.key):
                cookie = Cookie(value="null", key=self.config.key, expires=0, **params)
                headers.add("Set-Cookie", cookie.to_header(header=""))
            return
        if loaded is None and not starting:
            return  # anonymous visitors get no session, whatever a handler put in it
        data = self.serialize_data(scope_session, scope)
        if loaded is not None and not starting:
            if data != loaded[1]:
                await self.set(loaded[0], data, store=store)
            session_id = loaded[0]
        else:
            if loaded is not None:
                await self.delete(loaded[0], store=store)
            session_id = self.generate_session_id()
            await self.set(session_id, data, store=store)
        headers.add(
            "Set-Cookie",
            Cookie(value=session_id, key=self.config.key, **params).to_header(header=""),
        )


class SignedInSessionConfig(ServerSideSessionConfig):
    _backend_class = SignedInSessionBackend
