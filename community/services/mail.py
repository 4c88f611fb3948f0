"""Outgoing e-mail: every message is first written to the outbox table, then delivered.

With SMTP configured, a background job sends it (stdlib smtplib in a worker thread) and
marks it sent; without SMTP, it stays in the outbox as "kept" for the admin to read. Either
way the exact message that was (or would have been) sent is on record.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from community.config import Settings, SmtpSettings
from community.models import OutboxMessage

log = logging.getLogger("community.mail")

QUEUED, SENT, KEPT, FAILED = "queued", "sent", "kept", "failed"


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


def store(session: AsyncSession, mail: OutgoingMail) -> OutboxMessage:
    """Add the message to the outbox (the caller commits)."""
    message = OutboxMessage(
        to_addr=mail.to,
        # One line whatever went into it: a CR or LF in a header cannot be sent.
        subject=" ".join(mail.subject.split())[:300],
        text_body=mail.text,
        html_body=mail.html,
        attachments=[a.as_json() for a in mail.attachments],
        status=QUEUED,
    )
    session.add(message)
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
        html_part = mime.get_payload()[-1]
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


async def deliver(session: AsyncSession, settings: Settings, outbox_id: UUID) -> str:
    """Send one outbox message (or keep it when no SMTP server is configured)."""
    message = await session.get(OutboxMessage, outbox_id)
    if message is None or message.status in (SENT, KEPT):
        return message.status if message else "missing"
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
    await asyncio.to_thread(smtp_send, settings.smtp, mime)
    message.status = SENT
    message.sent_at = datetime.now(UTC)
    message.error = ""
    await session.commit()
    log.info("mail sent", extra={"outbox_id": str(outbox_id)})
    return SENT


async def mark_failed(session: AsyncSession, outbox_id: UUID, error: str) -> None:
    message = await session.get(OutboxMessage, outbox_id)
    if message is not None and message.status == QUEUED:
        message.status = FAILED
        message.error = error[:500]
        await session.commit()
