"""Registering on the page: htmx and plain forms, every refusal in place, abuse limits."""

from __future__ import annotations

import secrets
from dataclasses import replace

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.app import create_app
from community.config import VisitorLimitSettings
from community.models import Channel, Registration, SoldOutMode
from community.services.seats.registrations import RegistrationService
from tests.helpers.public import MakeEvent, RunJobs, post_form, ticket_token_in


async def count_registrations(
    session_maker: async_sessionmaker[AsyncSession], event_id: object
) -> int:
    async with session_maker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Registration)
                .where(Registration.event_id == event_id)
            )
            or 0
        )


async def test_htmx_registration_swaps_in_the_confirmation(
    client, make_event: MakeEvent, session_maker, run_email_jobs: RunJobs
) -> None:
    event = await make_event(capacity=20, reserve=5)
    response = await post_form(
        client,
        f"/events/{event.slug}/register",
        {"name": "Ada Lovelace", "email": "Ada@Example.com", "website": ""},
        htmx=True,
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert "<html" not in html  # a fragment, not a page
    assert "You're in!" in html and "a•••@example.com" in html
    assert 'id="live-seats"' in html and "19 spots left" in html  # the count follows at once
    token = ticket_token_in(html)
    async with session_maker() as session:
        reg = await session.scalar(select(Registration).where(Registration.ticket_token == token))
    assert reg is not None and reg.channel == Channel.NATIVE and reg.status == "confirmed"
    assert reg.email == "ada@example.com" and reg.seat_no is not None
    sent = await run_email_jobs()
    # Composed and delivered by one job (kept: no SMTP in the tests).
    assert [(name, result.rpartition(": ")[2]) for name, result in sent] == [
        ("send_ticket_email", "kept")
    ]


async def test_plain_form_registration_redirects_to_the_ticket(
    client, make_event: MakeEvent
) -> None:
    event = await make_event()
    response = await post_form(
        client, f"/events/{event.slug}/register", {"name": "Grace", "email": "grace@example.com"}
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/tickets/") and location.endswith("?new=1")
    ticket = await client.get(location)
    assert ticket.status_code == 200
    assert "You're registered!" in ticket.text and "<svg" in ticket.text and "qr-svg" in ticket.text


async def test_already_registered_on_a_platform_is_told_where_and_when(
    client, make_event: MakeEvent, registrations: RegistrationService, run_email_jobs: RunJobs
) -> None:
    event = await make_event()
    await registrations.record_platform_registration(
        event.id,
        platform="meetup",
        name="Linus",
        email="linus@example.com",
        platform_member_id="mu-123",
    )
    response = await post_form(
        client,
        f"/events/{event.slug}/register",
        {"name": "Linus T", "email": "LINUS@example.com"},
        htmx=True,
    )
    assert response.status_code == 409
    assert "You're already registered (via Meetup," in response.text
    assert "Send my ticket again" in response.text
    again = await post_form(
        client, f"/events/{event.slug}/resend", {"email": "linus@example.com"}, htmx=True
    )
    assert again.status_code == 200 and "Ticket sent again" in again.text
    sent = dict(await run_email_jobs())
    assert sent["send_ticket_email"].endswith(": kept")  # no SMTP: outbox


async def test_resend_for_an_unknown_address_answers_the_same(
    client, make_event: MakeEvent, run_email_jobs: RunJobs
) -> None:
    event = await make_event()
    response = await post_form(
        client, f"/events/{event.slug}/resend", {"email": "nobody@example.com"}, htmx=True
    )
    assert response.status_code == 200 and "Ticket sent again" in response.text
    assert await run_email_jobs() == []


async def test_bad_input_is_answered_in_place_with_the_field_named(
    client, make_event: MakeEvent, session_maker
) -> None:
    event = await make_event()
    path = f"/events/{event.slug}/register"
    cases = [
        ({"name": "", "email": "a@example.com"}, "reg-name-error", "Enter your name."),
        ({"name": "Al", "email": "not-an-address"}, "reg-email-error", "valid e-mail"),
        ({"name": "x" * 121, "email": "a@example.com"}, "reg-name-error", "at most 120"),
        ({"name": "Al", "email": "a" * 250 + "@example.com"}, "reg-email-error", "at most 254"),
    ]
    for data, error_id, message in cases:
        for htmx in (True, False):
            response = await post_form(client, path, data, htmx=htmx)
            assert response.status_code == 422, (data, htmx)
            assert f'id="{error_id}"' in response.text and message in response.text
            assert 'aria-invalid="true"' in response.text
            assert ("<html" in response.text) is not htmx
    assert await count_registrations(session_maker, event.id) == 0


async def test_honeypot_and_cross_site_posts_are_refused(
    client, make_event: MakeEvent, session_maker
) -> None:
    event = await make_event()
    path = f"/events/{event.slug}/register"
    bot = await post_form(
        client, path, {"name": "Bot", "email": "bot@example.com", "website": "http://spam"}
    )
    assert bot.status_code == 400 and "looked automated" in bot.text
    # The page is shared, so its form carries no token: the browser's word on where the
    # post comes from decides. Another site's page cannot register its visitors.
    eve = {"name": "Eve", "email": "eve@example.com"}
    for cross_site in (
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "https://evil.example"},
        {"origin": "null"},
    ):
        refused = await client.post(path, data=eve, headers=cross_site)
        assert refused.status_code == 403, cross_site
        assert "can only be sent from" in refused.text
        resend = await client.post(
            f"/events/{event.slug}/resend", data={"email": "eve@example.com"}, headers=cross_site
        )
        assert resend.status_code == 403
    assert await count_registrations(session_maker, event.id) == 0
    # From the page itself (or from a client that is no browser), no token is needed.
    own = await client.post(
        path,
        data=eve,
        headers={"sec-fetch-site": "same-origin", "origin": "http://testserver.local"},
        follow_redirects=False,
    )
    assert own.status_code == 303
    assert await count_registrations(session_maker, event.id) == 1


async def test_per_address_rate_limit(settings, redis, make_event: MakeEvent) -> None:
    limits = VisitorLimitSettings(register_per_address=3, register_per_event=2, window_s=600)
    app = create_app(replace(settings, limits=limits))
    first, second = await make_event(), await make_event()
    async with AsyncTestClient(app=app) as client:
        for event in (first, first, second):
            ok = await post_form(
                client,
                f"/events/{event.slug}/register",
                {"name": "P", "email": f"p{secrets.token_hex(3)}@example.com"},
                htmx=True,
            )
            assert ok.status_code == 200
        # Two per event: the third at the first event is refused...
        path = f"/events/{first.slug}/register"
        limited = await post_form(client, path, {"name": "P", "email": "p3@example.com"}, htmx=True)
        assert limited.status_code == 429 and "Too many registrations" in limited.text
        # ...and three in all: so is one more at the second.
        path = f"/events/{second.slug}/register"
        limited = await post_form(client, path, {"name": "P", "email": "p4@example.com"}, htmx=True)
        assert limited.status_code == 429


async def test_sold_out_and_waitlist(
    client, make_event: MakeEvent, registrations: RegistrationService
) -> None:
    full = await make_event(capacity=1, reserve=0)
    await registrations.register(full.id, name="First", email="first@example.com")
    sold = await post_form(
        client, f"/events/{full.slug}/register", {"name": "Late", "email": "late@example.com"}
    )
    assert sold.status_code == 409 and "sold out" in sold.text.lower()

    waiting = await make_event(capacity=1, reserve=0, mode=SoldOutMode.WAITLIST)
    await registrations.register(waiting.id, name="First", email="first@example.com")
    joined = await post_form(
        client,
        f"/events/{waiting.slug}/register",
        {"name": "Next", "email": "next@example.com"},
        htmx=True,
    )
    assert joined.status_code == 200
    assert "You're on the waitlist" in joined.text and "number 1" in joined.text
    ticket = await client.get(f"/tickets/{ticket_token_in(joined.text)}")
    assert "#1" in ticket.text and "qr-svg" not in ticket.text  # no QR without a seat
