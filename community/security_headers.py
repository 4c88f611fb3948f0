"""Security headers on every response: a Content-Security-Policy without inline script,
no framing outside the public event pages, no MIME sniffing, and no caching of the admin
and the door (their pages show people's names and e-mail addresses)."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# Styles may be inline (style attributes in templates, htmx's indicator style); scripts may
# not: every script is a file under /static. Cover images may come from any https host. The
# event page's map is OpenStreetMap's embed, framed only once the person asks for it.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: https:; font-src 'self' data:; connect-src 'self'; "
    "frame-src https://www.openstreetmap.org; "
    "worker-src 'self' blob:; manifest-src 'self'; object-src 'none'; base-uri 'self'"
)
NOT_FRAMED = POLICY + "; frame-ancestors 'none'"
# Event pages may be embedded in an organiser's or a group's own site.
FRAMEABLE_PREFIXES = ("/events/",)
PRIVATE_PREFIXES = ("/admin", "/door")

_CSP = b"content-security-policy"
_CACHE = b"cache-control"


def _private(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PRIVATE_PREFIXES)


def security_headers(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        path: str = scope["path"]
        framed = path.startswith(FRAMEABLE_PREFIXES)
        added = [
            (_CSP, (POLICY if framed else NOT_FRAMED).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        if not framed:
            added.append((b"x-frame-options", b"DENY"))
        private = _private(path)
        if private:
            added.append((_CACHE, b"no-store"))
        replaced = {name for name, _ in added}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in replaced
                ]
                message["headers"] = [*headers, *added]
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
