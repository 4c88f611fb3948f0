"""Helpers of the mirror tests: the worker rig, mirrored events, waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Event, Listing
from community.sandbox.runner import RunningSandbox
from community.sandbox.shapes import Person
from community.services.jobs import enqueue_pull
from community.services.mirror.coalescing import Coalescer
from community.services.seats.inventory import Inventory
from community.services.seats.registrations import RegistrationService

PLATFORMS = ("meetup", "eventbrite", "luma")


@dataclass
class MirrorRig:
    settings: Settings
    redis: Redis
    queues: dict[str, Queue]
    session_maker: async_sessionmaker[AsyncSession]
    sandboxes: dict[str, RunningSandbox]
    inventory: Inventory

    @property
    def registrations(self) -> RegistrationService:
        return RegistrationService.build(self.settings, self.redis, self.session_maker)

    def ctx(self) -> dict[str, Any]:
        """A job context built like the worker's, for calling job functions directly."""
        return {
            "settings": self.settings,
            "redis": self.redis,
            "session_maker": self.session_maker,
            "queues": self.queues,
        }

    def state(self, platform: str, external_id: str) -> dict[str, Any]:
        return self.sandboxes[platform].sandbox.event_state(external_id)

    def calls(self, platform: str) -> list[dict[str, Any]]:
        """API calls the stand-in answered (control endpoints excluded)."""
        return [
            c
            for c in self.sandboxes[platform].sandbox.log.entries()
            if not c["path"].startswith("/_sandbox")
        ]

    def clear_calls(self) -> None:
        for sandbox in self.sandboxes.values():
            sandbox.sandbox.log.clear()

    async def control(self, platform: str, path: str, body: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.sandboxes[platform].base_url) as client:
            return await client.post(path, json=body)


@dataclass
class MirroredEvent:
    event: Event
    listings: dict[str, Listing]  # platform -> listing

    @property
    def id(self) -> UUID:
        return self.event.id

    def external(self, platform: str) -> str:
        return self.listings[platform].external_id


MakeEvent = Callable[..., Awaitable[MirroredEvent]]


async def eventually(
    check: Callable[[], Any], *, within: float = 10.0, every: float = 0.02
) -> float:
    """Wait until ``check()`` is truthy; returns the seconds it took. Fails with its last value."""
    started = time.monotonic()
    last: Any = None
    while time.monotonic() - started < within:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return time.monotonic() - started
        await asyncio.sleep(every)
    raise AssertionError(f"not reached within {within} s; last value: {last!r}")


async def pull_everything(rig: MirrorRig, event: MirroredEvent) -> None:
    """Ask for a pull of every listing and wait until the worker has done them."""
    for listing in event.listings.values():
        await enqueue_pull(rig.settings, rig.redis, rig.queues, listing.id)
    coalescer = Coalescer(rig.redis, rig.settings.redis_prefix, "pull")

    async def settled() -> bool:
        for listing in event.listings.values():
            progress = await coalescer.progress(listing.id)
            if progress.pending or progress.runner_active:
                return False
        return True

    await eventually(settled)


def add(rig: MirrorRig, event: MirroredEvent, platform: str, person: Person) -> str:
    outcome = rig.sandboxes[platform].sandbox.add_registration(event.external(platform), person)
    assert outcome.status == "going", outcome
    assert outcome.id is not None
    return outcome.id
