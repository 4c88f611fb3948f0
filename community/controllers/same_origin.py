"""CSRF protection for the public forms (register, send my ticket again) without a token.

Their page is shared: it is rendered once and may be kept by a CDN, so it cannot carry a
per-visitor token, and anonymous visitors get no server session. Instead the browser says
where a form post comes from, and only our own pages are accepted:
- `Sec-Fetch-Site` (every current browser sends it): `same-origin`, or `none` (the person
  typed or bookmarked it), else refused;
- without it, `Origin` must be this site (BASE_URL's, or the Host the request came to);
- with neither, the client is not a browser acting for someone else (old browsers without
  both are no longer in use), so there is nobody to forge a request for.
The admin, the door and the signed-in pages keep Litestar's token-based CSRF.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler

# Route option that also keeps Litestar's token CSRF (CSRFConfig.exclude_from_csrf_key) away.
PUBLIC_FORM = {"exclude_from_csrf": True}
ALLOWED_SITES = frozenset({"same-origin", "none"})
REFUSED = "This form can only be sent from this site's own page. Please reload it and try again."


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def same_origin_only(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    headers = connection.headers
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site.lower() not in ALLOWED_SITES:
            raise PermissionDeniedException(detail=REFUSED)
        return
    origin = headers.get("origin")
    if origin is None:
        return
    own = {_origin(connection.app.state["settings"].base_url)}
    host = headers.get("host")
    if host:
        own.add(f"{connection.url.scheme}://{host}".lower())
    if origin.lower() not in own:
        raise PermissionDeniedException(detail=REFUSED)
