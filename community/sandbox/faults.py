"""Fault injection, rate budgets and the call log shared by the three stand-ins."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

FaultKind = Literal["5xx", "429", "hang"]
FAULT_KINDS: tuple[FaultKind, ...] = ("5xx", "429", "hang")


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    status: int = 503


class Faults:
    """Latency on every API call, plus a queue of the next calls that should fail."""

    def __init__(self) -> None:
        self.latency_ms = 0
        self.hang_seconds = 120.0
        self._queue: deque[Fault] = deque()
        self._release: asyncio.Event | None = None

    def inject(self, kind: FaultKind, count: int = 1, *, status: int | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        fault = Fault(kind, status or (503 if kind == "5xx" else 429))
        self._queue.extend([fault] * count)

    def take(self) -> Fault | None:
        return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        self._queue.clear()
        self.latency_ms = 0
        self.release_hangs()

    async def hang(self) -> None:
        """Wait past any sensible client timeout, unless the stand-in is being stopped."""
        if self._release is None or self._release.is_set():
            self._release = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), self.hang_seconds)

    def release_hangs(self) -> None:
        if self._release is not None:
            self._release.set()

    def describe(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "pending": [{"kind": f.kind, "status": f.status} for f in self._queue],
        }


class RateBudget:
    """A fixed-window budget: ``limit`` units per ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._window_start = time.monotonic()
        self.used = 0

    def configure(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._window_start, self.used = time.monotonic(), 0

    def take(self, cost: int = 1) -> float | None:
        """None when allowed; otherwise the seconds until the window resets."""
        now = time.monotonic()
        if now - self._window_start >= self.window_s:
            self._window_start, self.used = now, 0
        if self.used + cost > self.limit:
            return max(0.0, self.window_s - (now - self._window_start))
        self.used += cost
        return None

    def describe(self) -> dict[str, Any]:
        return {"limit": self.limit, "window_s": self.window_s, "used": self.used}


class CallLog:
    """The last API calls: method, path (never the query string: it may carry a token), status."""

    def __init__(self, size: int = 500) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self.total = 0

    def record(self, method: str, path: str, status: int, ms: float, **extra: Any) -> None:
        self.total += 1
        at = datetime.now(UTC).isoformat()
        entry = {"at": at, "method": method, "path": path, "status": status, "ms": round(ms, 1)}
        self._entries.append(entry | extra)

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()
