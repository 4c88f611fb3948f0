"""Security headers on every response: a Content-Security-Policy without inline script,
no framing outside the public event pages, no MIME sniffing, and no caching of the admin
and the door (their pages show people's names and e-mail addresses).

The checkout step (`/checkout/<token>`, and nothing else) may also load Stripe.js and let it
talk to Stripe: the origins come from the settings (Stripe's own, or the local stand-in's)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from urllib.parse import urlsplit

from litestar.types import Scope

from community.config import DEFAULT_STRIPE_JS_URL, StripeSettings

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
Header = tuple[bytes, bytes]


# The checkout step itself; its return page and status poll need no Stripe.
CHECKOUT_STEP = re.compile(r"^/checkout/[A-Za-z0-9_-]{1,64}$")
# Stripe's published requirements for Stripe.js (script, its frames, its API calls).
LIVE_STRIPE = {
    "script": "https://js.stripe.com https://*.js.stripe.com",
    "frame": "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com",
    "connect": "https://api.stripe.com",
}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@cache
def checkout_policy(stripe: StripeSettings) -> str:
    """The page policy plus Stripe.js's origins, for the checkout step only."""
    if stripe.js_url == DEFAULT_STRIPE_JS_URL:
        script, frame, connect = LIVE_STRIPE["script"], LIVE_STRIPE["frame"], LIVE_STRIPE["connect"]
    else:  # a stand-in serves both its API and its Stripe.js
        script = frame = _origin(stripe.js_url)
        connect = _origin(stripe.api_base)
    return (
        f"default-src 'self'; script-src 'self' {script}; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob: https:; font-src 'self' data:; connect-src 'self' {connect}; "
        f"frame-src {frame}; worker-src 'self' blob:; manifest-src 'self'; object-src 'none'; "
        "base-uri 'self'; frame-ancestors 'none'"
    )


def _policy(scope: Scope, path: str, framed: bool) -> str:
    if CHECKOUT_STEP.match(path):
        settings = getattr(scope.get("app"), "state", {}).get("settings")
        if settings is not None:
            return checkout_policy(settings.stripe)
    return POLICY if framed else NOT_FRAMED


def _private(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PRIVATE_PREFIXES)


@cache
def _headers(policy: str, framed: bool, private: bool) -> tuple[list[Header], frozenset[bytes]]:
    """The headers to add, and their names; built once per kind of page, not per request."""
    added = [(_CSP, policy.encode()), (b"x-content-type-options", b"nosniff")]
    if not framed:
        added.append((b"x-frame-options", b"DENY"))
    if private:
        added.append((_CACHE, b"no-store"))
    return added, frozenset(name for name, _ in added)


def headers_for(scope: Scope) -> tuple[list[Header], frozenset[bytes]]:
    """The headers this request's answer gets, and their names (community.edge adds them to
    every answer, shed and outage answers included)."""
    path: str = scope["path"]
    framed = path.startswith(FRAMEABLE_PREFIXES)
    return _headers(_policy(scope, path, framed), framed, _private(path))


def with_headers(
    headers: Iterable[Header], added: list[Header], replaced: frozenset[bytes]
) -> list[Header]:
    return [(name, value) for name, value in headers if name.lower() not in replaced] + added
