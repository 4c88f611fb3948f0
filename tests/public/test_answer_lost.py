"""A person whose seat was taken but whose answer never arrived (the connection failed while
the server answered) still gets their ticket, once, and a retry tells them they are registered
and offers to send the ticket again."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import select

from community.models import OutboxMessage, Registration
from tests.helpers.public import MakeEvent, RunJobs, post_form


def answers_lost_on_register(app: ASGIApp, losing: list[bool]) -> ASGIApp:
    """While `losing[0]`, a registration runs in full but its answer breaks on the way out;
    the proxy in front then answers 502 (what a person behind a real proxy would see)."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not losing[0] or not path.endswith("/register"):
            await app(scope, receive, send)
            return

        async def broken(message: Message) -> None:
            raise ConnectionResetError("the answer never reached the person")

        try:
            await app(scope, receive, broken)
        except Exception:  # the reset, as it is, or wrapped by Litestar
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b"Bad gateway"})

    return wrapper


async def _mails_to(session_maker: Any, address: str, event_id: Any) -> list[str]:
    """The mails about this event (other tests mail the same address about theirs)."""
    async with session_maker() as session:
        rows = await session.scalars(
            select(OutboxMessage.subject)
            .join(Registration, Registration.id == OutboxMessage.registration_id)
            .where(OutboxMessage.to_addr == address, Registration.event_id == event_id)
        )
        return list(rows)


async def test_confirmed_but_not_told_is_mailed_once_and_can_get_the_ticket_again(
    app: Any, make_event: MakeEvent, run_email_jobs: RunJobs, session_maker: Any
) -> None:
    event = await make_event(capacity=10)
    path = f"/events/{event.slug}/register"
    person = {"name": "Grace Hopper", "email": "grace@example.com"}
    losing = [True]
    async with AsyncTestClient(app=answers_lost_on_register(app, losing)) as client:
        lost = await post_form(client, path, person, htmx=True)
        assert lost.status_code == 502
        await run_email_jobs()
        assert await _mails_to(session_maker, "grace@example.com", event.id) == [
            f"Your ticket for {event.title}"
        ]

        losing[0] = False
        retry = await post_form(client, path, person, htmx=True)
        assert retry.status_code == 409
        assert "already registered" in retry.text and "Send my ticket again" in retry.text
        again = await post_form(
            client, f"/events/{event.slug}/resend", {"email": person["email"]}, htmx=True
        )
        assert again.status_code == 200
        await run_email_jobs()
    subjects = await _mails_to(session_maker, "grace@example.com", event.id)
    assert sorted(subjects) == sorted(
        [f"Your ticket for {event.title}", f"Your ticket for {event.title} (sent again)"]
    )
