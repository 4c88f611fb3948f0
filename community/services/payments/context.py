"""What every payments rule needs: settings, the seats, Stripe, and a way to the workers.

Services never import the job modules: they are handed a `PaymentJobs` (tasks.payments
implements it on the SAQ queues), so a rule says "refund this" and a worker does it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.services.payments.gateway import StripeGateway
from community.services.seats.registrations import RegistrationService

# A seat stays held a little past the deadline the person sees, so a payment made in the last
# second is found paid when the hold is settled (and the seat is then kept for its webhook).
HOLD_GRACE_S = 60.0


class PaymentJobs(Protocol):
    """The background work payments ask for; each is idempotent and safe to ask twice."""

    async def expire_at(self, payment_id: UUID, when: datetime) -> None: ...

    async def refund(self, payment_id: UUID) -> None: ...

    async def offer_seats(self, event_id: UUID) -> None: ...

    async def ticket_mail(self, registration_id: UUID, reason: str) -> None: ...

    async def deliver(self, outbox_id: UUID) -> None: ...


@dataclass(frozen=True)
class Payments:
    settings: Settings
    registrations: RegistrationService
    gateway: StripeGateway
    jobs: PaymentJobs
    # How long a person has to pay; the tests shorten it (the setting counts in minutes).
    hold_s: float | None = None
    grace_s: float = HOLD_GRACE_S

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: Redis,
        session_maker: async_sessionmaker[AsyncSession],
        queues: dict[str, Queue],
        gateway: StripeGateway,
        **kwargs: Any,
    ) -> Payments:
        """As a request or a job uses it: the process's seats, Stripe and queues."""
        from community.services.jobs import PaymentQueue

        return cls(
            settings,
            RegistrationService.build(settings, redis, session_maker),
            gateway,
            PaymentQueue(queues),
            **kwargs,
        )

    @property
    def session_maker(self) -> async_sessionmaker[AsyncSession]:
        return self.registrations.session_maker

    @property
    def hold_seconds(self) -> float:
        return self.hold_s if self.hold_s is not None else self.settings.stripe.hold_minutes * 60.0

    @property
    def held_seconds(self) -> float:
        """How long the Traffic Cop keeps the seat: the hold and its grace."""
        return self.hold_seconds + self.grace_s
