"""Security headers: a Content-Security-Policy with no inline script, no framing outside the
event pages, no MIME sniffing, and nothing of the admin or the door kept in a cache."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.helpers.public import MakeEvent

Client = AsyncTestClient[Litestar]
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def directives(policy: str) -> dict[str, str]:
    parts = (part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return {name: (rest[0] if rest else "") for name, *rest in parts}


async def test_admin_and_door_pages_are_not_framed_sniffed_or_cached(
    owner_client: Client,
) -> None:
    for path in ("/admin/events", "/door"):
        response = await owner_client.get(path)
        assert response.status_code == 200, path
        policy = directives(response.headers["content-security-policy"])
        assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store", path


async def test_the_sign_in_page_cannot_be_framed(client: Client) -> None:
    response = await client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_event_pages_may_be_framed_and_keep_their_caching(
    client: Client, make_event: MakeEvent
) -> None:
    event = await make_event()
    response = await client.get(f"/events/{event.slug}")
    assert response.status_code == 200
    policy = directives(response.headers["content-security-policy"])
    assert policy["script-src"] == "'self'" and "frame-ancestors" not in policy
    # The venue map, loaded on tap, is OpenStreetMap's embed: the policy lets that one frame in.
    assert policy["frame-src"] == "https://www.openstreetmap.org"
    assert "x-frame-options" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers.get("cache-control") != "no-store" or "no-store" in (
        response.headers.get("cache-control", "")
    )  # whatever the page itself says: this layer does not touch public caching


async def test_static_files_are_not_sniffed(client: Client) -> None:
    response = await client.get("/static/vendor/htmx.min.js")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_no_template_carries_an_inline_script_or_handler() -> None:
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/ld\+json)[^>]*>", re.I)
    handler = re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I)
    found = []
    for path in TEMPLATES.rglob("*.html"):
        if "email" in path.parts:
            continue  # mail bodies are not served as pages
        text = path.read_text()
        if inline.search(text) or handler.search(text) or "javascript:" in text:
            found.append(str(path.relative_to(TEMPLATES)))
    assert not found, found
