"""Small charts drawn on the server as SVG: no script, no library.

`registrations_chart` draws how many people held a place over time, one stacked band per
channel (its top edge is the total); `arrivals_chart` draws check-ins per quarter hour on the
day. Both scale to their container (viewBox) and carry a text title for screen readers; the
templates add the numbers beside them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from community.models import PLATFORM_LABELS

CHANNEL_COLOURS = {
    "native": "#1c7ed6",
    "meetup": "#e03131",
    "eventbrite": "#f76707",
    "luma": "#7048e8",
}
CHANNEL_LABELS: dict[str, str] = {"native": "This page", **PLATFORM_LABELS}


@dataclass(frozen=True)
class Change:
    """One registration's effect on the count: +1 when it took a place, -1 when it left."""

    channel: str
    at: datetime
    delta: int


@dataclass(frozen=True)
class Series:
    channel: str
    final: int  # people holding a place through this channel at the end


@dataclass(frozen=True)
class Stack:
    """Levels per channel as step functions over shared boundaries: level[i] holds from
    times[i] until times[i + 1]."""

    times: list[datetime]
    levels: dict[str, list[int]]

    @property
    def series(self) -> list[Series]:
        return [Series(channel, values[-1]) for channel, values in self.levels.items()]

    @property
    def peak(self) -> int:
        return max(
            (sum(v[i] for v in self.levels.values()) for i in range(len(self.times))), default=0
        )


def changes_from(rows: Iterable[tuple[str, datetime, datetime | None]]) -> list[Change]:
    """(channel, took a place at, left at or None) -> ordered changes."""
    changes = []
    for channel, taken_at, left_at in rows:
        changes.append(Change(channel, taken_at, +1))
        if left_at is not None:
            changes.append(Change(channel, left_at, -1))
    changes.sort(key=lambda c: c.at)
    return changes


def stack(changes: Sequence[Change], start: datetime, end: datetime) -> Stack:
    """Channel levels between `start` and `end`, channels in the usual order."""
    channels = [c for c in CHANNEL_COLOURS if any(ch.channel == c for ch in changes)]
    level = dict.fromkeys(channels, 0)
    times = [start]
    levels: dict[str, list[int]] = {c: [0] for c in channels}
    for change in changes:
        at = min(max(change.at, start), end)
        level[change.channel] += change.delta
        if at > times[-1]:
            times.append(at)
            for c in channels:
                levels[c].append(level[c])
        else:  # same instant as the last boundary: it changes that boundary's level
            for c in channels:
                levels[c][-1] = level[c]
    if times[-1] < end:
        times.append(end)
        for c in channels:
            levels[c].append(level[c])
    return Stack(times, levels)


def nice_scale(value: int, steps: int = 4) -> tuple[int, int]:
    """(top, step) for an axis showing 0..value: 37 -> (40, 10), 112 -> (120, 30), 0 -> (4, 1)."""
    raw = max(1.0, value / steps)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 3, 4, 5, 10) if m * magnitude >= raw)
    step = max(1, math.ceil(step))
    if value <= steps:
        return steps, 1
    return max(step, math.ceil(value / step) * step), step


