"""Generated covers for events without a picture: a gradient picked from the slug.

The page draws it as inline SVG (no request, no layout shift); link previews and search
engines get the same gradient as a PNG, written with zlib alone (no imaging library).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from html import escape

Colour = tuple[int, int, int]

# Three stops each, chosen to keep white text readable over any part of the gradient.
PALETTES: tuple[tuple[str, str, str], ...] = (
    ("#ff5a5f", "#d6246e", "#5f2bb3"),
    ("#0f9b8e", "#1d6fb8", "#3a2e8f"),
    ("#f76b1c", "#e2366e", "#8a2be2"),
    ("#2a9d8f", "#26637d", "#1b2f5b"),
    ("#7b5cff", "#c149b5", "#ff6f61"),
    ("#1f8a70", "#3f6fd8", "#7a3fc8"),
    ("#e85d75", "#8e44ad", "#2c3e8f"),
    ("#ff8a3d", "#d94c3a", "#7d2a5d"),
)
OG_WIDTH, OG_HEIGHT = 1200, 630


@dataclass(frozen=True)
class Cover:
    stops: tuple[str, str, str]
    circles: tuple[tuple[float, float, float], ...]  # centre x, centre y (0..1), radius (of width)


def _hex(colour: str) -> Colour:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@lru_cache(maxsize=1024)
def cover_for(slug: str) -> Cover:
    digest = hashlib.sha256(slug.encode()).digest()
    stops = PALETTES[digest[0] % len(PALETTES)]
    circles = tuple(
        (digest[1 + i * 3] / 255, digest[2 + i * 3] / 255, 0.12 + digest[3 + i * 3] / 255 * 0.25)
        for i in range(3)
    )
    return Cover(stops, circles)


def _wrap(title: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in title.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > 3:
        lines = [*lines[:2], " ".join(lines[2:])[: width - 1] + "…"]
    return lines


def cover_svg(slug: str, title: str, kicker: str, *, square: bool = False) -> str:
    """An inline SVG cover: gradient, soft circles, the group's name and the title's initial.

    The title itself is printed right beside the cover on every page, so the art does not
    repeat it (the shared image, ``cover_png``, still carries it for link previews).
    """
    cover = cover_for(slug)
    w, h = (1000, 1000) if square else (OG_WIDTH, OG_HEIGHT)
    gid = f"g{hashlib.sha1(slug.encode()).hexdigest()[:6]}"
    circles = "".join(
        f'<circle cx="{x * w:.0f}" cy="{y * h:.0f}" r="{r * w:.0f}" fill="#fff" opacity=".12"/>'
        for x, y, r in cover.circles
    )
    initial = next((c for c in title if c.isalnum()), "")
    size = 520 if square else 420
    return (
        f'<svg class="cover-art" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        f'preserveAspectRatio="xMidYMid slice" '
        f'xmlns="http://www.w3.org/2000/svg" aria-hidden="true" focusable="false">'
        f'<defs><linearGradient id="{gid}" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="{cover.stops[0]}"/>'
        f'<stop offset=".55" stop-color="{cover.stops[1]}"/>'
        f'<stop offset="1" stop-color="{cover.stops[2]}"/></linearGradient></defs>'
        f'<rect width="{w}" height="{h}" fill="url(#{gid})"/>{circles}'
        f'<text x="{w - 60}" y="{h - 60}" text-anchor="end" fill="#fff" opacity=".22" '
        f'font-size="{size}" font-weight="800" font-family="system-ui,sans-serif">'
        f"{escape(initial.upper())}</text>"
        f'<text x="72" y="110" fill="#fff" opacity=".85" font-size="34" font-weight="600" '
        f'font-family="system-ui,sans-serif" letter-spacing="2">'
        f"{escape(kicker.upper()[:40])}</text></svg>"
    )


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


@lru_cache(maxsize=64)
def cover_png(slug: str) -> bytes:
    """The cover as a 1200x630 PNG for Open Graph and JSON-LD (formats every crawler reads)."""
    cover = cover_for(slug)
    a, b, c = (_hex(s) for s in cover.stops)
    w, h = OG_WIDTH, OG_HEIGHT
    span = w + h
    # A diagonal gradient depends on x + y only: one long line, and each row is a slice of it.
    base = bytearray()
    light = bytearray()
    for i in range(span):
        t = i / (span - 1)
        colour = _mix(a, b, t / 0.55) if t < 0.55 else _mix(b, c, (t - 0.55) / 0.45)
        base.extend(colour)
        light.extend(_mix(colour, (255, 255, 255), 0.12))
    rows = []
    for y in range(h):
        row = bytearray(base[y * 3 : (y + w) * 3])
        for cx, cy, r in cover.circles:
            dy = y - cy * h
            radius = r * w
            if abs(dy) < radius:
                half = (radius * radius - dy * dy) ** 0.5
                x0, x1 = max(0, int(cx * w - half)), min(w, int(cx * w + half))
                if x0 < x1:
                    row[x0 * 3 : x1 * 3] = light[(y + x0) * 3 : (y + x1) * 3]
        rows.append(b"\x00" + bytes(row))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )
