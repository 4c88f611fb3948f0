"""The JSON API under attack: cancellation rules, who is registered, bad addresses, body
sizes and depth, and one error shape for whatever goes wrong (issue: hardening)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import idna
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import Member, Registration, RegistrationStatus
from community.services.people.members import normalise_email, plain_ascii_domain
from community.services.seats.registrations import RegistrationService
from tests.helpers.seats import post_registration, run_existing_ticket_jobs, ticket_token
from tests.helpers.web import take_ticket_mails

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]


async def status_of(session_maker: Sessions, registration_id: Any) -> str:
    async with session_maker() as session:
        reg = await session.get(Registration, registration_id)
        assert reg is not None
        return reg.status


# --- cancellation follows the ticket page's rules ----------------------------------------------


async def test_the_api_cannot_cancel_a_checked_in_person(
    client: Client, make_event: Any, session_maker: Sessions
) -> None:
    event = await make_event(capacity=5)
    ada = (await post_registration(client, event.id, "Ada", "ada@example.com")).json()
    async with session_maker() as session, session.begin():
        await session.execute(
            update(Registration)
            .where(Registration.id == ada["registration_id"])
            .values(checked_in_at=datetime.now(UTC))
        )
    token = await ticket_token(session_maker, ada["registration_id"])
    refused = await client.delete(f"/api/registrations/{token}")
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "not_cancellable"
    assert "used at the door" in refused.json()["detail"]
    assert await status_of(session_maker, ada["registration_id"]) == RegistrationStatus.CONFIRMED
    # The ticket page says the same.
    page = await client.post(f"/tickets/{token}/cancel", follow_redirects=False)
    assert page.status_code in (403, 409)


async def test_the_api_cannot_cancel_a_platform_registrant(
    client: Client,
    make_event: Any,
    session_maker: Sessions,
    registrations: RegistrationService,
) -> None:
    event = await make_event(capacity=5)
    grace = await registrations.register(
        event.id,
        name="Grace",
        email="grace@example.com",
        channel="meetup",
        platform_member_id="m-1",
    )
    refused = await client.delete(f"/api/registrations/{grace.ticket_token}")
    assert refused.status_code == 409, refused.text
    assert (refused.json()["code"], "Meetup" in refused.json()["detail"]) == (
        "not_cancellable",
        True,
    )
    assert await status_of(session_maker, grace.registration_id) == RegistrationStatus.CONFIRMED
    counts = (await client.get(f"/api/events/{event.id}/counts")).json()
    assert counts["external"] == 1


async def test_an_organiser_or_the_platform_may_still_cancel_a_platform_place(
    make_event: Any, session_maker: Sessions, registrations: RegistrationService
) -> None:
    event = await make_event(capacity=5)
    grace = await registrations.register(
        event.id, name="Grace", email="g@example.com", channel="meetup", platform_member_id="m-2"
    )
    await registrations.cancel(grace.ticket_token, by="platform")
    assert await status_of(session_maker, grace.registration_id) == RegistrationStatus.CANCELLED


# --- the API does not tell who is registered ---------------------------------------------------


async def test_an_address_already_registered_gets_one_generic_answer_and_a_mail(
    client: Client,
    make_event: Any,
    registrations: RegistrationService,
    settings: Settings,
    redis: Redis,
    session_maker: Sessions,
) -> None:
    event = await make_event(capacity=5)
    native = await post_registration(client, event.id, "Ada", "ada@example.com")
    assert native.status_code == 201
    # The answer names no ticket: the token (which cancels) goes to the address only.
    assert "ticket_token" not in native.json()
    platform = await registrations.register(
        event.id, name="Grace", email="grace@example.com", channel="eventbrite",
        platform_member_id="eb-1",
    )  # fmt: skip
    await take_ticket_mails(settings, redis)

    again_native = await post_registration(client, event.id, "Someone", "ADA@example.com")
    again_platform = await post_registration(client, event.id, "Someone", "grace@example.com")
    assert again_native.status_code == again_platform.status_code == 409
    # Byte for byte the same: no channel, no date, no waitlist flag.
    assert again_native.json() == again_platform.json()
    assert again_native.json()["code"] == "already_registered"
    assert "Eventbrite" not in again_platform.text and "December" not in again_platform.text
    # Each address's owner is sent their ticket instead (the worker finds it).
    await run_existing_ticket_jobs(settings, redis, session_maker)
    mails = sorted(await take_ticket_mails(settings, redis))
    assert mails == sorted(
        [
            (native.json()["registration_id"], "resend"),
            (str(platform.registration_id), "resend"),
        ]
    )


# --- e-mail addresses: one set of rules ----------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "ada\x00@example.com",
        "ada\r\n@example.com",
        "ada\u202e@example.com",
        "<script>alert(1)</script>@example.com",
        "ada@" + "x" * 300 + ".com",
        "ada@" + "x" * 64 + ".com",
        "x" * 65 + "@example.com",
        "ada@exa mple.com",
        "ada..b@example.com",
    ],
)
async def test_bad_addresses_get_a_400_naming_the_field(
    client: Client, make_event: Any, email: str
) -> None:
    event = await make_event(capacity=5)
    response = await post_registration(client, event.id, "Ada", email)
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], body["field"]) == ("invalid", "email")
    assert body["detail"]


async def test_the_api_and_the_form_share_the_name_limit_and_domains_are_idna(
    client: Client, make_event: Any, session_maker: Sessions
) -> None:
    event = await make_event(capacity=5)
    too_long = await post_registration(client, event.id, "x" * 121, "long@example.com")
    assert too_long.status_code == 400
    ok = await post_registration(client, event.id, "Jürgen", "Jürgen@Bücher.example")
    assert ok.status_code == 201, ok.text
    async with session_maker() as session:
        member = await session.scalar(
            select(Member)
            .join(Registration, Registration.member_id == Member.id)
            .where(Registration.id == ok.json()["registration_id"])
        )
    assert member is not None and member.email == "jürgen@xn--bcher-kva.example"


def test_normalise_email_limits() -> None:
    assert normalise_email(" Ada@Example.COM ") == "ada@example.com"
    assert normalise_email("a" * 64 + "@example.com")
    assert normalise_email("ada@" + "x" * 63 + ".com")
    longest = "a" * 64 + "@" + ".".join(["x" * 60] * 3) + ".com"
    assert len(longest) <= 254 and normalise_email(longest)
    with pytest.raises(ValueError, match="254"):
        normalise_email("a" * 64 + "@" + ".".join(["x" * 62] * 3) + ".com")


# --- bodies: size and depth ---------------------------------------------------------------


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.lists(st.text("abz09-", min_size=1, max_size=8), min_size=1, max_size=4))
def test_plain_ascii_domains_skip_idna_only_where_it_changes_nothing(labels: list[str]) -> None:
    domain = ".".join(labels)
    if plain_ascii_domain(domain):
        assert idna.encode(domain, uts46=True).decode("ascii") == domain


async def test_bodies_over_64_kb_get_413_and_deep_json_a_400(
    client: Client, make_event: Any
) -> None:
    event = await make_event(capacity=5)
    url = f"/api/events/{event.id}/registrations"
    big = b'{"name":"Ada","email":"ada@example.com","pad":"' + b"x" * 70_000 + b'"}'
    response = await client.post(url, content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    for deep in (
        b"[" * 5000 + b"]" * 5000,
        b'{"name":"Ada","email":"ada@example.com","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"name":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
    ):
        response = await client.post(
            url, content=deep, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid"


async def test_forms_over_64_kb_get_413(client: Client, make_event: Any) -> None:
    event = await make_event(capacity=5)
    fields = "&".join(f"f{n}=x" for n in range(20_000))
    response = await client.post(
        f"/events/{event.slug}/register",
        content=fields.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413, response.status_code


# --- one error shape under /api -------------------------------------------------------------------


async def test_framework_errors_under_api_carry_a_code(client: Client, make_event: Any) -> None:
    event = await make_event(capacity=5)
    cases = {
        ("GET", "/api/nothing-here"): (404, "not_found"),
        ("PUT", f"/api/events/{event.id}/registrations"): (405, "method_not_allowed"),
        ("GET", "/api/events/not-a-uuid/counts"): (404, "not_found"),
    }
    for (method, path), (status, code) in cases.items():
        response = await client.request(method, path)
        assert response.status_code == status, (path, response.text)
        assert response.json()["code"] == code, response.text
        assert response.json()["status_code"] == status and response.json()["detail"]
    broken = await client.post(
        f"/api/events/{event.id}/registrations",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert (broken.status_code, broken.json()["code"]) == (400, "invalid")
    missing = await client.post(f"/api/events/{event.id}/registrations", json={"name": "Ada"})
    assert (missing.status_code, missing.json()["code"]) == (400, "invalid")
    assert missing.json()["field"] == "email"


async def test_the_schema_documents_door_webhook_statuses_and_the_email_pattern(
    client: Client,
) -> None:
    spec = (await client.get("/api/docs/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    email = schemas["RegistrationRequest"]["properties"]["email"]
    assert email["pattern"] and email["maxLength"] == 254
    paths = spec["paths"]
    error = paths["/api/events/{event_id}/registrations"]["post"]["responses"]["413"]
    assert error
    checkin = paths["/door/api/events/{event_id}/checkins"]["post"]["responses"]
    assert {"400", "401", "403", "404", "413", "415"} <= set(checkin)
    for platform in ("eventbrite", "luma"):
        hook = paths[f"/webhooks/{platform}/{{token}}"]["post"]["responses"]
        assert {"202", "400", "401", "413"} <= set(hook), hook.keys()
    assert "code" in str(schemas.get("ApiError", {}))
