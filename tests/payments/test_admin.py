"""The organiser's side of paid tickets over real HTTP: the payments list and its refund button,
revenue on the overview, the amount in the CSV, and publishing a paid event."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from community.app import create_app
from community.config import Settings, StripeSettings
from community.models import Event, EventStatus, Payment, User
from community.sandbox.stripe_standin import StripeStandIn
from tests.helpers.web import csrf_token, login
from tests.payments.conftest import MakeEvent, Rig, WebhookRelay, buy

Client = AsyncTestClient[Litestar]


async def test_payments_list_refund_button_revenue_and_csv(
    owner_client: Client,
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=5, price_cents=1500, refund_days_before=None)
    first = await buy(rig, stripe_standin, relay, event.id, "ada@buyers.example")
    await buy(rig, stripe_standin, relay, event.id, "grace@buyers.example")

    overview = await owner_client.get(f"/admin/events/{event.id}")
    assert overview.status_code == 200
    assert "€30</strong> net" in overview.text and "revenue-chart" in overview.text
    listing = await owner_client.get(f"/admin/events/{event.id}/payments")
    assert listing.status_code == 200
    html = listing.text
    assert html.count("€15") >= 2 and "ada@buyers.example" in html and "Paid" in html
    assert f"/payments/{first.id}/refund" in html
    assert "Tickets are not refundable, unless the organisers cancel the event." in html

    csv_rows = await owner_client.get(f"/admin/events/{event.id}/attendees.csv")
    rows = list(csv.DictReader(io.StringIO(csv_rows.content.decode("utf-8-sig"))))
    assert {(r["email"], r["amount_paid"], r["currency"]) for r in rows} == {
        ("ada@buyers.example", "15.00", "EUR"),
        ("grace@buyers.example", "15.00", "EUR"),
    }

    token = await csrf_token(owner_client)
    refunded = await owner_client.post(
        f"/admin/events/{event.id}/payments/{first.id}/refund",
        headers={"x-csrftoken": token},
        follow_redirects=False,
    )
    assert refunded.status_code in (302, 303)
    done = dict(await rig.run_jobs())
    assert done["refund_payment"] == "refunded 1500"
    async with session_maker() as session:
        row = await session.get(Payment, first.id)
    assert row is not None
    assert (row.status, row.refund_status, row.refunded_amount) == ("cancelled", "succeeded", 1500)
    listing = await owner_client.get(f"/admin/events/{event.id}/payments")
    assert "Refunded · €15" in listing.text
    assert f"/payments/{first.id}/refund" not in listing.text  # not twice
    again = await owner_client.post(
        f"/admin/events/{event.id}/payments/{first.id}/refund",
        headers={"x-csrftoken": token},
        follow_redirects=True,
    )
    assert "already refunded" in again.text
    assert "€15</strong> net" in (await owner_client.get(f"/admin/events/{event.id}")).text
    rows = list(
        csv.DictReader(
            io.StringIO(
                (
                    await owner_client.get(f"/admin/events/{event.id}/attendees.csv?status=all")
                ).content.decode("utf-8-sig")
            )
        )
    )
    assert {r["email"]: r["refunded"] for r in rows}["ada@buyers.example"] == "15.00"


async def test_a_paid_event_refuses_to_publish_without_stripe(
    settings: Settings, redis: Any, owner: User, make_paid_event: MakeEvent, session_maker: Any
) -> None:
    event = await make_paid_event(status=EventStatus.DRAFT)
    without = replace(settings, stripe=StripeSettings())
    async with AsyncTestClient(app=create_app(without)) as client:
        await login(client, owner)
        answer = await client.post(
            f"/admin/events/{event.id}/publish",
            headers={"x-csrftoken": await csrf_token(client)},
            follow_redirects=True,
        )
        assert answer.status_code == 200
        assert "A paid event needs Stripe before it can be published" in answer.text
    async with session_maker() as session:
        stored = await session.get(Event, event.id)
    assert stored is not None and stored.status == "draft"


async def test_cancelling_the_event_in_the_admin_refunds_every_ticket(
    owner_client: Client,
    rig: Rig,
    make_paid_event: MakeEvent,
    stripe_standin: StripeStandIn,
    relay: WebhookRelay,
    session_maker: Any,
) -> None:
    event = await make_paid_event(capacity=5, refund_days_before=None)
    paid = [
        await buy(rig, stripe_standin, relay, event.id, f"p{i}@buyers.example") for i in range(2)
    ]
    answer = await owner_client.post(
        f"/admin/events/{event.id}/cancel",
        data={"confirm": event.slug},
        headers={"x-csrftoken": await csrf_token(owner_client)},
        follow_redirects=False,
    )
    assert answer.status_code in (302, 303)
    done = await rig.run_jobs(only=frozenset({"settle_cancelled_event", "refund_payment"}))
    assert ("settle_cancelled_event", "refunds decided: 2") in done
    async with session_maker() as session:
        rows = [await session.get(Payment, p.id) for p in paid]
    assert [(r.status, r.refund_status, r.refunded_amount) for r in rows if r] == [
        ("cancelled", "succeeded", 1500)
    ] * 2
