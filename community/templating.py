"""Helpers available in every template: formatting in the event's time zone, asset URLs."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment

STATIC = Path(__file__).resolve().parent.parent / "static"


@cache
def _asset_version(path: str) -> str:
    try:
        return hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def asset(path: str) -> str:
    """URL of a static file with a content hash, so browsers may cache it for long."""
    return f"/static/{path}?v={_asset_version(path)}"


def local_time(value: datetime | None, tz: str = "UTC", fmt: str = "%a %-d %b %Y, %H:%M") -> str:
    if value is None:
        return ""
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return value.astimezone(zone).strftime(fmt)


def register_template_helpers(env: Environment) -> None:
    env.globals["asset"] = asset
    env.filters["local_time"] = local_time
