"""Ticket e-mails wait behind a rush: the gate opens once the other processes leave the CPUs,
or after its longest wait, and never holds back a worker that is only busy itself."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from community.tasks.cpu_gate import CpuGate, machine_busy_s


class FakeCpus:
    """Machine-wide and own busy seconds that grow by the given shares of `cores` per second
    of real time."""

    def __init__(self, cores: int, machine_share: float, own_share: float = 0.0) -> None:
        self.cores, self.started = cores, time.monotonic()
        self.machine_share, self.own_share = machine_share, own_share

    def machine(self) -> float:
        return (time.monotonic() - self.started) * self.cores * self.machine_share

    def own(self) -> float:
        return (time.monotonic() - self.started) * self.cores * self.own_share


def gate_on(cpus: FakeCpus, max_wait_s: float = 0.4) -> CpuGate:
    return CpuGate(
        max_wait_s=max_wait_s, step_s=0.02, machine=cpus.machine, own=cpus.own, cores=cpus.cores
    )


async def test_an_idle_machine_opens_the_gate_after_one_look() -> None:
    assert await gate_on(FakeCpus(2, machine_share=0.1)).wait() < 0.1


async def test_a_busy_machine_holds_the_gate_until_its_longest_wait() -> None:
    waited = await gate_on(FakeCpus(2, machine_share=1.0), max_wait_s=0.3).wait()
    assert 0.3 <= waited < 0.45


async def test_a_worker_busy_on_its_own_is_never_held_back() -> None:
    # All the machine's busy time is the worker's own (its thousand e-mails).
    assert await gate_on(FakeCpus(1, machine_share=1.0, own_share=1.0)).wait() < 0.1


async def test_where_the_machine_cannot_be_read_the_gate_is_open() -> None:
    gate = CpuGate(max_wait_s=1.0, step_s=0.02, machine=lambda: None)
    assert await gate.wait() < 0.05
    assert await CpuGate(max_wait_s=0).wait() == pytest.approx(0, abs=0.01)


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="no /proc/stat on this system")
async def test_the_gate_reads_the_real_cpus_of_this_machine() -> None:
    """Spinning processes on every core: the machine's busy time grows by a core-second per
    second per core, and the gate holds for its longest wait."""
    cores = os.cpu_count() or 1
    gate = CpuGate(max_wait_s=1.0, step_s=0.1)
    spinners = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", "while True: pass")
        for _ in range(cores)
    ]
    try:
        await asyncio.sleep(0.3)  # all of them running
        before, started = machine_busy_s(), time.monotonic()
        assert await gate.wait() >= 1.0
        after, elapsed = machine_busy_s(), time.monotonic() - started
    finally:
        for spinner in spinners:
            spinner.kill()
            await spinner.wait()
    assert before is not None and after is not None
    assert after - before >= 0.8 * cores * elapsed