def _time_label(at: datetime, span: timedelta, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    if span <= timedelta(days=2):
        return local.strftime("%H:%M")
    return local.strftime("%-d %b")


W, H = 720, 280
PAD_L, PAD_R, PAD_T, PAD_B = 44, 16, 16, 34


def registrations_chart(
    data: Stack, start: datetime, end: datetime, *, tz: ZoneInfo, title: str
) -> str:
    """Stacked step areas, one band per channel, the total as the top edge."""
    if not data.levels or end <= start:
        return ""
    span = end - start
    top, step = nice_scale(data.peak)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(at: datetime) -> str:
        return f"{PAD_L + plot_w * ((at - start) / span):.1f}"

    def y(value: int) -> str:
        return f"{PAD_T + plot_h * (1 - value / top):.1f}"

    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="chart-title" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{escape(title)}</title>'
    ]
    for tick in range(0, top + 1, step):
        parts.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(tick)}" y2="{y(tick)}" class="grid"/>'
            f'<text x="{PAD_L - 8}" y="{float(y(tick)) + 4:.1f}" text-anchor="end" '
            f'class="axis">{tick}</text>'
        )
    for i in range(5):
        at = start + span * (i / 4)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<text x="{x(at)}" y="{H - 10}" text-anchor="{anchor}" class="axis">'
            f"{escape(_time_label(at, span, tz))}</text>"
        )
    times, n = data.times, len(data.times)
    below = [0] * n
    outlines = []
    for channel, values in data.levels.items():
        above = [b + v for b, v in zip(below, values, strict=True)]
        edge = [f"M{x(times[0])},{y(above[0])}"]
        edge += [f"H{x(times[i])}V{y(above[i])}" for i in range(1, n)]
        back = [f"L{x(times[-1])},{y(below[-1])}"]
        back += [f"V{y(below[i])}H{x(times[i])}" for i in range(n - 2, -1, -1)]
        colour = CHANNEL_COLOURS.get(channel, "#495057")
        label = escape(CHANNEL_LABELS.get(channel, channel))
        parts.append(f'<path d="{"".join(edge + back)}Z" fill="{colour}" fill-opacity=".18"/>')
        outlines.append(
            f'<path d="{"".join(edge)}" fill="none" stroke="{colour}" stroke-width="2.5" '
            f'stroke-linejoin="round"><title>{label}: {values[-1]}</title></path>'
        )
        below = above
    # Lower bands' edges last, so where an upper band is empty its edge does not hide them.
    parts.extend(reversed(outlines))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Bucket:
    start: datetime
    count: int


def arrival_buckets(times: Iterable[datetime], *, minutes: int = 15, tz: ZoneInfo) -> list[Bucket]:
    """Check-ins per `minutes` slot from the first to the last, empty slots included."""
    ordered = sorted(times)
    if not ordered:
        return []
    size = timedelta(minutes=minutes)
    first = ordered[0].astimezone(tz)
    first = first.replace(minute=first.minute - first.minute % minutes, second=0, microsecond=0)
    buckets: list[Bucket] = []
    slot, i = first, 0
    while i < len(ordered):
        count = 0
        while i < len(ordered) and ordered[i] < slot + size:
            count += 1
            i += 1
        buckets.append(Bucket(slot, count))
        slot += size
    return buckets


MIN_SLOTS = 8


def arrivals_chart(buckets: Sequence[Bucket], *, tz: ZoneInfo, title: str) -> str:
    if not buckets:
        return ""
    width, height, pad_l, pad_b, pad_t = 720, 200, 36, 30, 12
    top, step = nice_scale(max(b.count for b in buckets), 2)
    # At least two hours of slots across, so one busy quarter hour is one bar, not the width.
    slot_w = (width - pad_l - 8) / max(len(buckets), MIN_SLOTS)
    plot_h = height - pad_t - pad_b
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="arrivals-title" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="arrivals-title">{escape(title)}</title>'
    ]
    for tick in range(0, top + 1, step):
        ty = pad_t + plot_h * (1 - tick / top)
        parts.append(
            f'<line x1="{pad_l}" x2="{width - 8}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>'
            f'<text x="{pad_l - 6}" y="{ty + 4:.1f}" text-anchor="end" class="axis">{tick}</text>'
        )
    label_every = max(1, math.ceil(len(buckets) / 8))
    for i, bucket in enumerate(buckets):
        bar_h = plot_h * bucket.count / top
        bx = pad_l + i * slot_w + 2
        label = bucket.start.astimezone(tz).strftime("%H:%M")
        parts.append(
            f'<rect x="{bx:.1f}" y="{pad_t + plot_h - bar_h:.1f}" '
            f'width="{max(2.0, slot_w - 4):.1f}" height="{bar_h:.1f}" rx="2" class="bar">'
            f"<title>{label}: {bucket.count}</title></rect>"
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{bx + (slot_w - 4) / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'class="axis">{label}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
