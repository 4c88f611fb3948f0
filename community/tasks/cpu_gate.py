"""Ticket e-mails wait a moment while other processes keep this machine's CPUs busy.

In a rush the web processes, Redis and PostgreSQL fill the cores, but they also wait on each
other many times a second, and a worker fills those gaps: measured on two cores, the
worker's ticket e-mails took up to 0.77 s of CPU in a one-second rush at nice 10 (0.58 s at
nice 19, 0.86 s as a batch task), and such a rush answered up to 40 % fewer people per
second. A person waiting for their answer cannot wait; their ticket e-mail can, for a second
or two. Mirror pushes never wait here.

Only the others count: the worker's own CPU is taken off the machine's, so a worker busy on
its own (a cancelled event's thousand e-mails) never holds itself back.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

_TICK_S = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (None where unknown)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields)
    return (user + nice + system + irq + softirq + steal) * _TICK_S


class CpuGate:
    """`wait()` returns once the other processes leave the CPUs less than `busy_share` busy
    over a `step_s` sample, or after `max_wait_s` whatever they do."""

    def __init__(
        self,
        *,
        max_wait_s: float = 2.0,
        busy_share: float = 0.85,
        step_s: float = 0.05,
        machine: Callable[[], float | None] = machine_busy_s,
        own: Callable[[], float] = time.process_time,
        cores: int | None = None,
    ) -> None:
        self.max_wait_s, self.busy_share, self.step_s = max_wait_s, busy_share, step_s
        self.machine, self.own = machine, own
        self.cores = cores or os.cpu_count() or 1

    async def wait(self) -> float:
        """Seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < self.max_wait_s:
            machine, own, at = self.machine(), self.own(), time.monotonic()
            if machine is None:
                break
            await asyncio.sleep(self.step_s)
            after = self.machine()
            if after is None:
                break
            others = (after - machine) - (self.own() - own)
            if others < self.busy_share * self.cores * (time.monotonic() - at):
                break
        return time.monotonic() - started
