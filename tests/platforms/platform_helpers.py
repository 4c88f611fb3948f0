"""Helpers for the platform tests: each client wired to its stand-in in-process
(httpx.ASGITransport, no sockets). Imported by module name, so the tests run however pytest
is started."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from community.platforms import PlatformClient, make_client
from community.platforms.base import RemoteRegistration
from community.sandbox.common import SandboxPlatform
from community.sandbox.eventbrite import EventbriteSandbox
from community.sandbox.luma import LumaSandbox
from community.sandbox.meetup import MeetupSandbox
from community.sandbox.shapes import Person, SeedEvent

BASE = "http://sandbox.test"
PLATFORMS = ("meetup", "eventbrite", "luma")


def new_sandbox(platform: str, **options: Any) -> SandboxPlatform:
    sandbox: SandboxPlatform = {
        "meetup": MeetupSandbox,
        "eventbrite": EventbriteSandbox,
        "luma": LumaSandbox,
    }[platform](**options)
    sandbox.public_url = BASE
    return sandbox


def credential(sandbox: SandboxPlatform) -> str:
    creds = sandbox.credentials()
    return creds.get("access_token") or creds["api_key"]


def new_client(sandbox: SandboxPlatform, token: Any = None, **options: Any) -> PlatformClient:
    return make_client(
        sandbox.name,
        BASE,
        token if token is not None else credential(sandbox),
        transport=httpx.ASGITransport(app=sandbox.app),
        **options,
    )


def people(count: int, prefix: str = "Person") -> list[Person]:
    return [
        Person(f"{prefix} {i}", f"{prefix.lower()}{i}@example.org", f"{prefix.lower()}-{i}")
        for i in range(count)
    ]


@dataclass
class Pair:
    sandbox: SandboxPlatform
    client: PlatformClient

    def seed(self, **fields: Any) -> str:
        return self.sandbox.seed_event(SeedEvent(**fields))

    def register(self, event_id: str, count: int, prefix: str = "Person") -> list[str]:
        ids = []
        for person in people(count, prefix):
            outcome = self.sandbox.add_registration(event_id, person)
            assert outcome.id is not None, outcome
            ids.append(outcome.id)
        return ids

    def state(self, event_id: str) -> dict[str, Any]:
        return self.sandbox.event_state(event_id)


async def make_pair(platform: str, sandbox_options: Any = None, **client_options: Any) -> Pair:
    sandbox = new_sandbox(platform, **(sandbox_options or {}))
    return Pair(sandbox, new_client(sandbox, **client_options))


class Receiver:
    """A webhook receiver as an ASGI app: records every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.bodies.append(json.loads(b"".join(chunks)))
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def sweep(
    client: PlatformClient, event_id: str, changed_since: Any = None
) -> tuple[list[Any], int]:
    """Every registration across pages, and how many pages it took."""
    items, cursor, pages = [], None, 0
    while True:
        page = await client.list_registrations(event_id, cursor, changed_since=changed_since)
        items.extend(page.items)
        pages += 1
        if page.next_cursor is None:
            return items, pages
        cursor = page.next_cursor


class CountingProvider:
    """A token provider that records each call and answers from a script."""

    def __init__(self, answer: Callable[[bool, int], str]) -> None:
        self.calls: list[bool] = []
        self._answer = answer

    async def __call__(self, *, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        return self._answer(force_refresh, len(self.calls))


def stand_in_id(registration: RemoteRegistration) -> str:
    """The id the stand-in answered a registration with: Eventbrite's registration is the
    order (per person), named by its first ticket's attendee id."""
    return registration.aliases[0] if registration.aliases else registration.external_id
