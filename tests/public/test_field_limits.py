"""One set of field limits: the event page's form and the JSON API take and refuse the same
lengths of name and e-mail address, because both read them from the member rules."""

from __future__ import annotations

import secrets

import pytest

from community.services.people.members import MAX_EMAIL, MAX_LABEL, MAX_LOCAL, MAX_NAME
from tests.helpers.public import MakeEvent, post_form


def address_of_length(length: int) -> str:
    """A well-formed address of exactly `length` characters (a full local part, then domain
    labels within their own limit), different on every call."""
    local = secrets.token_hex(4).ljust(MAX_LOCAL, "a")
    labels, room = ["example"], length - len(local) - 1 - len("example")
    while room > 0:
        label = "b" * min(MAX_LABEL, room - 1)
        labels.insert(0, label)
        room -= len(label) + 1
    address = f"{local}@{'.'.join(labels)}"
    assert len(address) == length, len(address)
    return address


def person(name_length: int = 12, email_length: int = 100) -> dict[str, str]:
    return {"name": "x" * name_length, "email": address_of_length(email_length)}


@pytest.mark.parametrize(
    ("field", "longest"),
    [("name", {"name_length": MAX_NAME}), ("email", {"email_length": MAX_EMAIL})],
)
async def test_the_form_and_the_api_take_and_refuse_the_same_lengths(
    client, make_event: MakeEvent, field: str, longest: dict[str, int]
) -> None:
    event = await make_event(capacity=10)
    form_path, api_path = f"/events/{event.slug}/register", f"/api/events/{event.id}/registrations"
    too_long = {key: value + 1 for key, value in longest.items()}

    form_ok = await post_form(client, form_path, person(**longest), htmx=True)
    api_ok = await client.post(api_path, json=person(**longest))
    assert (form_ok.status_code, api_ok.status_code) == (200, 201), (form_ok.text, api_ok.text)

    form_refused = await post_form(client, form_path, person(**too_long), htmx=True)
    api_refused = await client.post(api_path, json=person(**too_long))
    assert form_refused.status_code == 422
    assert f'id="reg-{field}-error"' in form_refused.text
    assert api_refused.status_code == 400
    assert api_refused.json()["field"] == field
