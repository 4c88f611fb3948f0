"""Hostile input in the admin's event form: a clear 422 naming the field, never a 500, and
text fields saved without control characters (issue: hardening)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from community.controllers.admin.event_form import parse_new_event_form
from community.models import Event
from community.services.events.manage import InvalidInput
from tests.helpers.admin import EVENT_FORM, post_admin_form

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": "NaN"}, "price"),
        ({"price": "sNaN"}, "price"),
        ({"price": "Infinity"}, "price"),
        ({"price": "-inf"}, "price"),
        ({"starts_at": "9999-12-31T23:00", "ends_at": "", "timezone": "Pacific/Pago_Pago"},
         "starts_at"),
        ({"starts_at": "9999-12-31T23:00", "ends_at": "", "timezone": "UTC"}, "starts_at"),
        ({"starts_at": "0001-01-01T00:00", "ends_at": "", "timezone": "Pacific/Kiritimati"},
         "starts_at"),
        ({"ends_at": "9999-12-31T23:59", "timezone": "Pacific/Pago_Pago"}, "ends_at"),
    ],
)  # fmt: skip
async def test_bad_numbers_and_dates_get_422_naming_the_field(
    owner_client: Client, changes: dict[str, str], field: str
) -> None:
    response = await post_admin_form(owner_client, "/admin/events", {**EVENT_FORM, **changes})
    assert response.status_code == 422, response.status_code
    assert f'id="e-{field}"' in response.text
    with pytest.raises(InvalidInput) as caught:
        parse_new_event_form({**EVENT_FORM, **changes})
    assert field in caught.value.errors


async def test_control_characters_are_stripped_from_every_text_field(
    owner_client: Client, db_session: AsyncSession
) -> None:
    form = {
        **EVENT_FORM,
        "title": "Null\x00 and\r\nbreaks\rin a title\u202e",
        "summary": "One\nline\tsummary",
        "venue_name": "Hall\rB",
        "address": "Street 1\r\nBerlin",
        "city": "Ber\x07lin",
        "organiser_name": "Ada\x00",
        "group_name": "Py\x1bGroup",
        "description_md": "Line one\r\nLine two\rLine three\x00\n\n- item\x0b",
    }
    response = await post_admin_form(owner_client, "/admin/events", form, follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    event = await db_session.scalar(select(Event).where(Event.title.like("Null and%")))
    assert event is not None
    assert event.title == "Null and breaks in a title"
    assert event.summary == "One line summary"
    assert (event.venue_name, event.address, event.city) == ("Hall B", "Street 1 Berlin", "Berlin")
    assert (event.organiser_name, event.group_name) == ("Ada", "PyGroup")
    # The description keeps its lines, as LF only.
    assert event.description_md == "Line one\nLine two\nLine three\n\n- item"


async def test_a_nul_in_the_title_is_not_a_500(owner_client: Client) -> None:
    response = await post_admin_form(owner_client, "/admin/events", {**EVENT_FORM, "title": "\x00"})
    assert response.status_code == 422 and "Title is required." in response.text


def test_the_dates_an_event_may_have_are_bounded() -> None:
    details, _ = parse_new_event_form(
        {**EVENT_FORM, "starts_at": "2100-12-30T10:00", "ends_at": ""}
    )
    assert details.starts_at.year == 2100


async def test_a_long_description_in_any_script_fits_and_a_huge_form_does_not(
    owner_client: Client, db_session: AsyncSession
) -> None:
    long_text = "日本語の説明" * 3000  # 18,000 characters, ~160 KB once percent-encoded
    form = {**EVENT_FORM, "title": "Long description night", "description_md": long_text}
    response = await post_admin_form(owner_client, "/admin/events", form, follow_redirects=False)
    assert response.status_code in (302, 303), response.status_code
    huge = {**EVENT_FORM, "description_md": "x" * 400_000}
    assert (await post_admin_form(owner_client, "/admin/events", huge)).status_code == 413
