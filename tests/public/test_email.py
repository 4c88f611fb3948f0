"""Ticket e-mails: composed into the outbox (QR inline, .ics attached), then kept or sent."""

from __future__ import annotations

import asyncio
import base64
import email
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from email.message import Message

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings, SmtpSettings
from community.models import OutboxMessage
from community.services.mail import outbox as mail
from community.services.seats.registrations import RegistrationService
from community.tasks import email as email_tasks
from tests.helpers.public import MakeEvent, SmtpSink


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    sink.server = await asyncio.start_server(sink.handle, "127.0.0.1", 0)
    yield sink
    sink.server.close()
    await sink.server.wait_closed()


async def compose(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    registration_id: object,
    reason: str,
) -> OutboxMessage:
    ctx = {"settings": settings, "session_maker": session_maker, "queues": _NoQueues()}
    await email_tasks.send_ticket_email(ctx, registration_id=str(registration_id), reason=reason)
    async with session_maker() as session:
        message = await session.scalar(
            select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(1)
        )
    assert message is not None
    return message


class _NoQueues(dict):  # type: ignore[type-arg]
    """Collects the delivery jobs a composing job asks for, instead of a real queue."""

    def __init__(self) -> None:
        super().__init__(urgent=self)
        self.enqueued: list[dict[str, object]] = []

    async def enqueue(self, function: str, **kwargs: object) -> None:
        self.enqueued.append({"function": function, **kwargs})


async def test_ticket_mail_has_inline_qr_and_calendar_file(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    make_event: MakeEvent,
    registrations: RegistrationService,
) -> None:
    event = await make_event(online=True)
    reg = await registrations.register(event.id, name="Ada", email="ada@example.com")
    message = await compose(settings, session_maker, reg.registration_id, "confirmed")
    assert message.to_addr == "ada@example.com" and message.status == "kept"  # no SMTP
    assert message.subject == f"Your ticket for {event.title}"
    assert f"/tickets/{reg.ticket_token}" in message.text_body
    assert f"/tickets/{reg.ticket_token}" in message.html_body
    assert "secret-room" in message.text_body  # the joining link goes to registered guests
    kinds = {a["filename"]: a for a in message.attachments}
    assert (
        kinds["ticket-qr.png"]["cid"]
        and f"cid:{kinds['ticket-qr.png']['cid']}" in message.html_body
    )
    assert kinds[f"{event.slug}.ics"]["content_type"].startswith("text/calendar")

    mime = mail.to_mime(message, "Events <events@example.org>")
    parsed = email.message_from_bytes(bytes(mime))
    parts = [p for p in parsed.walk() if not p.is_multipart()]
    types = [p.get_content_type() for p in parts]
    assert types[:2] == ["text/plain", "text/html"] and "image/png" in types
    png = next(p for p in parts if p.get_content_type() == "image/png")
    assert png["Content-ID"] == f"<{kinds['ticket-qr.png']['cid']}>"
    assert png.get_payload(decode=True).startswith(b"\x89PNG")
    ics = next(p for p in parts if p.get_content_type() == "text/calendar")
    assert ics.get_filename() == f"{event.slug}.ics" and ics.get_param("method") == "PUBLISH"


async def test_waitlist_mail_has_no_qr(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    make_event: MakeEvent,
    registrations: RegistrationService,
) -> None:
    from community.models import SoldOutMode

    event = await make_event(capacity=1, reserve=0, mode=SoldOutMode.WAITLIST)
    await registrations.register(event.id, name="First", email="first@example.com")
    waiting = await registrations.register(event.id, name="Second", email="second@example.com")
    message = await compose(settings, session_maker, waiting.registration_id, "waitlisted")
    assert "waitlist" in message.subject
    assert "number 1" in message.text_body
    assert all(a["filename"] != "ticket-qr.png" for a in message.attachments)


async def test_without_smtp_the_message_is_kept_for_the_admin(
    settings: Settings, session_maker: async_sessionmaker[AsyncSession]
) -> None:
    async with session_maker() as session:
        message = mail.store(session, mail.OutgoingMail("x@example.com", "Hello", "Body"))
        await session.commit()
        assert await mail.deliver(session, settings, message.id) == "kept"
        # Delivering again changes nothing.
        assert await mail.deliver(session, settings, message.id) == "kept"


