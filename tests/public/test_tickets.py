"""Ticket pages: the QR holds the door's signed token; calendar files; cancelling."""

from __future__ import annotations

import io
import re

import segno
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import OutboxMessage, Registration, SoldOutMode
from community.services.seats.registrations import RegistrationService
from community.services.tickets.signatures import ticket_signer
from tests.helpers.public import MakeEvent, RunJobs, csrf, post_form


async def test_ticket_page_is_private_and_its_qr_verifies_at_the_door(
    client, make_event: MakeEvent, registrations: RegistrationService, settings: Settings
) -> None:
    event = await make_event()
    reg = await registrations.register(event.id, name="Ada", email="ada@example.com")
    response = await client.get(f"/tickets/{reg.ticket_token}")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-robots-tag"].startswith("noindex")
    assert response.headers["referrer-policy"] == "no-referrer"
    html = response.text
    assert "Confirmed" in html and "Ada" in html and event.title in html
    assert re.search(r'<svg[^>]*class="qr-svg"', html)
    # The QR the page draws is the code of exactly the token the door verifies (Ed25519
    # signatures are deterministic, so the same token gives the same modules).
    payload = ticket_signer(settings.secret_key).sign(event.id, reg.registration_id)
    ticket = ticket_signer(settings.secret_key).verify_for_event(payload, event.id)
    assert ticket.registration_id == reg.registration_id
    expected = io.BytesIO()
    segno.make(payload, error="m", mode="alphanumeric", micro=False).save(
        expected, kind="svg", scale=6, border=2
    )
    modules = re.search(r' d="([^"]+)"', expected.getvalue().decode())
    assert modules and modules.group(1) in html
    assert reg.registration_id.hex[-8:].upper() in html  # short code to read out
    assert "/ticket.ics" in html and "calendar.google.com" in html


async def test_unknown_or_malformed_ticket_is_404(client) -> None:
    for token in ("x" * 20, "short", "a" * 64 + "b", "../../etc"):
        response = await client.get(f"/tickets/{token}")
        assert response.status_code == 404, token


async def test_ticket_calendar_file_carries_the_online_link(
    client, make_event: MakeEvent, registrations: RegistrationService
) -> None:
    event = await make_event(online=True)
    reg = await registrations.register(event.id, name="Ada", email="ada@example.com")
    ics = await client.get(f"/tickets/{reg.ticket_token}/ticket.ics")
    assert ics.status_code == 200
    assert ics.headers["content-disposition"].startswith("attachment")
    text = ics.text.replace("\r\n ", "")
    assert "secret-room" in text and f"/tickets/{reg.ticket_token}" in text
    public = (await client.get(f"/events/{event.slug}/event.ics")).text.replace("\r\n ", "")
    assert "secret-room" not in public


async def test_cancel_frees_the_seat_and_promotes_the_waitlist(
    client,
    make_event: MakeEvent,
    registrations: RegistrationService,
    session_maker: async_sessionmaker[AsyncSession],
    run_email_jobs: RunJobs,
) -> None:
    event = await make_event(capacity=1, reserve=0, mode=SoldOutMode.WAITLIST)
    first = await registrations.register(event.id, name="First", email="first@example.com")
    second = await registrations.register(event.id, name="Second", email="second@example.com")
    assert second.status == "waitlisted"
    confirm = await client.get(f"/tickets/{first.ticket_token}/cancel")
    assert confirm.status_code == 200 and "Yes, cancel my registration" in confirm.text
    response = await post_form(client, f"/tickets/{first.ticket_token}/cancel", {})
    assert response.status_code == 303
    assert response.headers["location"] == f"/tickets/{first.ticket_token}?cancelled=1"
    page = await client.get(response.headers["location"])
    assert "Your registration is cancelled" in page.text and "qr-svg" not in page.text
    async with session_maker() as session:
        promoted = await session.scalar(
            select(Registration).where(Registration.id == second.registration_id)
        )
    assert promoted is not None and promoted.status == "confirmed"
    reasons = [result for name, result in await run_email_jobs() if name == "send_ticket_email"]
    assert len(reasons) == 2  # the cancellation, and the seat for the person waiting
    async with session_maker() as session:
        sent = (
            await session.execute(
                select(OutboxMessage.to_addr, OutboxMessage.subject).where(
                    OutboxMessage.to_addr.in_(["first@example.com", "second@example.com"]),
                    OutboxMessage.subject.contains(event.title),
                )
            )
        ).all()
    assert sorted(sent) == [
        ("first@example.com", f"Your registration for {event.title} is cancelled"),
        ("second@example.com", f"A seat opened up: your ticket for {event.title}"),
    ]
    # Cancelling twice is harmless.
    twice = await post_form(client, f"/tickets/{first.ticket_token}/cancel", {})
    assert twice.status_code == 303


async def test_platform_registration_is_changed_on_the_platform(
    client, make_event: MakeEvent, registrations: RegistrationService
) -> None:
    event = await make_event()
    reg = await registrations.record_platform_registration(
        event.id, platform="eventbrite", name="Eb", email="eb@example.com", platform_member_id="e1"
    )
    page = await client.get(f"/tickets/{reg.ticket_token}")
    assert "via Eventbrite" in page.text and "Cancel my registration" not in page.text
    refused = await post_form(client, f"/tickets/{reg.ticket_token}/cancel", {})
    assert refused.status_code == 409 and "made on Eventbrite; cancel it there" in refused.text


async def test_cancel_needs_the_csrf_token(
    client, make_event: MakeEvent, registrations: RegistrationService
) -> None:
    event = await make_event()
    reg = await registrations.register(event.id, name="Ada", email="ada@example.com")
    await csrf(client)
    response = await client.post(f"/tickets/{reg.ticket_token}/cancel", data={})
    assert response.status_code == 403
