"""Turns (REGISTRATIONS_AT_ONCE): never more holders than turns, first come first served, and
no turn lost to a waiter that stopped waiting."""

from __future__ import annotations

import asyncio

import pytest

from community.services.seats.turns import Turns


async def test_at_most_size_hold_a_turn_and_the_rest_go_in_order() -> None:
    turns = Turns(2)
    holding, most, order = 0, 0, []
    release = asyncio.Event()

    async def register(n: int) -> None:
        nonlocal holding, most
        async with turns:
            order.append(n)
            holding += 1
            most = max(most, holding)
            await release.wait()
            holding -= 1

    tasks = [asyncio.create_task(register(n)) for n in range(6)]
    await asyncio.sleep(0.01)
    assert order == [0, 1]  # two at once; four wait
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4, 5] and most == 2 and turns.free == 2


async def test_a_waiter_cancelled_while_waiting_loses_no_turn() -> None:
    turns = Turns(1)
    await turns.__aenter__()
    cancelled = asyncio.create_task(turns.__aenter__())
    after = asyncio.create_task(turns.__aenter__())
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.sleep(0)
    await turns.__aexit__(None, None, None)  # skips the cancelled one
    await asyncio.wait_for(after, 1)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await turns.__aexit__(None, None, None)
    assert turns.free == 1


async def test_a_turn_handed_to_a_waiter_as_it_is_cancelled_goes_to_the_next() -> None:
    turns = Turns(1)
    await turns.__aenter__()
    first = asyncio.create_task(turns.__aenter__())
    second = asyncio.create_task(turns.__aenter__())
    await asyncio.sleep(0.01)
    await turns.__aexit__(None, None, None)  # the turn is first's now...
    first.cancel()  # ...but it stops before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the turn went on
    await turns.__aexit__(None, None, None)
    assert turns.free == 1


def test_a_gate_needs_a_turn() -> None:
    with pytest.raises(ValueError):
        Turns(0)
