"""E-mail jobs: compose a message into the outbox, then deliver it (or keep it without SMTP).

A ticket e-mail's outbox row is normally written with the registration itself (one row per
registration and kind); the jobs here compose it and send it. Delivery claims the row first,
so a retried or duplicated job sends nothing twice, and a scheduled job re-drives rows whose
job was lost (Redis restarted) or whose worker died.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Event, EventStatus, Member, OutboxMessage, Payment, Registration
from community.services.access.magic_links import signin_url
from community.services.events.manage import cancellation_recipients
from community.services.jobs import queue_delivery, queue_ticket_email
from community.services.mail import outbox as mail
from community.tasks.context import JobContext
from community.tasks.registry import cron, task
from community.views.payment_mail import compose_payment_mail
from community.views.ticket_mail import compose_signin_mail, compose_ticket_mail
from community.views.ticket_pages import active_registration, find_ticket

log = logging.getLogger("community.email")


# --- jobs -----------------------------------------------------------------------------------


def _deps(
    ctx: JobContext,
) -> tuple[Settings, async_sessionmaker[AsyncSession], dict[str, Queue]]:
    return ctx["settings"], ctx["session_maker"], ctx["queues"]


def _ticket_composer(settings: Settings) -> mail.Compose:
    async def compose(session: AsyncSession, message: OutboxMessage) -> bool:
        if message.payment_id is not None:
            return await _compose_payment_mail(settings, session, message)
        if message.registration_id is None:
            return False
        registration = await session.get(Registration, message.registration_id)
        if registration is None or not registration.email:
            return False
        ticket = await find_ticket(session, registration.ticket_token)
        if ticket is None:
            return False
        mail.fill(message, compose_ticket_mail(settings, ticket, message.kind))
        return True

    return compose


async def _compose_payment_mail(
    settings: Settings, session: AsyncSession, message: OutboxMessage
) -> bool:
    payment = await session.get(Payment, message.payment_id)
    event = None if payment is None else await session.get(Event, payment.event_id)
    if payment is None or event is None:
        return False
    composed = compose_payment_mail(settings, event, payment, message.kind)
    if composed is None:
        return False
    mail.fill(message, composed)
    return True


@task
async def send_ticket_email(ctx: JobContext, *, registration_id: str, reason: str) -> str:
    """Compose a registration's mail of one kind into its outbox row (written here when the
    registration's transaction did not write it) and deliver it.

    Delivered in the same job, not a second one: a rush's hundred tickets are a hundred jobs,
    not two hundred, while the web wants the CPU. Only a failed send goes on to the delivery
    job, which retries with its backoff."""
    settings, session_maker, queues = _deps(ctx)
    if (gate := ctx.get("cpu_gate")) is not None:
        await gate.wait()  # behind a rush: the people still waiting for an answer come first
    async with session_maker() as session:
        registration = await session.get(Registration, UUID(registration_id))
        if registration is None or not registration.email:
            return "skipped: no address"
        message = await mail.ticket_row(session, registration.id, reason, registration.email)
        outbox_id = message.id
        unwritten = message.status == mail.QUEUED and not message.text_body
        composer = _ticket_composer(settings)
        if unwritten and not await composer(session, message):
            return "skipped: event removed"
        await session.flush()  # the body commits with the claim (or its hold-back)
        try:
            sent = await mail.deliver(session, settings, outbox_id, compose=composer)
            return f"composed {outbox_id}: {sent}"
        except mail.MailError as exc:
            log.warning("mail delivery failed, will retry", extra={"error": str(exc)})
    await queue_delivery(queues, outbox_id)
    return f"composed {outbox_id}: delivery queued"


@task
async def send_existing_ticket_email(ctx: JobContext, *, event_id: str, email: str) -> str:
    _, session_maker, queues = _deps(ctx)
    async with session_maker() as session:
        registration = await active_registration(session, UUID(event_id), email)
    if registration is None:
        return "skipped: no place"
    await queue_ticket_email(queues, registration.id, "resend")
    return "queued"


@task
async def send_event_cancelled_emails(ctx: JobContext, *, event_id: str) -> str:
    _, session_maker, queues = _deps(ctx)
    async with session_maker() as session:
        event = await session.get(Event, UUID(event_id))
        if event is None or event.status != EventStatus.CANCELLED:
            return "skipped: not cancelled"
        recipients = await cancellation_recipients(session, event.id)
    for registration_id in recipients:
        await queue_ticket_email(queues, registration_id, "event_cancelled")
    return f"queued {len(recipients)}"


@task
async def send_signin_email(ctx: JobContext, *, member_id: str, email: str) -> str:
    settings, session_maker, queues = _deps(ctx)
    async with session_maker() as session:
        member = await session.get(Member, UUID(member_id))
        if member is None:
            return "skipped: no profile"
        link = signin_url(settings, str(member.id))
        message = mail.store(
            session, compose_signin_mail(settings, member, email, link), kind="signin"
        )
        await session.commit()
        outbox_id = message.id
    await queue_delivery(queues, outbox_id)
    return f"composed {outbox_id}"


@task
async def deliver_email(ctx: JobContext, *, outbox_id: str) -> str:
    settings, session_maker, _ = _deps(ctx)
    job = ctx.get("job")
    async with session_maker() as session:
        try:
            return await mail.deliver(
                session, settings, UUID(outbox_id), compose=_ticket_composer(settings)
            )
        except mail.MailError as exc:
            if job is not None and job.retryable:
                log.warning("mail delivery failed, will retry", extra={"error": str(exc)})
                raise
            await session.rollback()
            await mail.mark_failed(session, UUID(outbox_id), f"SMTP delivery failed: {exc}")
            log.error("mail delivery failed for good", extra={"outbox_id": outbox_id})
            return mail.FAILED


@cron("* * * * *", timeout=60)
async def redrive_outbox(ctx: JobContext) -> str:
    """Queue delivery again for outbox rows nobody is sending: their job was lost (Redis
    restarted or was flushed) or their worker died mid-send. Sending stays exactly once:
    whichever job claims a row first sends it."""
    settings, session_maker, queues = _deps(ctx)
    async with session_maker() as session:
        stale = await mail.stale_rows(
            session, timedelta(seconds=settings.mail_limits.redrive_after_s)
        )
    for outbox_id in stale:
        await queue_delivery(queues, outbox_id)
    if stale:
        log.warning("outbox rows re-driven", extra={"count": len(stale)})
    return f"re-driven {len(stale)}"
