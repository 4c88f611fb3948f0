"""Rendering for the public pages: theme choice, inlined theme CSS, validators for caching.

Pages are rendered to a string first so that a weak ETag can be taken from the exact bytes:
a browser that already has this version gets an empty 304 instead of the page again.
"""

from __future__ import annotations

import hashlib
import html
import re
from functools import cache
from typing import Any

from litestar import MediaType, Request, Response
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState

from community.models import Theme
from community.templating import STATIC
from community.views.event_pages import DEFAULT_THEME

THEMES = frozenset(t.value for t in Theme)
THEME_COLOURS = {Theme.MEETUP: "#d42a44", Theme.LUMA: "#1f1f29"}
SITE_NAME = "Community events"

# Per-visitor (each page carries the visitor's CSRF token), so only the browser may keep it,
# and must ask each time; the ETag makes that question cheap.
PAGE_CACHE = "private, no-cache"
NEVER_CACHE = "no-store"
# A page rendered for one visitor (their own place shown): never kept, by anyone.
PERSONAL_CACHE = "private, no-store"


def theme_of(value: str | None) -> str:
    return value if value in THEMES else DEFAULT_THEME


_COMMENTS = re.compile(r"/\*.*?\*/", re.S)
_SPACES = re.compile(r"\s+")
_AROUND = re.compile(r"\s*([{};:,>])\s*")


@cache
def theme_css(theme: str) -> str:
    """Shared + theme stylesheet, minified, inlined in <head>: no render-blocking request."""
    parts = [(STATIC / "themes" / name).read_text() for name in ("public.css", f"{theme}.css")]
    css = _COMMENTS.sub("", "\n".join(parts))
    css = _AROUND.sub(r"\1", _SPACES.sub(" ", css))
    # Inside <style>, only "</" could end the element early; stylesheets never need it.
    return css.replace("</", "<\\/").strip()


def base_context(theme: str, **extra: Any) -> dict[str, Any]:
    theme = theme_of(theme)
    context: dict[str, Any] = {
        "theme": theme,
        "theme_css": theme_css(theme),
        "theme_colour": THEME_COLOURS.get(theme, "#d42a44"),
        "brand_name": SITE_NAME,
        "robots": "index, follow",
        "social": [],
        "json_ld": None,
        "canonical": None,
        "meta_description": "",
    }
    context.update(extra)
    return context


def render(request: Request[Any, Any, Any], template: str, context: dict[str, Any]) -> str:
    engine = request.app.template_engine
    assert engine is not None
    # No token on the shared public pages (their forms are checked by origin instead).
    token = value_or_default(ScopeState.from_scope(request.scope).csrf_token, "")
    field = f'<input type="hidden" name="_csrf_token" value="{html.escape(token)}">'
    full = {**context, "request": request, "csrf_input": field if token else ""}
    return engine.get_template(template).render(**full)


def etag_for(body: str | bytes) -> str:
    data = body.encode() if isinstance(body, str) else body
    return 'W/"' + hashlib.sha256(data).hexdigest()[:20] + '"'


def not_modified(request: Request[Any, Any, Any], etag: str) -> bool:
    sent = request.headers.get("if-none-match", "")
    return any(tag.strip() in (etag, etag.removeprefix("W/")) for tag in sent.split(","))


def html_page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    cache_control: str = PAGE_CACHE,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """Render a themed page; answer 304 when the browser already holds these exact bytes."""
    body = render(request, template, context)
    all_headers = {"cache-control": cache_control, "vary": "Cookie, HX-Request", **(headers or {})}
    if status_code == 200 and "no-store" not in cache_control:
        etag = etag_for(body)
        all_headers["etag"] = etag
        if not_modified(request, etag):
            return Response(b"", status_code=304, headers=all_headers)
    return Response(body, status_code=status_code, media_type=MediaType.HTML, headers=all_headers)


def fragment(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response[Any]:
    """An htmx fragment: never cached, by browsers or anything in between."""
    body = render(request, template, context)
    return Response(
        body,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={"cache-control": NEVER_CACHE, "vary": "HX-Request"},
    )
