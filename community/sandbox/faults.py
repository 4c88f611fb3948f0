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
    """Latency on every API call, a queue of the next calls that should fail, and outages.

    An outage makes every call fail for a while, taking turns through the given kinds (429,
    5xx, hang); calls hanging when it ends are answered then, as a recovering server would.
    """

    def __init__(self) -> None:
        self.latency_ms = 0
        self.hang_seconds = 120.0
        # The wait an injected 429 asks for (Retry-After, resetAt or reset=, per platform).
        self.rate_limit_wait_s = 30.0
        self._queue: deque[Fault] = deque()
        self._release: asyncio.Event | None = None
        self._outage_until = 0.0  # monotonic
        self._outage_kinds: tuple[FaultKind, ...] = FAULT_KINDS
        self._outage_turn = 0
        self._outage_timer: asyncio.TimerHandle | None = None

    def outage(
        self,
        seconds: float,
        kinds: tuple[FaultKind, ...] = FAULT_KINDS,
        *,
        rate_limit_wait_s: float | None = None,
    ) -> None:
        """Fail every call for ``seconds``; an injected 429 then asks for ``rate_limit_wait_s``."""
        if seconds <= 0 or not kinds or any(kind not in FAULT_KINDS for kind in kinds):
            raise ValueError("an outage needs a positive duration and known fault kinds")
        self._outage_until = time.monotonic() + seconds
        self._outage_kinds, self._outage_turn = tuple(kinds), 0
        if rate_limit_wait_s is not None:
            self.rate_limit_wait_s = rate_limit_wait_s
        if self._outage_timer is not None:
            self._outage_timer.cancel()
        with contextlib.suppress(RuntimeError):  # no loop: hangs then end on their own timer
            loop = asyncio.get_running_loop()
            self._outage_timer = loop.call_later(seconds, self.release_hangs)

    @property
    def outage_left(self) -> float:
        return max(0.0, self._outage_until - time.monotonic())

    def inject(self, kind: FaultKind, count: int = 1, *, status: int | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        fault = Fault(kind, status or (503 if kind == "5xx" else 429))
        self._queue.extend([fault] * count)

    def take(self) -> Fault | None:
        if self._queue:
            return self._queue.popleft()
        if self.outage_left > 0:
            kind = self._outage_kinds[self._outage_turn % len(self._outage_kinds)]
            self._outage_turn += 1
            return Fault(kind, 503 if kind != "429" else 429)
        return None

    def clear(self) -> None:
        self._queue.clear()
        self.latency_ms = 0
        self.rate_limit_wait_s = 30.0
        self._outage_until = 0.0
        if self._outage_timer is not None:
            self._outage_timer.cancel()
            self._outage_timer = None
        self.release_hangs()

    async def hang(self) -> None:
        """Wait past any sensible client timeout, unless released (stopping, outage over)."""
        if self._release is None or self._release.is_set():
            self._release = asyncio.Event()
        seconds = self.outage_left or self.hang_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), seconds)

    def release_hangs(self) -> None:
        if self._release is not None:
            self._release.set()

    def describe(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "pending": [{"kind": f.kind, "status": f.status} for f in self._queue],
            "outage_left_s": round(self.outage_left, 3),
            "rate_limit_wait_s": self.rate_limit_wait_s,
        }


class WindowQuota:
    """The platform side of a rate limit: ``limit`` units per fixed window of ``window_s`` s.

    (The product's own client-side budget is services.mirror.rate_budget.RateBudget.)
    """

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
        """``extra`` may carry ``received`` and ``answered`` (epoch seconds) and, for a 429,
        ``retry_after_s``: enough to check from outside that nobody called back too early."""
        self.total += 1
        at = datetime.now(UTC).isoformat()
        entry = {"at": at, "method": method, "path": path, "status": status, "ms": round(ms, 1)}
        self._entries.append(entry | extra)

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()
