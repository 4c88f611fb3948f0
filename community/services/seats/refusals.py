"""Why a seat was not taken, held, paid for or given back: the refusals, and the one table of them.

Every refusal is a `RegistrationError` with a stable `code` (what the JSON API answers and
scripts branch on) and the HTTP `status` any answer to it carries, the API's and the pages'
alike. Both are read from `REFUSALS`, the only place a refusal's status is decided: a refusal
class whose code is missing there fails at import. The controllers choose how to show a
refusal (a JSON body, the registration box, a notice), never which status it answers with.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import ClassVar, Final, TypeVar

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from community.models import PLATFORM_LABELS, Channel
from community.services.access.limiter import wait_text
from community.services.seats.inventory import (
    Already,
    Closed,
    InventoryBusy,
    Limited,
    PaidOnly,
    PlaceState,
    SoldOut,
)

log = logging.getLogger("community.registrations")

Answer = TypeVar("Answer")  # what the Traffic Cop answered, once its refusals are raised

# code: HTTP status. One row per refusal, the payments' refusals (services.payments) included.
REFUSALS: Final[dict[str, int]] = {
    "registration_error": 400,  # a refusal of no more precise kind
    "invalid": 400,  # a page's form shows it beside the field, with FIELD_PROBLEM (below)
    "event_not_found": 404,
    "ticket_not_found": 404,
    "sold_out": 409,
    "already_registered": 409,
    "closed": 409,
    "tickets_on_sale": 409,
    "hold_expired": 409,
    "already_cancelled": 409,
    "not_cancellable": 409,
    "rate_limited": 429,
    "unavailable": 503,
    # paid tickets
    "checkout_error": 400,
    "not_for_sale": 409,
    "checkout_busy": 409,
    "checkout_not_found": 404,
    "already_paid": 409,
    "payments_unavailable": 503,
    "not_refundable": 409,
}
# A page's form answers a problem with one of its fields (its own checks, or `invalid`) by
# showing the form again with the field marked: 422, where the JSON API answers `invalid` 400.
FIELD_PROBLEM: Final = 422


class RegistrationError(Exception):
    """A registration refused for a reason a person can act on; `code` is stable."""

    code: ClassVar[str] = "registration_error"
    status: ClassVar[int] = REFUSALS["registration_error"]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.status = REFUSALS[cls.code]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRegistration(RegistrationError):
    code = "invalid"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class EventNotFound(RegistrationError):
    code = "event_not_found"

    def __init__(self) -> None:
        super().__init__("There is no such event.")


class RegistrationClosed(RegistrationError):
    code = "closed"

    def __init__(self) -> None:
        super().__init__("Registration for this event is closed.")


class SoldOutError(RegistrationError):
    code = "sold_out"

    def __init__(self) -> None:
        super().__init__("This event is sold out.")


class AlreadyRegistered(RegistrationError):
    code = "already_registered"

    def __init__(self, channel: str, since: datetime | None, *, waitlisted: bool = False) -> None:
        label = PLATFORM_LABELS.get(channel, channel.title())
        where = "on this page" if channel == Channel.NATIVE else f"on {label}"
        when = f" on {since:%d %B %Y}" if since else ""
        what = "are already on the waitlist" if waitlisted else "are already registered"
        super().__init__(f"You {what} for this event ({where}{when}).")
        self.channel = channel
        self.since = since
        self.waitlisted = waitlisted


class TicketsOnSale(RegistrationError):
    """A paid event: its seats are bought at the checkout, not taken by registering."""

    code = "tickets_on_sale"

    def __init__(self) -> None:
        super().__init__(
            "This event sells tickets: get yours with the Get ticket button on its page."
        )


class HoldExpired(RegistrationError):
    code = "hold_expired"

    def __init__(self) -> None:
        super().__init__("The seat was held for you, but the hold has run out.")


class TicketNotFound(RegistrationError):
    code = "ticket_not_found"

    def __init__(self) -> None:
        super().__init__("No registration has this ticket.")


class AlreadyCancelled(RegistrationError):
    code = "already_cancelled"

    def __init__(self) -> None:
        super().__init__("This registration was already cancelled.")


class NotCancellable(RegistrationError):
    """The person cannot give this place back themselves; the message says where or why."""

    code = "not_cancellable"


class RateLimited(RegistrationError):
    """This client made too many attempts (in all, or for this event); nothing was taken."""

    code = "rate_limited"

    def __init__(self, wait_s: int) -> None:
        super().__init__(
            f"Too many requests from your address. Please try again in {wait_text(wait_s)}."
        )
        self.wait_s = wait_s


class RegistrationUnavailable(RegistrationError):
    """Our side failed (database or Redis unreachable, too busy). Nothing was taken."""

    code = "unavailable"

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "We could not save your registration just now; nothing was taken. "
            "Please try again in a moment."
        )


def refuse_if_refused(
    result: Already | SoldOut | Closed | PaidOnly | Limited | Answer,
) -> Answer:
    """Raise the refusal a Traffic Cop answer stands for (a place already held, sold out,
    registration closed, a paid event's seat to be bought); return any other answer. The one
    mapping every way of taking a seat (register, record a platform's, hold) goes through."""
    if isinstance(result, Already):
        raise AlreadyRegistered(
            result.channel, result.since, waitlisted=result.state == PlaceState.WAITLISTED
        )
    if isinstance(result, SoldOut):
        raise SoldOutError()
    if isinstance(result, Closed):
        raise RegistrationClosed()
    if isinstance(result, PaidOnly):
        raise TicketsOnSale()
    if isinstance(result, Limited):
        raise RateLimited(result.wait_s)
    return result


INFRASTRUCTURE = (RedisError, InventoryBusy, DBAPIError, OSError, TimeoutError)


class _UnavailableOnFailure:
    """Infrastructure failures become one clear refusal; the person can simply try again.
    A class, not a generator: every registration of a rush enters it."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: object
    ) -> None:
        if exc is not None and isinstance(exc, INFRASTRUCTURE):
            log.warning("registration unavailable", extra={"error": type(exc).__name__})
            raise RegistrationUnavailable() from exc


def unavailable_on_failure() -> _UnavailableOnFailure:
    return _UNAVAILABLE_ON_FAILURE


_UNAVAILABLE_ON_FAILURE = _UnavailableOnFailure()
