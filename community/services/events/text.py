"""Event descriptions: Markdown to safe HTML, and plain text for meta tags and e-mails.

Organisers write Markdown; raw HTML in it is shown as text, and the rendered HTML is cleaned
again with an allow-list, so a description can never carry a script or a tracking iframe.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": True}).enable(
    ["table", "strikethrough", "replacements", "smartquotes"]
)

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "h2", "h3", "h4", "a", "img",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}


def _demote_headings(html: str) -> str:
    """The page title is the only h1; description headings start at h2."""
    return re.sub(r"<(/?)h([1-6])>", lambda m: f"<{m[1]}h{min(int(m[2]) + 1, 4)}>", html)


@lru_cache(maxsize=512)
def render_markdown(source: str) -> str:
    """Markdown → sanitised HTML. Cached: descriptions change rarely and pages are hot."""
    html = _demote_headings(_md.render(source or ""))
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener ugc",
        # Pictures in a description are below the title and cover: never let them block paint.
        set_tag_attribute_values={"img": {"loading": "lazy", "decoding": "async"}},
    )


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def plain_text(source: str) -> str:
    """The description as one line of text (for meta descriptions and JSON-LD)."""
    text = html.unescape(_TAG.sub(" ", render_markdown(source)))
    return _SPACE.sub(" ", text).strip()


def shorten(text: str, limit: int = 160) -> str:
    """Cut at a word boundary, with an ellipsis, for meta descriptions and previews."""
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",.;:-\u2013\u2014")
    return cut + "…"
