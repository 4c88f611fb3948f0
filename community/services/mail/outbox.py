"""Outgoing e-mail: every message is first written to the outbox table, then delivered.

With SMTP configured, a background job sends it (stdlib smtplib in a worker thread) and
marks it sent; without SMTP, it stays in the outbox as "kept" for the admin to read. Either
way the exact message that was (or would have been) sent is on record.

Exactly once: a delivery first claims its row (queued -> sending, under a row lock), so a
retried or duplicated job finds it taken and sends nothing. A claim older than the lease
belongs to a worker that died mid-send; the re-drive job hands such rows out again.
Per recipient, the claim also enforces a quota and refuses to repeat the same kind of mail
about the same event within minutes (mail bombing); such rows end "suppressed".
"""

from __future__ import annotations

import asyncio
import base64
import logging
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from community.config import MailLimits, Settings, SmtpSettings
from community.models import OutboxMessage, Registration

log = logging.getLogger("community.mail")

QUEUED, SENDING, SENT, KEPT, FAILED = "queued", "sending", "sent", "kept", "failed"
SUPPRESSED = "suppressed"
# Rows that took (or are taking) their turn in a recipient's quota.
OUT = (SENDING, SENT, KEPT)
# Mail the organiser or the system causes, not the recipient: never held back by the quota.
QUOTA_EXEMPT = frozenset(
    {"promoted", "event_cancelled", "payment_offer", "payment_refused", "payment_refunded"}
)
# How long a claim holds before the row counts as abandoned (a job's timeout is far shorter).
CLAIM_LEASE = timedelta(minutes=10)

Compose = Callable[[AsyncSession, OutboxMessage], Awaitable[bool]]


