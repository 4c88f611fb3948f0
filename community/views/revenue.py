"""An event's revenue for the organiser: the totals and the net revenue over time (SVG)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Event
from community.services.payments.money import decimals, format_amount
from community.services.payments.prices import refund_due, refund_rule_text
from community.services.payments.reports import (
    Revenue,
    paid_by_registration,
    revenue_by_event,
    revenue_changes,
)
from community.views.charts import PAD_B, PAD_L, PAD_R, PAD_T, H, W, _time_label, nice_scale

MIN_SPAN = timedelta(minutes=15)


@dataclass(frozen=True)
class RevenueView:
    revenue: Revenue | None
    svg: str

    @property
    def net_text(self) -> str:
        r = self.revenue
        return format_amount(r.net, r.currency) if r else ""

    @property
    def gross_text(self) -> str:
        r = self.revenue
        return format_amount(r.gross, r.currency) if r else ""

    @property
    def refunded_text(self) -> str:
        r = self.revenue
        return format_amount(r.refunded, r.currency) if r else ""


async def revenue_view(session: AsyncSession, event: Event) -> RevenueView:
    revenue = (await revenue_by_event(session, [event.id])).get(event.id)
    if revenue is None:
        return RevenueView(None, "")
    steps = await revenue_changes(session, event.id)
    tz = ZoneInfo(event.timezone) if event.timezone else ZoneInfo("UTC")
    svg = revenue_chart(
        steps, revenue.currency, tz=tz, title=f"Net revenue of {event.title} over time"
    )
    return RevenueView(revenue, svg)


def revenue_chart(
    steps: list[tuple[datetime, int]], currency: str, *, tz: ZoneInfo, title: str
) -> str:
    """Net revenue (payments less refunds) as a step line, in whole units of the currency."""
    if not steps:
        return ""
    start = steps[0][0]
    # Until now (the revenue stands as it is), at least a quarter of an hour wide.
    end = max(datetime.now(UTC), steps[-1][0], start + MIN_SPAN)
    start -= (end - start) * 0.03  # a little room before the first payment
    span = end - start
    unit = 10 ** decimals(currency)
    levels, level = [], 0
    for at, delta in steps:
        level += delta
        levels.append((at, level))
    peak_units = max(1, -(-max(v for _, v in levels) // unit))  # whole units, rounded up
    top, step = nice_scale(peak_units)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(at: datetime) -> str:
        return f"{PAD_L + plot_w * ((at - start) / span):.1f}"

    def y(minor: int) -> str:
        return f"{PAD_T + plot_h * (1 - minor / (top * unit)):.1f}"

    parts = [
        f'<svg class="chart revenue-chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="revenue-title" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="revenue-title">{escape(title)}</title>'
    ]
    for tick in range(0, top + 1, step):
        label = format_amount(tick * unit, currency)
        parts.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(tick * unit)}" y2="{y(tick * unit)}" '
            f'class="grid"/><text x="{PAD_L - 8}" y="{float(y(tick * unit)) + 4:.1f}" '
            f'text-anchor="end" class="axis">{escape(label)}</text>'
        )
    for i in range(5):
        at = start + span * (i / 4)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<text x="{x(at)}" y="{H - 10}" text-anchor="{anchor}" class="axis">'
            f"{escape(_time_label(at, span, tz))}</text>"
        )
    path = [f"M{x(start)},{y(0)}"]
    for at, value in levels:
        path.append(f"H{x(at)}V{y(value)}")
    path.append(f"H{x(end)}")
    line = "".join(path)
    parts.append(f'<path d="{line}V{y(0)}Z" fill="#2f9e44" fill-opacity=".15"/>')
    final = format_amount(levels[-1][1], currency)
    parts.append(
        f'<path d="{line}" fill="none" stroke="#2f9e44" stroke-width="2.5" '
        f'stroke-linejoin="round"><title>Net revenue: {escape(final)}</title></path></svg>'
    )
    return "".join(parts)


@dataclass(frozen=True)
class PaidTicket:
    """What a ticket page says about money: what was paid, and what cancelling would give."""

    amount_text: str
    refunded_text: str
    refund_if_cancelled: bool
    rule: str


async def paid_ticket(
    session: AsyncSession, event: Event, registration_id: UUID
) -> PaidTicket | None:
    paid = (await paid_by_registration(session, [registration_id])).get(registration_id)
    if paid is None:
        return None
    amount, currency, refunded = paid
    return PaidTicket(
        amount_text=format_amount(amount, currency),
        refunded_text=format_amount(refunded, currency) if refunded else "",
        refund_if_cancelled=refund_due(event),
        rule=refund_rule_text(event),
    )
