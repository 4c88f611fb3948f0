"""When a failing listing is tried again. Pure: no I/O.

A listing whose push failed stays in error, with its last error shown, until a push succeeds;
it is never given up on. It is re-driven with a capped backoff that grows with the time it has
been failing: about a second apart at first, then a sixth of the time in error (15 s after a
90 s outage, so it is back in step well within 30 s of the platform recovering), never more than
5 minutes apart. A platform's own wait (429 Retry-After) is always honoured on top.

Failures no retry can fix by itself (credentials refused, the event gone, a limit refused) wait
at least a minute: the organiser's fix (reconnecting, relinking) or a recount by a pull pushes
again at once anyway.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 300.0  # "at most every 5 minutes"
GROWTH = 1 / 6  # the wait is this share of the time the listing has been failing
NOT_RETRYABLE_FLOOR_S = 60.0
JITTER = 0.1  # listings failing together do not all come back in the same instant


def retry_delay(
    failing_for: timedelta,
    *,
    retryable: bool,
    at_least: float = 0.0,
    jitter: float | None = None,
) -> float:
    """Seconds until the next attempt of a listing that has failed for ``failing_for``.

    ``at_least`` is the platform's own wait (Retry-After); it is never shortened, and the cap
    does not apply to it. ``jitter`` in [-1, 1] (random when None) spreads retries by ±10 %.
    """
    spread = random.uniform(-1.0, 1.0) if jitter is None else jitter
    base = max(FIRST_RETRY_S, failing_for.total_seconds() * GROWTH)
    if not retryable:
        base = max(base, NOT_RETRYABLE_FLOOR_S)
    delay = min(MAX_RETRY_S, base * (1 + JITTER * spread))
    return max(delay, at_least)


def retry_at(now: datetime, failing_since: datetime | None, **kwargs: object) -> datetime:
    """The time of the next attempt (see ``retry_delay``)."""
    since = failing_since or now
    return now + timedelta(seconds=retry_delay(now - since, **kwargs))  # type: ignore[arg-type]
