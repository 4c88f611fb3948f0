"""The per-account token bucket in Redis."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from community.config import Settings
from community.services.mirror.rate_budget import (
    LIMITS,
    BudgetExhausted,
    PlatformLimit,
    RateBudget,
)

FAST = {"luma": PlatformLimit(100, 1.0)}  # burst 18, then 72 calls per second


def test_documented_limits_are_never_exceeded_in_one_window() -> None:
    for limit in LIMITS.values():
        most_in_a_window = limit.capacity + limit.refill_per_s * limit.window_s
        assert most_in_a_window <= limit.calls


async def test_burst_then_refusal_with_a_wait(redis: Redis, settings: Settings) -> None:
    budget = RateBudget(redis, settings.redis_prefix, FAST)
    granted = 0
    started = time.monotonic()
    while await budget.try_take("luma", "acct-1") == 0.0:
        granted += 1
    refilled = 72 * (time.monotonic() - started)  # what came back while the loop ran
    assert 18 <= granted <= 18 + refilled + 1
    wait = await budget.try_take("luma", "acct-1")
    assert 0 < wait <= 1 / 72 + 0.01
    # Another account has its own bucket.
    assert await budget.try_take("luma", "acct-2") == 0.0


async def test_hammering_for_a_second_stays_within_the_limit(
    redis: Redis, settings: Settings
) -> None:
    budget = RateBudget(redis, settings.redis_prefix, FAST)
    started = time.monotonic()
    granted = 0
    while time.monotonic() - started < 1.0:
        granted += await budget.try_take("luma", "acct") == 0.0
        await asyncio.sleep(0.001)
    assert 60 <= granted <= 91


async def test_acquire_waits_briefly_or_gives_up(redis: Redis, settings: Settings) -> None:
    budget = RateBudget(redis, settings.redis_prefix, FAST)
    for _ in range(18):
        await budget.acquire("luma", "acct")
    waited = await budget.acquire("luma", "acct", max_wait=1.0)
    assert waited > 0
    await budget.block("luma", "acct", 5)
    with pytest.raises(BudgetExhausted) as caught:
        await budget.acquire("luma", "acct", max_wait=0.5)
    assert 4 < caught.value.retry_after <= 5


async def test_a_429_blocks_the_whole_account(redis: Redis, settings: Settings) -> None:
    budget = RateBudget(redis, settings.redis_prefix, FAST)
    await budget.block("luma", "acct", 0.3)
    assert await budget.try_take("luma", "acct") > 0.2
    await asyncio.sleep(0.35)
    assert await budget.try_take("luma", "acct") == 0.0
