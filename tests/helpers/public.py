"""Helpers of the public page tests: posting forms, running the e-mail jobs, tickets."""

from __future__ import annotations

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
