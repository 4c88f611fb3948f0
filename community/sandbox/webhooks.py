"""Webhook delivery from a stand-in: fire-and-forget POSTs, failures recorded and ignored."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx


class WebhookSender:
    def __init__(
        self, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 5.0
    ) -> None:
        self.transport = transport
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.deliveries: list[dict[str, Any]] = []

    def send(
        self, url: str, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        """Deliver in the background; without a running loop (plain sync use) nothing is sent."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._post(url, payload, headers or {}))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, payload: dict[str, Any], headers: dict[str, str]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.transport, timeout=self._timeout)
        record: dict[str, Any] = {"url": url, "payload": payload}
        try:
            response = await self._client.post(
                url,
                content=json.dumps(payload),
                headers={"Content-Type": "application/json", **headers},
            )
            record["status"] = response.status_code
        except Exception as exc:  # a dead receiver must never break the stand-in
            record["error"] = type(exc).__name__
        self.deliveries.append(record)

    async def drain(self) -> None:
        """Wait for deliveries in flight (tests use this to observe them)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
