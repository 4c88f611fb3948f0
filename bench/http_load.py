"""A small HTTP/1.1 load generator on plain asyncio streams, for the benchmarks in bench/.

Why not httpx: its connection pool costs the client several milliseconds of CPU per request
at 64 connections, and on a two-core machine that CPU is taken from the server being
measured. Here a request is a pre-encoded byte string and a response is read by
Content-Length (or chunks) on one keep-alive socket per connection. The closed loop runs on
the event loop's callbacks (no coroutine per request: a few microseconds of client CPU per
request); the open loop has a coroutine per connection (tens of microseconds).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast


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


CHUNKED = -2
Answered = Callable[[int, float, int, bytes], None]  # (index, sent at, status, body)


class _Driven(asyncio.Protocol):
    """One keep-alive connection of a closed loop, driven from the loop's callbacks: the next
    request leaves from `data_received`, with no coroutine, future or stream per request,
    so the client's CPU per request is a few microseconds of parsing."""

    def __init__(self, loop: _ClosedLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.status = 0
        self.length = -1  # of the body awaited; -1 while reading a head, CHUNKED for chunks
        self.chunks = bytearray()
        self.index = -1  # of the request in flight; -1 when idle
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send_next(self) -> None:
        assert self.transport is not None
        try:
            self.index, request = next(self.loop.pending)
        except StopIteration:
            self.index = -1
            self.loop.idle()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (answer := self._take_answer()) is not None:
            self.loop.answered(self.index, self.sent_at, self.status, answer)
            self.send_next()

    def _take_answer(self) -> bytes | None:
        """The body of the answer now complete in the buffer, or None while it is not."""
        buffer = self.buffer
        if self.length == -1:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            head = bytes(buffer[:end]).lower()
            del buffer[: end + 4]
            self.status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                value_end = head.find(b"\r\n", at + 2)
                self.length = int(head[at + 17 : value_end if value_end > 0 else None])
            elif b"\r\ntransfer-encoding: chunked" in head:
                self.length, self.chunks = CHUNKED, bytearray()
            else:
                self.length = 0
        if self.length == CHUNKED:
            return self._take_chunks()
        if len(buffer) < self.length:
            return None
        body = bytes(buffer[: self.length])
        del buffer[: self.length]
        self.length = -1
        return body

    def _take_chunks(self) -> bytes | None:
        buffer = self.buffer
        while (line_end := buffer.find(b"\r\n")) >= 0:
            size = int(bytes(buffer[:line_end]).split(b";")[0], 16)
            if len(buffer) < line_end + 2 + size + 2:
                return None
            self.chunks += buffer[line_end + 2 : line_end + 2 + size]
            del buffer[: line_end + 2 + size + 2]
            if size == 0:  # the last chunk (no trailers)
                self.length = -1
                return bytes(self.chunks)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.index >= 0:
            self.loop.fail(exc or ConnectionError("the server closed a connection mid-request"))


class _ClosedLoop:
    def __init__(self, requests: list[bytes], answered: Answered, connections: int) -> None:
        self.pending = iter(enumerate(requests))
        self.answered = answered
        self.waiting = connections
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def idle(self) -> None:
        """One more connection found nothing left to send; the last one ends the run."""
        self.waiting -= 1
        if self.waiting == 0 and not self.done.done():
            self.done.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


async def drive_closed(
    host: str, port: int, requests: list[bytes], connections: int, answered: Answered
) -> tuple[float, float]:
    """Send pre-encoded requests over `connections` keep-alive sockets, each connection its
    next request as soon as the last is answered; `answered` hears of every answer. Returns
    (when the first request left, when the last answer came), from time.perf_counter()."""
    loop = asyncio.get_running_loop()
    driver = _ClosedLoop(requests, answered, connections)
    opened = [
        (await loop.create_connection(lambda: _Driven(driver), host, port))[1]
        for _ in range(connections)
    ]
    started = time.perf_counter()
    try:
        for connection in opened:
            connection.send_next()
        await driver.done
    finally:
        finished = time.perf_counter()
        for connection in opened:
            if connection.transport is not None:
                connection.transport.close()
    return started, finished


async def closed_loop(
    host: str, port: int, headers: dict[str, str], calls: list[Call], connections: int
) -> Run:
    encoder = Connection(host, port, headers)
    run = Run(seconds=0.0)

    def answered(_index: int, sent_at: float, status: int, body: bytes) -> None:
        run.latencies_ms.append((time.perf_counter() - sent_at) * 1000)
        run.outcomes[outcome_of(status, body)] += 1

    requests = [encoder.encode(call) for call in calls]
    started, finished = await drive_closed(host, port, requests, connections, answered)
    run.seconds = finished - started
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
