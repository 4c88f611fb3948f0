"""Registering and cancelling on our own side, with the e-mail that follows.

The event page and the JSON API both come through here, so a person gets the same ticket
e-mail whichever they used. People seated from the waitlist are mailed by the promotion hook
(services.jobs.install_promotion_mail), not here: every path that seats them goes through it.

The registration itself is the registration service's, and so is the e-mail's outbox row,
written in the same transaction; the job that sends it is only queued here. When the queue
cannot take the job (Redis down) the registration still stands and the outbox's re-drive job
sends the e-mail once Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from uuid import UUID

from redis.exceptions import RedisError
from saq import Queue

from community.models import RegistrationStatus
from community.services.access.limiter import Counter
from community.services.jobs import queue_existing_ticket_email, queue_ticket_email
from community.services.people.members import normalise_email
from community.services.seats.registrations import RegistrationService
from community.services.seats.results import Cancelled, Registered

log = logging.getLogger("community.registrations")


async def _mail(queues: dict[str, Queue], registration_id: UUID, reason: str) -> bool:
    try:
        await queue_ticket_email(queues, registration_id, reason)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning(
            "ticket e-mail not queued",
            extra={
                "registration_id": str(registration_id),
                "reason": reason,
                "error": type(exc).__name__,
            },
        )
        return False
    return True


async def register_native(
    service: RegistrationService,
    queues: dict[str, Queue],
    event_id: UUID,
    *,
    name: str,
    email: str,
    limits: Sequence[Counter] = (),
) -> Registered:
    """Take a seat (or a waitlist place) on our page, then queue the ticket e-mail.

    Raises what RegistrationService.register raises; nothing is mailed on a refusal.
    """
    registered = await service.register(
        event_id, name=name, email=email, ticket_mail=True, limits=limits
    )
    waitlisted = registered.status == RegistrationStatus.WAITLISTED
    # The seat is taken: the e-mail is queued even if the request is cancelled meanwhile (the
    # client went away), so a person whose answer never arrived still gets their ticket.
    mail = _mail(queues, registered.registration_id, "waitlisted" if waitlisted else "confirmed")
    if service.after_reply is not None:
        service.after_reply.start(mail)
    else:
        await asyncio.shield(asyncio.ensure_future(mail))
    return registered


async def mail_existing_ticket(queues: dict[str, Queue], event_id: UUID, email: str) -> None:
    """Someone gave an address that already has a place: send its ticket to that address.

    Whoever asked learns nothing (the JSON API answers the same whatever the channel); the
    owner of the address gets their ticket again, as from the "send my ticket again" form.
    """
    try:
        normalised = normalise_email(email)
        await queue_existing_ticket_email(queues, event_id, normalised)
    except ValueError:
        return
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("existing ticket e-mail not queued", extra={"error": type(exc).__name__})


async def cancel_by_ticket(
    service: RegistrationService, queues: dict[str, Queue], ticket_token: str
) -> Cancelled:
    """Cancel by ticket token and tell the person; whoever gets the seat is mailed by the hook.

    Attendee rules apply (see registrations.attendee_cancel_refusal). Raises what
    RegistrationService.cancel raises; nothing is mailed on a refusal.
    """
    result = await service.cancel(ticket_token, by="attendee", ticket_mail=True)
    await _mail(queues, result.registration_id, "cancelled")
    return result
