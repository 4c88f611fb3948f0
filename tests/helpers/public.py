"""Helpers of the public page tests: posting forms, running the e-mail jobs, tickets, a mail
server that keeps what it receives."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from community.models import Event
from community.tasks import email as email_tasks

MakeEvent = Callable[..., Awaitable[Event]]
EMAIL_TASKS = {
    "send_ticket_email": email_tasks.send_ticket_email,
    "send_signin_email": email_tasks.send_signin_email,
    "deliver_email": email_tasks.deliver_email,
}


async def csrf(client: AsyncTestClient[Litestar], path: str = "/my-tickets") -> str:
    """The CSRF token of the signed-in and personal pages (the shared event pages carry
    none: their forms are checked by origin)."""
    if "csrftoken" not in client.cookies:
        await client.get(path)
    return client.cookies.get("csrftoken") or ""


async def post_form(
    client: AsyncTestClient[Litestar],
    path: str,
    data: dict[str, str],
    *,
    htmx: bool = False,
    follow_redirects: bool = False,
) -> Any:
    token = await csrf(client)
    headers = {"x-csrftoken": token}
    if htmx:
        headers["hx-request"] = "true"
    return await client.post(path, data=data, headers=headers, follow_redirects=follow_redirects)


RunJobs = Callable[[], Awaitable[list[tuple[str, Any]]]]


def ticket_token_in(text: str) -> str:
    match = re.search(r"/tickets/([A-Za-z0-9_-]{16,64})", text)
    assert match, "no ticket link in the answer"
    return match.group(1)


class SmtpSink:
    """A tiny SMTP server on loopback that keeps what it receives (enough for smtplib)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.refuse = False
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250 sink\r\n")
            elif verb == b"MAIL" and self.refuse:
                writer.write(b"451 try again later\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                writer.write(b"250 ok\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                self.messages.append(data[:-5])
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"502 not here\r\n")
            await writer.drain()
        writer.close()
