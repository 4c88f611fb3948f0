"""What search engines and link previews read: schema.org JSON-LD, Open Graph, sitemap, robots."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from community.services.events.manage import event_end
from community.services.payments.money import plain_decimal
from community.views.event_pages import Availability, EventView, SaleState

AVAILABILITY = {
    SaleState.OPEN: "https://schema.org/InStock",
    SaleState.LIMITED: "https://schema.org/LimitedAvailability",
    SaleState.WAITLIST: "https://schema.org/SoldOut",
    SaleState.SOLD_OUT: "https://schema.org/SoldOut",
    SaleState.CLOSED: "https://schema.org/SoldOut",
    SaleState.ENDED: "https://schema.org/SoldOut",
    SaleState.CANCELLED: "https://schema.org/SoldOut",
}
SITE_NAME = "Community events"


def absolute(url: str, base_url: str) -> str:
    if url.startswith(("http://", "https://")):
        return url
    return f"{base_url}/{url.lstrip('/')}"


def image_url(view: EventView, base_url: str) -> str:
    """The event's own picture, or the generated cover as a PNG."""
    if view.event.cover_image_url:
        return absolute(view.event.cover_image_url, base_url)
    return f"{base_url}/events/{view.slug}/cover.png"


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def _place(view: EventView) -> dict[str, Any]:
    event = view.event
    address: dict[str, Any] = {"@type": "PostalAddress"}
    if event.address:
        address["streetAddress"] = event.address
    if event.city:
        address["addressLocality"] = event.city
    if event.country:
        address["addressCountry"] = event.country
    place: dict[str, Any] = {
        "@type": "Place",
        "name": event.venue_name or event.address,
        "address": address,
    }
    if event.latitude is not None and event.longitude is not None:
        place["geo"] = {
            "@type": "GeoCoordinates",
            "latitude": event.latitude,
            "longitude": event.longitude,
        }
    return place


def event_json_ld(view: EventView, availability: Availability, base_url: str) -> dict[str, Any]:
    """schema.org Event, kept true as seats run out (offers.availability follows the sale)."""
    event = view.event
    locations: list[dict[str, Any]] = []
    if view.has_venue:
        locations.append(_place(view))
    if view.is_online:
        # The joining link is for registered guests only; the page is where to get it.
        locations.append({"@type": "VirtualLocation", "url": view.url})
    if view.has_venue and view.is_online:
        mode = "https://schema.org/MixedEventAttendanceMode"
    elif view.is_online:
        mode = "https://schema.org/OnlineEventAttendanceMode"
    else:
        mode = "https://schema.org/OfflineEventAttendanceMode"
    offer: dict[str, Any] = {
        "@type": "Offer",
        "url": view.url,
        "price": plain_decimal(event.price_cents, event.currency),
        "priceCurrency": event.currency.upper(),
        "availability": AVAILABILITY[availability.state],
    }
    if event.published_at:
        offer["validFrom"] = _iso(event.published_at.astimezone(view.start_local.tzinfo))
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.title,
        "description": view.description_text or view.meta_description,
        "image": [image_url(view, base_url)],
        "startDate": _iso(view.start_local),
        "endDate": _iso(event_end(event).astimezone(view.start_local.tzinfo)),
        "eventStatus": (
            "https://schema.org/EventCancelled"
            if availability.state == SaleState.CANCELLED
            else "https://schema.org/EventScheduled"
        ),
        "eventAttendanceMode": mode,
        "location": locations[0] if len(locations) == 1 else locations,
        "organizer": {
            "@type": "Organization",
            "name": view.host_name,
            "url": base_url + "/",
        },
        "offers": offer,
        "url": view.url,
    }
    if availability.capacity:
        data["maximumAttendeeCapacity"] = availability.capacity
        data["remainingAttendeeCapacity"] = availability.seats_left
    return data


def script_json(data: dict[str, Any]) -> str:
    """JSON safe inside <script>: no '</script>' or HTML comment can be formed from the data."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def social_tags(view: EventView, base_url: str) -> list[tuple[str, str, str]]:
    """(attribute, key, content) triples for Open Graph and Twitter card meta tags."""
    image = image_url(view, base_url)
    title = view.event.title
    tags = [
        ("property", "og:type", "website"),
        ("property", "og:site_name", view.event.group_name or SITE_NAME),
        ("property", "og:title", title),
        ("property", "og:description", view.meta_description),
        ("property", "og:url", view.url),
        ("property", "og:image", image),
        ("property", "og:image:alt", f"Cover for {title}"),
        ("name", "twitter:card", "summary_large_image"),
        ("name", "twitter:title", title),
        ("name", "twitter:description", view.meta_description),
        ("name", "twitter:image", image),
    ]
    if not view.event.cover_image_url:
        tags[6:6] = [("property", "og:image:width", "1200"), ("property", "og:image:height", "630")]
    return tags


def sitemap_xml(base_url: str, pages: list[tuple[str, datetime | None]]) -> str:
    """`pages` are (path, last modified) pairs."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for path, modified in pages:
        lines.append(f"  <url><loc>{xml_escape(base_url + path)}</loc>")
        if modified is not None:
            lines.append(f"    <lastmod>{modified.date().isoformat()}</lastmod>")
        lines.append("  </url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def robots_txt(base_url: str) -> str:
    private = ("/admin", "/door", "/login", "/tickets/", "/my-tickets", "/api/", "/webhooks/")
    fragments = ("/events/*/live", "/events/*/register")  # live counts and form posts
    lines = ["User-agent: *", *(f"Disallow: {p}" for p in (*private, *fragments)), "Allow: /", ""]
    lines.append(f"Sitemap: {base_url}/sitemap.xml")
    return "\n".join(lines) + "\n"