async def test_smtp_delivery_and_failure(
    settings: Settings, session_maker: async_sessionmaker[AsyncSession], smtp_sink: SmtpSink
) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_sink.port, security="none",
                        sender="Events <events@example.org>")  # fmt: skip
    with_smtp = replace(settings, smtp=smtp)
    async with session_maker() as session:
        message = mail.store(
            session,
            mail.OutgoingMail(
                "y@example.com",
                "Your ticket",
                "Plain body",
                "<p>HTML body</p>",
                [mail.Attachment("a.ics", "text/calendar; method=PUBLISH", b"BEGIN:VCALENDAR")],
            ),
        )
        await session.commit()
        assert await mail.deliver(session, with_smtp, message.id) == "sent"
        await session.refresh(message)
        assert message.status == "sent" and message.sent_at is not None
    received: Message = email.message_from_bytes(smtp_sink.messages[0])
    assert received["To"] == "y@example.com" and received["Subject"] == "Your ticket"

    smtp_sink.refuse = True
    async with session_maker() as session:
        failing = mail.store(session, mail.OutgoingMail("z@example.com", "Again", "Body"))
        await session.commit()
        with pytest.raises(mail.MailError):
            await mail.deliver(session, with_smtp, failing.id)

    # The delivery job retries while it may, then records the failure for the admin.
    class LastAttempt:
        retryable = False

    ctx = {
        "settings": with_smtp,
        "session_maker": session_maker,
        "queues": {},
        "job": LastAttempt(),
    }
    assert await email_tasks.deliver_email(ctx, outbox_id=str(failing.id)) == "failed"
    async with session_maker() as session:
        stored = await session.get(OutboxMessage, failing.id)
    assert stored is not None and stored.status == "failed" and "SMTP" in stored.error


async def test_a_cancelled_event_mails_everyone_holding_a_place(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    make_event: MakeEvent,
    registrations: RegistrationService,
) -> None:
    from community.models import Event, SoldOutMode
    from community.services.events.manage import cancel_event

    event = await make_event(capacity=2, reserve=0, mode=SoldOutMode.WAITLIST)
    seated = await registrations.register(event.id, name="Ada", email="ada@example.com")
    on_meetup = await registrations.record_platform_registration(
        event.id, platform="meetup", name="Lin", email="lin@example.com", platform_member_id="m1"
    )
    waiting = await registrations.register(event.id, name="Grace", email="grace@example.com")
    gone = await registrations.register(event.id, name="Carl", email="carl@example.com")
    await registrations.cancel(gone.ticket_token)
    await registrations.record_platform_registration(  # no address from the platform
        event.id, platform="luma", name="Bo", email=None, platform_member_id="l1"
    )
    async with session_maker() as session:
        row = await session.get(Event, event.id)
        assert row is not None and await cancel_event(session, row) is True
        await session.commit()
        assert await cancel_event(session, row) is False  # again: nobody to tell twice

    queues = _NoQueues()
    ctx = {"settings": settings, "session_maker": session_maker, "queues": queues}
    result = await email_tasks.send_event_cancelled_emails(ctx, event_id=str(event.id))
    assert result == "queued 3"
    assert [(job["registration_id"], job["reason"]) for job in queues.enqueued] == [
        (str(r.registration_id), "event_cancelled") for r in (seated, on_meetup, waiting)
    ]

    message = await compose(settings, session_maker, seated.registration_id, "event_cancelled")
    assert message.to_addr == "ada@example.com"
    assert message.subject == f"Cancelled: {event.title} will not take place"
    assert "The organiser has cancelled this event" in message.text_body
    assert "The organiser has cancelled this event" in message.html_body
    assert "Cancel here" not in message.text_body and "View my ticket" not in message.html_body
    kinds = {a["filename"]: a for a in message.attachments}
    assert "ticket-qr.png" not in kinds  # no ticket for an event that will not happen
    # The calendar file says so, so the entry people saved is marked cancelled.
    ics = base64.b64decode(kinds[f"{event.slug}.ics"]["content_b64"]).decode()
    assert "STATUS:CANCELLED" in ics
    waitlisted = await compose(settings, session_maker, waiting.registration_id, "event_cancelled")
    assert "place on the waitlist no longer counts" in waitlisted.text_body
    platform = await compose(settings, session_maker, on_meetup.registration_id, "event_cancelled")
    assert platform.to_addr == "lin@example.com"
    assert "You registered on Meetup" in platform.text_body
    async with session_maker() as session:
        # Without SMTP the message is kept in the outbox for the organiser, like every other.
        assert await mail.deliver(session, settings, message.id) == "kept"


async def test_the_cancellation_job_mails_nobody_for_an_event_still_on(
    settings: Settings, session_maker: async_sessionmaker[AsyncSession], make_event: MakeEvent
) -> None:
    event = await make_event()
    queues = _NoQueues()
    ctx = {"settings": settings, "session_maker": session_maker, "queues": queues}
    assert (
        await email_tasks.send_event_cancelled_emails(ctx, event_id=str(event.id))
        == "skipped: not cancelled"
    )
    assert queues.enqueued == []


async def test_line_breaks_in_an_events_title_never_break_its_ticket_mails(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    make_event: MakeEvent,
    registrations: RegistrationService,
    smtp_sink: SmtpSink,
) -> None:
    # A row saved before titles were cleaned at input (or by any other path).
    event = await make_event(title="Night\r\nBcc: victim@example.org", venue_name="Hall\rB")
    reg = await registrations.register(event.id, name="Ada", email="ada@example.com")
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_sink.port, security="none",
                        sender="Events <events@example.org>")  # fmt: skip
    sending = replace(settings, smtp=smtp)
    message = await compose(sending, session_maker, reg.registration_id, "confirmed")
    assert message.status == "sent"
    assert "\r" not in message.subject and "\n" not in message.subject
    ics = next(a for a in message.attachments if a["filename"].endswith(".ics"))
    lines = base64.b64decode(ics["content_b64"]).decode().split("\r\n")
    assert not any("\r" in line or "\n" in line for line in lines)  # no lone CR or LF
    summary = next(line for line in lines if line.startswith("SUMMARY:"))
    assert summary == "SUMMARY:Night\\nBcc: victim@example.org"
    received: Message = email.message_from_bytes(smtp_sink.messages[0])
    assert received["Bcc"] is None and received["To"] == "ada@example.com"


