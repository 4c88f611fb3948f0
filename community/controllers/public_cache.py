"""The shared copy of public pages: rendered once per version, kept by browsers and CDNs.

A page that carries nothing personal is the same for every visitor, so it is rendered once
per version of what it shows and answered from memory after that, with `Cache-Control:
public` and validators (ETag, Last-Modified) so a browser or a CDN revalidates it with a
cheap 304. Whether a request may get the shared copy is decided in one place,
`shared_cacheable`: a visitor carrying anything personal (a session, a registration of
theirs) gets their own rendering instead.
"""

from __future__ import annotations

import gzip
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from litestar import MediaType, Request, Response
from litestar.utils.scope.state import ScopeState

from community.controllers.public_render import etag_for, not_modified
from community.services.access import visitor_places

# Cookies that make a page personal. Someone adding a personal variant of a public page
# (e.g. "you're going") adds its cookie here, and its visitors skip the shared copy.
PERSONAL_COOKIES: list[str] = ["session", visitor_places.COOKIE]
# A CDN may serve the shared copy for a few seconds, then must ask again (a 304 when nothing
# changed). The live seat count has its own never-cached fragment, refreshed by the page.
SHARED = "public, max-age=10, must-revalidate"
MAX_PAGES = 512


def shared_cacheable(request: Request[Any, Any, Any]) -> bool:
    """Whether this request may be answered with the page everyone gets."""
    if request.method not in ("GET", "HEAD") or request.headers.get("hx-request"):
        return False
    return not any(name in request.cookies for name in PERSONAL_COOKIES)


@dataclass(frozen=True)
class SharedPage:
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: str
    status_code: int

    @classmethod
    def of(cls, body: str, status_code: int) -> SharedPage:
        raw = body.encode()
        return cls(
            body=raw,
            gzipped=gzip.compress(raw, compresslevel=6),
            etag=etag_for(raw),
            last_modified=format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True),
            status_code=status_code,
        )


class SharedPages:
    """Rendered pages by version key, the least recently used forgotten first."""

    def __init__(self, size: int = MAX_PAGES) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, SharedPage] = OrderedDict()
        self.renders = 0  # how many times a page was rendered (tests, benchmarks)

    def get(self, key: Hashable) -> SharedPage | None:
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, page: SharedPage) -> SharedPage:
        self.renders += 1
        self._pages[key] = page
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)
        return page


def _unchanged_since(request: Request[Any, Any, Any], page: SharedPage) -> bool:
    if "if-none-match" in request.headers:  # the stronger validator wins (RFC 9110)
        return not_modified(request, page.etag)
    since = request.headers.get("if-modified-since")
    if not since:
        return False
    try:
        return parsedate_to_datetime(page.last_modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


def shared_response(request: Request[Any, Any, Any], page: SharedPage) -> Response[Any]:
    headers = {
        "cache-control": SHARED,
        "vary": "Accept-Encoding, Cookie, HX-Request",
        "etag": page.etag,
        "last-modified": page.last_modified,
    }
    if page.status_code == 200 and _unchanged_since(request, page):
        return Response(b"", status_code=304, headers=headers)
    body = page.body
    if "gzip" in request.headers.get("accept-encoding", ""):
        # Compressed once when rendered; the compression middleware lets a cached body pass.
        body = page.gzipped
        headers["content-encoding"] = "gzip"
        ScopeState.from_scope(request.scope).is_cached = True
    return Response(body, status_code=page.status_code, media_type=MediaType.HTML, headers=headers)


def shared_pages(request: Request[Any, Any, Any]) -> SharedPages:
    """This app's shared pages (one store per app, so per web process)."""
    state = request.app.state
    pages = state.get("shared_pages")
    if pages is None:
        pages = state["shared_pages"] = SharedPages()
    return pages  # type: ignore[no-any-return]
