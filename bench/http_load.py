"""A small HTTP/1.1 load generator on plain asyncio streams, for the benchmarks in bench/.

Why not httpx: its connection pool costs the client several milliseconds of CPU per request
at 64 connections, and on a two-core machine that CPU is taken from the server being
measured. Here each connection is one keep-alive socket with its own coroutine; a request is
a pre-encoded byte string and a response is read by Content-Length (or chunks), so the client
costs tens of microseconds per request.

Two ways to drive a server:
- closed loop: every connection sends its next request as soon as the last one is answered;
  this finds the throughput ceiling (latency then is mostly queueing);
- open loop: requests are due at a fixed rate whatever the server does, each on the next free
  connection, and latency counts from when a request was due (so a stalled server is not
  flattered by requests that were never sent: no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None  # JSON-encoded when given
    headers: tuple[tuple[str, str], ...] = ()  # this request's own (e.g. X-Forwarded-For)


@dataclass
class Run:
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Connection:
    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.fixed = "".join(
            f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items()
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    def encode(self, call: Call) -> bytes:
        body = b"" if call.body is None else json.dumps(call.body).encode()
        extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body else ""
        extra += "".join(f"{name}: {value}\r\n" for name, value in call.headers)
        head = f"{call.method} {call.path} HTTP/1.1\r\n{self.fixed}{extra}\r\n"
        return head.encode() + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        # The whole head in one read: every await is the client's CPU taken from the server.
        status_line, *lines = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked = 0, False
        for line in lines:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        body = bytearray()
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await self.reader.readexactly(size + 2)
            del body[-2:]
        await self.reader.readuntil(b"\r\n")
        return status, bytes(body)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def outcome_of(status: int, body: bytes) -> str:
    """`http <status>` for errors, else the JSON body's "result" (or "ok")."""
    if status != 200:
        return f"http {status}"
    try:
        result = json.loads(body).get("result", "ok")
    except (ValueError, AttributeError):
        return "ok"
    return str(result)


async def _connections(
    host: str, port: int, headers: dict[str, str], count: int
) -> list[Connection]:
    return list(
        await asyncio.gather(*(Connection(host, port, headers).open() for _ in range(count)))
    )


async def closed_loop(
    host: str, port: int, headers: dict[str, str], calls: list[Call], connections: int
) -> Run:
    pool = await _connections(host, port, headers, connections)
    encoded = iter([pool[0].encode(call) for call in calls])
    run = Run(seconds=0.0)

    async def drive(connection: Connection) -> None:
        for request in encoded:
            started = time.perf_counter()
            status, body = await connection.send(request)
            run.latencies_ms.append((time.perf_counter() - started) * 1000)
            run.outcomes[outcome_of(status, body)] += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(drive(connection) for connection in pool))
    finally:
        run.seconds = time.perf_counter() - started
        await asyncio.gather(*(connection.close() for connection in pool))
    return run


async def open_loop(
    host: str,
    port: int,
    headers: dict[str, str],
    calls: list[Call],
    connections: int,
    rate: float,
) -> Run:
    pool = await _connections(host, port, headers, connections)
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in pool:
        free.put_nowait(connection)
    run = Run(seconds=0.0)
    start = time.perf_counter()

    async def fire(due: float, request: bytes) -> None:
        connection = await free.get()
        status, body = await connection.send(request)
        run.latencies_ms.append((time.perf_counter() - due) * 1000)
        run.outcomes[outcome_of(status, body)] += 1
        free.put_nowait(connection)

    tasks = []
    try:
        for index, call in enumerate(calls):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(due, pool[0].encode(call))))
        await asyncio.gather(*tasks)
    finally:
        run.seconds = time.perf_counter() - start
        await asyncio.gather(*(connection.close() for connection in pool))
    return run