async def test_a_message_that_cannot_be_built_is_marked_failed_not_retried(
    settings: Settings, session_maker: async_sessionmaker[AsyncSession], smtp_sink: SmtpSink
) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_sink.port, security="none",
                        sender="Events <events@example.org>")  # fmt: skip
    async with session_maker() as session:
        broken = OutboxMessage(
            to_addr="y@example.com",
            subject="Split\r\nsubject",
            text_body="Body",
            html_body="",
            attachments=[],
            status=mail.QUEUED,
        )
        session.add(broken)
        await session.commit()
        assert await mail.deliver(session, replace(settings, smtp=smtp), broken.id) == "failed"
    async with session_maker() as session:
        stored = await session.get(OutboxMessage, broken.id)
    assert stored is not None and stored.status == "failed" and "built" in stored.error
    assert smtp_sink.messages == []


async def test_a_ticket_job_delivers_itself_and_hands_a_failed_send_to_the_retrying_job(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    registrations: RegistrationService,
    make_event: MakeEvent,
    smtp_sink: SmtpSink,
) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=smtp_sink.port, security="none",
                        sender="Events <events@example.org>")  # fmt: skip
    with_smtp = replace(settings, smtp=smtp)
    event = await make_event()
    sent = await registrations.register(event.id, name="Ada", email="ada@example.com")
    queues = _NoQueues()
    ctx = {"settings": with_smtp, "session_maker": session_maker, "queues": queues}
    result = await email_tasks.send_ticket_email(
        ctx, registration_id=str(sent.registration_id), reason="confirmed"
    )
    assert result.endswith(": sent") and len(smtp_sink.messages) == 1
    assert queues.enqueued == []  # no second job for a mail already sent

    smtp_sink.refuse = True
    refused = await registrations.register(event.id, name="Bo", email="bo@example.com")
    result = await email_tasks.send_ticket_email(
        ctx, registration_id=str(refused.registration_id), reason="confirmed"
    )
    assert result.endswith(": delivery queued")
    async with session_maker() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.to_addr == "bo@example.com")
        )
    # Composed and handed back, for the delivery job's retries to send.
    assert row is not None and row.status == "queued" and row.text_body
    assert [(job["function"], job["outbox_id"]) for job in queues.enqueued] == [
        ("deliver_email", str(row.id))
    ]


async def test_a_ticket_job_after_its_registration_reads_and_writes_little(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    registrations: RegistrationService,
    make_event: MakeEvent,
) -> None:
    """In a rush the worker mails every seat while the web wants the CPU, and each statement
    costs the worker about a millisecond: the row the registration wrote is found with one
    query, the body is written with the claim, and both mail rules are read at once
    (measured: 17.3 ms of the worker's CPU per ticket before, 8.4 ms after)."""
    from sqlalchemy import event as sql_events

    event = await make_event()
    placed = await registrations.register(
        event.id, name="Ada", email="ada@example.com", ticket_mail=True
    )
    engine = session_maker.kw["bind"].sync_engine
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()[:2]))

    sql_events.listen(engine, "before_cursor_execute", seen)
    try:
        ctx = {"settings": settings, "session_maker": session_maker, "queues": _NoQueues()}
        result = await email_tasks.send_ticket_email(
            ctx, registration_id=str(placed.registration_id), reason="confirmed"
        )
    finally:
        sql_events.remove(engine, "before_cursor_execute", seen)
    assert result.endswith(": kept")
    # The registration, its row, the ticket, the body with the claim's lock, the recipient's
    # lock, both rules, "sending", "kept".
    assert len(statements) <= 9, statements


async def test_a_ticket_job_waits_at_the_workers_cpu_gate_first(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    registrations: RegistrationService,
    make_event: MakeEvent,
) -> None:
    """Behind a rush (here: a machine that stays busy) the ticket waits its longest wait,
    then goes out."""
    from community.tasks.cpu_gate import CpuGate

    event = await make_event()
    placed = await registrations.register(
        event.id, name="Ada", email="ada@example.com", ticket_mail=True
    )
    started = time.monotonic()

    def always_busy() -> float:  # both cores busy with others since `started`
        return (time.monotonic() - started) * 2

    gate = CpuGate(max_wait_s=0.3, step_s=0.02, machine=always_busy, own=lambda: 0.0, cores=2)
    ctx = {
        "settings": settings,
        "session_maker": session_maker,
        "queues": _NoQueues(),
        "cpu_gate": gate,
    }
    result = await email_tasks.send_ticket_email(
        ctx, registration_id=str(placed.registration_id), reason="confirmed"
    )
    assert result.endswith(": kept") and time.monotonic() - started >= 0.3
