"""Helpers of the seat tests: the event makers' types."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from community.models import Event

EmptyEvent = Callable[..., Awaitable[uuid.UUID]]
MakeEvent = Callable[..., Awaitable[Event]]
