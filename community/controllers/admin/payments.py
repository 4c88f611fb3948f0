"""An event's payments: each checkout's status, amount and refund state, and a refund button.

The organiser refunds a payment in full here; the ticket it paid for is cancelled with it.
The refund itself is made by a job (services.payments.refunds), so the page answers at once
and shows "refund on its way" until Stripe has done it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from community.auth import ORGANISERS
from community.controllers.admin.common import event_or_404, flash, page
from community.models import PaymentStatus, RefundStatus
from community.services.payments.context import Payments
from community.services.payments.money import format_amount
from community.services.payments.prices import refund_rule_text
from community.services.payments.refunds import MONEY_TAKEN, NotRefundable, refund_by_organiser
from community.services.payments.reports import event_payments
from community.services.seats.refusals import RegistrationUnavailable
from community.views.revenue import revenue_view

STATUS_LABELS = {
    PaymentStatus.HOLDING: "Paying now",
    PaymentStatus.PAID: "Paid",
    PaymentStatus.CANCELLED: "Ticket cancelled",
    PaymentStatus.EXPIRED: "Hold ran out",
    PaymentStatus.RELEASED: "Gave the seat back",
    PaymentStatus.FAILED: "Could not start",
    PaymentStatus.REFUSED: "Paid, no seat left",
}
REFUND_LABELS = {
    RefundStatus.NONE: "",
    RefundStatus.PENDING: "Refund on its way",
    RefundStatus.SUCCEEDED: "Refunded",
    RefundStatus.FAILED: "Refund failed",
}


class PaymentsController(Controller):
    path = "/admin/events/{event_id:uuid}/payments"
    guards = [ORGANISERS]
    include_in_schema = False

    @get("/", name="admin:payments")
    async def list_payments(
        self, request: Request[Any, Any, Any], event_id: UUID, db_session: AsyncSession
    ) -> Template:
        event = await event_or_404(request, db_session, event_id)
        rows = await event_payments(db_session, event.id)
        return await page(
            request,
            "admin/events/payments.html",
            section="events",
            event=event,
            tab="payments",
            payments=rows,
            revenue=await revenue_view(db_session, event),
            amount=format_amount,
            status_labels=STATUS_LABELS,
            refund_labels=REFUND_LABELS,
            refundable=lambda p: (
                p.status in MONEY_TAKEN
                and p.refund_status in (RefundStatus.NONE, RefundStatus.FAILED)
            ),
            refund_rule=refund_rule_text(event),
        )

    @post("/{payment_id:uuid}/refund", name="admin:payment_refund")
    async def refund(
        self,
        request: Request[Any, Any, Any],
        event_id: UUID,
        payment_id: UUID,
        db_session: AsyncSession,
        payments: Payments,
    ) -> Redirect:
        event = await event_or_404(request, db_session, event_id)
        try:
            await refund_by_organiser(payments, event.id, payment_id)
        except NotRefundable as exc:
            flash(request, exc.message, "error")
        except RegistrationUnavailable as exc:
            flash(request, exc.message, "error")
        else:
            flash(request, "Refund on its way: Stripe returns the whole amount to the card.")
        return Redirect(f"/admin/events/{event.id}/payments")