class MailError(Exception):
    """SMTP refused or could not be reached; the job retries, then marks the message failed."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=PUBLISH", "image/png", ...
    data: bytes
    cid: str = ""  # set for pictures shown inside the HTML body (cid: URLs)

    def as_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "content_b64": base64.b64encode(self.data).decode(),
            "cid": self.cid,
        }


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    text: str
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)


def store(
    session: AsyncSession,
    mail: OutgoingMail,
    *,
    registration_id: UUID | None = None,
    kind: str = "",
) -> OutboxMessage:
    """Add the message to the outbox (the caller commits)."""
    message = OutboxMessage(
        to_addr=mail.to,
        # One line whatever went into it: a CR or LF in a header cannot be sent.
        subject=" ".join(mail.subject.split())[:300],
        text_body=mail.text,
        html_body=mail.html,
        attachments=[a.as_json() for a in mail.attachments],
        status=QUEUED,
        registration_id=registration_id,
        kind=kind,
    )
    session.add(message)
    return message


def fill(message: OutboxMessage, mail: OutgoingMail) -> None:
    """Put a composed message into a row written before it was composed."""
    message.to_addr = mail.to
    message.subject = " ".join(mail.subject.split())[:300]  # one line, as in store()
    message.text_body = mail.text
    message.html_body = mail.html
    message.attachments = [a.as_json() for a in mail.attachments]


async def ensure_ticket_row(
    session: AsyncSession, registration_id: UUID, kind: str, to_addr: str
) -> UUID:
    """The outbox row of one registration's mail of one kind, written if not there yet.

    Called inside the registration's own transaction (or by a job for paths that have none);
    the unique (registration, kind) index makes a second call find the first row. The body is
    composed at delivery, off the request's path. "resend" rows are new each time.
    """
    values = {
        "registration_id": registration_id,
        "kind": kind,
        "to_addr": to_addr,
        "subject": "",
        "text_body": "",
        "html_body": "",
        "attachments": [],
        "status": QUEUED,
        "error": "",
    }
    statement = insert(OutboxMessage).values(values)
    if kind != "resend":
        statement = statement.on_conflict_do_nothing(
            index_elements=["registration_id", "kind"],
            index_where=text("registration_id IS NOT NULL AND kind <> 'resend'"),
        )
    inserted: UUID | None = await session.scalar(statement.returning(OutboxMessage.id))
    if inserted is not None:
        return inserted
    existing = await session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.registration_id == registration_id, OutboxMessage.kind == kind
        )
    )
    assert existing is not None
    return existing


async def ticket_row(
    session: AsyncSession, registration_id: UUID, kind: str, to_addr: str
) -> OutboxMessage:
    """The row of ensure_ticket_row, loaded; one query when the registration's transaction
    already wrote it (the usual case: a ticket job follows its registration)."""
    if kind != "resend":
        found = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.registration_id == registration_id, OutboxMessage.kind == kind
            )
        )
        if found is not None:
            return found
    message = await session.get(
        OutboxMessage, await ensure_ticket_row(session, registration_id, kind, to_addr)
    )
    assert message is not None
    return message


def _split(content_type: str) -> tuple[str, str, dict[str, str]]:
    main, _, rest = content_type.partition(";")
    maintype, _, subtype = main.strip().partition("/")
    params = {}
    for part in rest.split(";"):
        if "=" in part:
            key, _, value = part.partition("=")
            params[key.strip()] = value.strip().strip('"')
    return maintype, subtype, params


def to_mime(message: OutboxMessage, sender: str, *, domain: str = "localhost") -> EmailMessage:
    """The outbox row as a MIME message: text + HTML alternatives, inline pictures, files."""
    mime = EmailMessage()
    mime["Subject"] = message.subject
    mime["From"] = sender
    mime["To"] = message.to_addr
    mime["Date"] = format_datetime(message.created_at or datetime.now(UTC))
    mime["Message-ID"] = make_msgid(idstring=str(message.id).replace("-", ""), domain=domain)
    mime["Auto-Submitted"] = "auto-generated"
    mime.set_content(message.text_body)
    attachments = message.attachments or []
    if message.html_body:
        mime.add_alternative(message.html_body, subtype="html")
        html_part = list(mime.iter_parts())[-1]  # the HTML alternative just added
        for item in attachments:
            if item.get("cid"):
                maintype, subtype, _ = _split(item["content_type"])
                html_part.add_related(
                    base64.b64decode(item["content_b64"]),
                    maintype=maintype,
                    subtype=subtype,
                    cid=f"<{item['cid']}>",
                    filename=item["filename"],
                    disposition="inline",
                )
    for item in attachments:
        if item.get("cid"):
            continue
        maintype, subtype, params = _split(item["content_type"])
        data = base64.b64decode(item["content_b64"])
        if maintype == "text":
            mime.add_attachment(
                data.decode(), subtype=subtype, filename=item["filename"], params=params
            )
        else:
            mime.add_attachment(data, maintype=maintype, subtype=subtype, filename=item["filename"])
    return mime


def smtp_send(smtp: SmtpSettings, mime: EmailMessage, *, timeout: float = 20.0) -> None:
    """Blocking send; run in a thread. Raises MailError with the kind of failure only."""
    envelope_from = parseaddr(smtp.sender)[1] or "events@localhost"
    try:
        if smtp.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password)
            client.send_message(mime, from_addr=envelope_from)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(type(exc).__name__) from exc


# One alias for every call: a new one each time made SQLAlchemy compile the query again.
_OTHER = aliased(OutboxMessage)


async def _held_back(
    session: AsyncSession, message: OutboxMessage, limits: MailLimits, now: datetime
) -> str:
    """Why this message must not go out now (quota, repeat), or "" when it may.

    Both rules are read in one statement: each query is about a millisecond of the worker's
    CPU, and in a rush every ticket passes here."""
    other = _OTHER
    # "The same kind of mail" is about the same event: two events' tickets both go out.
    event_id = select(Registration.event_id).where(Registration.id == message.registration_id)
    repeated = (
        select(other.id)
        .join(Registration, Registration.id == other.registration_id)
        .where(
            other.to_addr == message.to_addr,
            other.id != message.id,
            other.status.in_(OUT),
            other.claimed_at > now - timedelta(seconds=limits.repeat_window_s),
            other.kind == message.kind,
            Registration.event_id == event_id.scalar_subquery(),
        )
        .exists()
    )
    sent_last_hour = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.to_addr == message.to_addr,
            OutboxMessage.status.in_(OUT),
            OutboxMessage.claimed_at > now - timedelta(hours=1),
        )
        .scalar_subquery()
    )
    repeat, sent = (await session.execute(select(repeated, sent_last_hour))).one()
    # Sign-in links differ each time and their form has its own per-address limit: only the
    # quota applies to them.
    if message.registration_id is not None and repeat:
        return "held back: the same e-mail went to this address a few minutes ago"
    if message.kind not in QUOTA_EXEMPT and int(sent or 0) >= limits.recipient_hourly_quota:
        return "held back: this address reached its hourly e-mail quota"
    return ""


async def claim(session: AsyncSession, outbox_id: UUID, limits: MailLimits) -> OutboxMessage | str:
    """Take the row for sending (queued -> sending), or say why not (its status, "busy")."""
    now = datetime.now(UTC)
    message = await session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if message is None:
        await session.rollback()
        return "missing"
    status = message.status
    taken = status == SENDING and message.claimed_at and message.claimed_at > now - CLAIM_LEASE
    if status not in (QUEUED, SENDING) or taken:
        await session.rollback()
        return "busy" if taken else status
    # One claim at a time per recipient, so two jobs cannot both pass the quota.
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(message.to_addr))))
    reason = await _held_back(session, message, limits, now)
    if reason:
        message.status, message.error = SUPPRESSED, reason
        await session.commit()
        log.info("mail held back", extra={"outbox_id": str(outbox_id), "kind": message.kind})
        return SUPPRESSED
    message.status, message.claimed_at = SENDING, now
    await session.commit()
    return message


async def deliver(
    session: AsyncSession,
    settings: Settings,
    outbox_id: UUID,
    *,
    compose: Compose | None = None,
) -> str:
    """Send one outbox message once (or keep it when no SMTP server is configured).

    `compose` fills a row written before its body (a ticket mail); False means there is
    nothing to send any more (the registration or event is gone).
    """
    claimed = await claim(session, outbox_id, settings.mail_limits)
    if isinstance(claimed, str):
        return claimed
    message = claimed
    if not message.text_body:
        if compose is None or not await compose(session, message):
            message.status, message.error = SUPPRESSED, "nothing to send any more"
            await session.commit()
            return SUPPRESSED
        await session.commit()
    if not settings.smtp.configured:
        message.status = KEPT
        await session.commit()
        return KEPT
    sender = settings.smtp.sender
    domain = Address(addr_spec=parseaddr(sender)[1] or "events@localhost").domain or "localhost"
    try:
        mime = to_mime(message, sender, domain=domain)
    except Exception as exc:
        message.status = FAILED
        message.error = f"The message could not be built: {type(exc).__name__}"
        await session.commit()
        log.error(
            "mail could not be built",
            extra={"outbox_id": str(outbox_id), "error": type(exc).__name__},
        )
        return FAILED
    try:
        await asyncio.to_thread(smtp_send, settings.smtp, mime)
    except MailError:
        # Hand the row back, so the job's retry (or the re-drive) may claim it again.
        message.status, message.claimed_at = QUEUED, None
        await session.commit()
        raise
    message.status = SENT
    message.sent_at = datetime.now(UTC)
    message.error = ""
    await session.commit()
    log.info("mail sent", extra={"outbox_id": str(outbox_id)})
    return SENT


async def mark_failed(session: AsyncSession, outbox_id: UUID, error: str) -> None:
    message = await session.get(OutboxMessage, outbox_id)
    if message is not None and message.status in (QUEUED, SENDING):
        message.status = FAILED
        message.error = error[:500]
        await session.commit()


async def stale_rows(session: AsyncSession, older_than: timedelta, limit: int = 500) -> list[UUID]:
    """Rows nobody is sending: queued for longer than `older_than` (their job was lost), or
    claimed longer ago than the lease (their worker died)."""
    now = datetime.now(UTC)
    rows = await session.scalars(
        select(OutboxMessage.id)
        .where(
            ((OutboxMessage.status == QUEUED) & (OutboxMessage.created_at < now - older_than))
            | ((OutboxMessage.status == SENDING) & (OutboxMessage.claimed_at < now - CLAIM_LEASE))
        )
        .order_by(OutboxMessage.created_at)
        .limit(limit)
    )
    return list(rows)
