"""My tickets: a sign-in link by e-mail, used once, listing the whole profile's registrations."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import OutboxMessage
from community.services.access import magic_links
from community.services.seats.registrations import RegistrationService
from tests.helpers.public import MakeEvent, RunJobs, post_form


async def latest_mail(session_maker: async_sessionmaker[AsyncSession], to: str) -> OutboxMessage:
    async with session_maker() as session:
        message = await session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.to_addr == to)
            .order_by(OutboxMessage.created_at.desc())
            .limit(1)
        )
    assert message is not None, f"no mail to {to}"
    return message


async def test_signin_link_lists_every_channel(
    client,
    make_event: MakeEvent,
    registrations: RegistrationService,
    session_maker: async_sessionmaker[AsyncSession],
    run_email_jobs: RunJobs,
) -> None:
    native = await make_event(title="Native evening")
    platform = await make_event(title="Meetup evening")
    other = await make_event(title="Someone else's evening")
    await registrations.register(native.id, name="Mia", email="mia@example.com")
    await registrations.record_platform_registration(
        platform.id, platform="meetup", name="Mia", email="mia@example.com", platform_member_id="m9"
    )
    await registrations.register(other.id, name="Noah", email="noah@example.com")

    signed_out = await client.get("/my-tickets")
    assert signed_out.status_code == 200 and "E-mail me a sign-in link" in signed_out.text

    asked = await post_form(client, "/my-tickets", {"email": "Mia@Example.com"}, htmx=True)
    assert asked.status_code == 200 and "Check your inbox" in asked.text
    await run_email_jobs()
    mail = await latest_mail(session_maker, "mia@example.com")
    assert mail.status == "kept"  # no SMTP configured: kept in the outbox for the admin
    link = re.search(r"(/my-tickets/signin/[A-Za-z0-9_.-]+)", mail.text_body)
    assert link and link.group(1) in mail.html_body
    assert "mia@example.com" not in link.group(1)

    # Opening the link shows a button; a mail scanner following the link spends nothing.
    shown = await client.get(link.group(1))
    assert shown.status_code == 200 and "Open my tickets" in shown.text
    signed_in = await post_form(client, link.group(1), {})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/my-tickets"
    page = (await client.get("/my-tickets")).text
    assert "Native evening" in page and "Meetup evening" in page and "via Meetup" in page
    assert "Someone else" not in page

    reused = await post_form(client, link.group(1), {})
    assert reused.status_code == 410 and "already used" in reused.text

    out = await post_form(client, "/my-tickets/signout", {})
    assert out.status_code == 303
    assert "E-mail me a sign-in link" in (await client.get("/my-tickets")).text


async def test_unknown_address_gets_the_same_answer_and_no_mail(
    client, run_email_jobs: RunJobs
) -> None:
    response = await post_form(client, "/my-tickets", {"email": "ghost@example.com"})
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert await run_email_jobs() == []


async def test_bad_address_and_bad_links(client, settings: Settings) -> None:
    bad = await post_form(client, "/my-tickets", {"email": "nope"}, htmx=True)
    assert bad.status_code == 422 and 'id="signin-email-error"' in bad.text
    forged = await client.get("/my-tickets/signin/abc.def")
    assert forged.status_code == 400 and "not valid" in forged.text
    expired = magic_links.make_token(settings.secret_key, "some-member", ttl=-5)
    response = await client.get(f"/my-tickets/signin/{expired}")
    assert response.status_code == 410 and "expired" in response.text
    tampered = magic_links.make_token(settings.secret_key, "a") + "x"
    assert (await client.get(f"/my-tickets/signin/{tampered}")).status_code == 400
