"""Seat changes reach the mirror in rounds: one per event at a time in a process, and one more
for whatever changed meanwhile, so a rush does not read an event's listings a hundred times."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from community.models import Channel
from community.services import jobs
from community.services.seats.hooks import InventoryHooks


async def test_a_burst_of_changes_makes_two_rounds_the_last_after_the_last_change(
    monkeypatch: Any,
) -> None:
    rounds: list[tuple[uuid.UUID, bool]] = []
    changed = 0
    seen_at_round: list[int] = []

    async def enqueue(*args: Any, urgent: bool) -> int:
        rounds.append((args[4], urgent))
        seen_at_round.append(changed)
        await asyncio.sleep(0.02)
        return 0

    monkeypatch.setattr(jobs, "enqueue_event_mirror", enqueue)
    # A registry of this test's own; the process-wide subscription is as it was afterwards.
    monkeypatch.setattr(jobs._installed, "current", None)
    hooks = InventoryHooks()
    jobs.install_mirror(None, None, {}, None, hooks)  # type: ignore[arg-type]
    busy, quiet = uuid.uuid4(), uuid.uuid4()

    async def change(event_id: uuid.UUID, channel: str) -> None:
        nonlocal changed
        changed += 1
        await hooks.fire(event_id, channel)

    first = asyncio.create_task(change(busy, Channel.MEETUP))
    await asyncio.sleep(0)
    # Fifty more while the first round runs, one of them on our page; another event apart.
    await asyncio.gather(
        *(change(busy, Channel.NATIVE if n == 25 else Channel.LUMA) for n in range(50)),
        change(quiet, Channel.LUMA),
        first,
    )
    assert [r for r in rounds if r[0] == busy] == [(busy, False), (busy, True)]
    assert (quiet, False) in rounds
    # The second round began after every change had happened.
    assert seen_at_round[rounds.index((busy, True))] == 52
    # Later changes start a new round of their own.
    await change(busy, Channel.LUMA)
    assert rounds[-1] == (busy, False)
