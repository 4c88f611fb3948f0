"""What organisers read about money: an event's payments, its revenue, amounts per ticket.

Revenue is what Stripe holds for the event: every payment that went through, less what was
refunded. All sums are integers in the currency's minor unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Payment, PaymentStatus

# Payments whose money Stripe took (some may have been refunded since).
TAKEN = (PaymentStatus.PAID, PaymentStatus.CANCELLED, PaymentStatus.REFUSED)


@dataclass(frozen=True)
class Revenue:
    currency: str
    gross: int  # every payment that went through
    refunded: int
    tickets: int  # paid tickets still valid

    @property
    def net(self) -> int:
        return self.gross - self.refunded


async def revenue_by_event(session: AsyncSession, event_ids: Sequence[UUID]) -> dict[UUID, Revenue]:
    if not event_ids:
        return {}
    rows = await session.execute(
        select(
            Payment.event_id,
            Payment.currency,
            func.coalesce(func.sum(Payment.amount), 0),
            func.coalesce(func.sum(Payment.refunded_amount), 0),
            func.count().filter(Payment.status == PaymentStatus.PAID),
        )
        .where(Payment.event_id.in_(event_ids), Payment.status.in_(TAKEN))
        .group_by(Payment.event_id, Payment.currency)
    )
    found: dict[UUID, Revenue] = {}
    for event_id, currency, gross, refunded, tickets in rows:
        # An event sells in one currency; a price changed to another keeps the larger part.
        current = found.get(event_id)
        if current is None or gross > current.gross:
            found[event_id] = Revenue(currency, int(gross), int(refunded), int(tickets))
    return found


async def event_payments(session: AsyncSession, event_id: UUID, limit: int = 500) -> list[Payment]:
    """The event's checkouts, newest first (failed starts included: they show an outage)."""
    rows = await session.scalars(
        select(Payment)
        .where(Payment.event_id == event_id)
        .order_by(Payment.created_at.desc())
        .limit(limit)
    )
    return list(rows)


async def revenue_changes(session: AsyncSession, event_id: UUID) -> list[tuple[datetime, int]]:
    """(when, amount) steps of the event's net revenue: + when paid, - when refunded."""
    rows = await session.execute(
        select(Payment.paid_at, Payment.amount, Payment.refunded_at, Payment.refunded_amount).where(
            Payment.event_id == event_id, Payment.status.in_(TAKEN), Payment.paid_at.is_not(None)
        )
    )
    steps: list[tuple[datetime, int]] = []
    for paid_at, amount, refunded_at, refunded in rows:
        if paid_at is None:  # excluded by the query; narrows the type
            continue
        steps.append((paid_at, int(amount)))
        if refunded and refunded_at is not None:
            steps.append((refunded_at, -int(refunded)))
    steps.sort(key=lambda step: step[0])
    return steps


async def paid_by_registration(
    session: AsyncSession, registration_ids: Iterable[UUID]
) -> dict[UUID, tuple[int, str, int]]:
    """What each registration's ticket cost: (amount, currency, refunded)."""
    ids = list(registration_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(
            Payment.registration_id, Payment.amount, Payment.currency, Payment.refunded_amount
        ).where(Payment.registration_id.in_(ids), Payment.status.in_(TAKEN))
    )
    return {reg_id: (int(a), c, int(r)) for reg_id, a, c, r in rows if reg_id is not None}
