"""The JSON API of the Traffic Cop: register, cancel by ticket token, read the live counts.

Parse and answer only: every decision is the registration service's. Refusals carry a stable
`code` next to the human `detail`, so pages and scripts can branch without parsing sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Litestar, MediaType, Request, Response, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED
from saq import Queue

from community.controllers.api_limits import (
    cancellation_limit,
    json_body_only,
    registration_counters,
)
from community.controllers.dependencies import registrations_of
from community.errors import TOO_LARGE, ApiError, error_spec
from community.services.access.limiter import Counter
from community.services.people.members import EMAIL_PATTERN, MAX_EMAIL, MAX_NAME
from community.services.seats.native_registrations import (
    cancel_by_ticket,
    mail_existing_ticket,
    register_native,
)
from community.services.seats.refusals import (
    AlreadyRegistered,
    InvalidRegistration,
    RateLimited,
    RegistrationError,
)
from community.services.seats.registrations import RegistrationService

NO_STORE = CacheControlHeader(no_store=True)
ALREADY_REGISTERED = (
    "This address already has a place at this event. If it is yours, we have e-mailed "
    "its ticket to it again."
)


# --- bodies ----------------------------------------------------------------------------------


class RegistrationRequest(msgspec.Struct):
    # The limits of the event page's form and the member profiles (services.people.members).
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME, examples=["Ada Lovelace"])]
    email: Annotated[
        str,
        msgspec.Meta(
            min_length=3,
            max_length=MAX_EMAIL,
            pattern=EMAIL_PATTERN,
            examples=["ada@example.com"],
            description="At most 64 characters before the @, 63 per domain label.",
        ),
    ]


class RegistrationResponse(msgspec.Struct):
    status: Literal["confirmed", "waitlisted"]
    registration_id: UUID
    event_id: UUID
    seat_no: int | None
    waitlist_position: Annotated[
        int | None, msgspec.Meta(description="1 for the first in line; null when seated.")
    ]


class CancellationResponse(msgspec.Struct):
    status: Literal["cancelled"]
    registration_id: UUID
    event_id: UUID
    promoted_from_waitlist: int


class CountsResponse(msgspec.Struct):
    event_id: UUID
    capacity: int
    native_reserve: int
    mode: Literal["sold_out", "waitlist"]
    open: bool
    taken: Annotated[int, msgspec.Meta(description="Seats taken, held ones included.")]
    native: int
    external: int
    held: int
    over_capacity: Annotated[
        int, msgspec.Meta(description="Platform registrations accepted with no seat left.")
    ]
    waiting: int
    free: int
    shared_used: int
    shared_left: Annotated[
        int, msgspec.Meta(description="Seats the platforms may still sell (may be negative).")
    ]
    native_left: int
    per_channel: dict[str, int]


def _spec(description: str, code: str, detail: str, status: int) -> ResponseSpec:
    return error_spec(status, description, detail, code)


BAD_INPUT = _spec("A field is missing or invalid", "invalid", "Enter a valid e-mail address.", 400)
RATE_LIMITED = _spec(
    "Too many requests from this address (in all, or for this event); see Retry-After",
    "rate_limited",
    "Too many requests from your address. Please try again in 10 minutes.",
    429,
)
NOT_JSON = _spec(
    "The body was not sent as application/json", "unsupported_media_type", "Send JSON.", 415
)
UNAVAILABLE = _spec(
    "Our side failed for a moment; nothing was taken", "unavailable", "Please try again.", 503
)
# What the framework answers before a handler runs, in the same shape.
FRAMEWORK = {413: TOO_LARGE}


# --- errors --------------------------------------------------------------------------------------


def refusal(exc: RegistrationError) -> tuple[int, ApiError, dict[str, str]]:
    """A refusal's status, body and headers, on the Litestar route and the rush route alike."""
    status = exc.status  # services.seats.refusals.REFUSALS
    body = ApiError(status_code=status, code=exc.code, detail=exc.message)
    if isinstance(exc, InvalidRegistration):
        body.field = exc.field
    if isinstance(exc, AlreadyRegistered):
        # The same answer whatever the channel, date or waitlist: it must not tell a stranger
        # where or when someone registered (their ticket was mailed to them instead).
        body.detail = ALREADY_REGISTERED
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.wait_s)
    elif status == 503:
        headers["Retry-After"] = "1"
    return status, body, headers


def registration_error_handler(
    request: Request[Any, Any, Any], exc: RegistrationError
) -> Response[ApiError]:
    status, body, headers = refusal(exc)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _queues(request: Request[Any, Any, Any]) -> dict[str, Queue]:
    queues: dict[str, Queue] = request.app.state["queues"]  # set up by the app's lifespan
    return queues


async def take_place(
    app: Litestar, event_id: UUID, data: RegistrationRequest, limits: Sequence[Counter]
) -> RegistrationResponse | RegistrationError:
    """Register someone on our page through the API: the answer, or the refusal to render.
    Refusals are returned, not raised: most of a rush is refused, and Litestar's exception
    path costs more than the refusal itself."""
    queues: dict[str, Queue] = app.state["queues"]
    try:
        reg = await register_native(
            registrations_of(app),
            queues,
            event_id,
            name=data.name,
            email=data.email,
            limits=limits,
        )
    except AlreadyRegistered as exc:
        await mail_existing_ticket(queues, event_id, data.email)
        return exc
    except RegistrationError as exc:
        return exc
    return RegistrationResponse(
        # A registration just made is confirmed or waitlisted, never cancelled.
        status=reg.status.value,  # type: ignore[arg-type]
        registration_id=reg.registration_id,
        event_id=reg.event_id,
        seat_no=reg.seat_no,
        waitlist_position=reg.waitlist_position,
    )


# --- routes ----------------------------------------------------------------------------------


class RegistrationApiController(Controller):
    path = "/api"
    tags = ["registrations"]
    exception_handlers = {RegistrationError: registration_error_handler}

    @post(
        "/events/{event_id:uuid}/registrations",
        status_code=HTTP_201_CREATED,
        summary="Register for an event",
        description=(
            "Takes a seat at once (native registrations may use every seat, including the "
            "native reserve). When the event is full and in waitlist mode the person joins "
            "the waitlist and gets a position. 'Sold out' and 'already registered' are "
            "answered without touching the database. The person is e-mailed their ticket "
            "(or their waitlist place), as when registering on the event page. The ticket, "
            "and the link that cancels it, go only to that address: the answer does not "
            "carry them. An address that already has a place is answered 409 "
            "`already_registered`, the same whatever the channel, and its ticket is "
            "e-mailed to it again."
        ),
        cache_control=NO_STORE,
        guards=[json_body_only],
        responses={
            # Stated, as the handler also returns its refusals (documented below) itself.
            201: ResponseSpec(RegistrationResponse, description="Registered, or waitlisted"),
            400: BAD_INPUT,
            **FRAMEWORK,
            404: _spec("No such event", "event_not_found", "There is no such event.", 404),
            409: _spec(
                "Already registered (`already_registered`), sold out (`sold_out`), or "
                "registration closed (`closed`)",
                "sold_out",
                "This event is sold out.",
                409,
            ),
            415: NOT_JSON,
            429: RATE_LIMITED,
            503: UNAVAILABLE,
        },
    )
    async def register(
        self,
        event_id: UUID,
        data: RegistrationRequest,
        request: Request[Any, Any, Any],
    ) -> RegistrationResponse | Response[ApiError]:
        # `community web` serves this route as controllers.api_rush; this is the same answer.
        answer = await take_place(
            request.app, event_id, data, registration_counters(request, event_id)
        )
        if isinstance(answer, RegistrationError):
            return registration_error_handler(request, answer)
        return answer

    @delete(
        "/registrations/{ticket_token:str}",
        status_code=200,
        summary="Cancel a registration by its ticket token",
        description=(
            "The seat returns at once; the first person on the waitlist gets it. Both are "
            "told by e-mail. The token comes from the ticket e-mail. The rules of the ticket "
            "page apply: a place taken on a platform is cancelled there, and a ticket used "
            "at the door, or for a past or cancelled event, cannot be cancelled "
            "(409 `not_cancellable`)."
        ),
        cache_control=NO_STORE,
        guards=[cancellation_limit],
        responses={
            404: _spec("No registration has this ticket", "ticket_not_found", "No ticket.", 404),
            409: _spec(
                "Already cancelled (`already_cancelled`), or not cancellable here "
                "(`not_cancellable`)",
                "not_cancellable",
                "This ticket has been used at the door; it can no longer be cancelled.",
                409,
            ),
            429: RATE_LIMITED,
            503: UNAVAILABLE,
        },
    )
    async def cancel(
        self,
        registrations: RegistrationService,
        request: Request[Any, Any, Any],
        ticket_token: Annotated[str, Parameter(max_length=64)],
    ) -> CancellationResponse:
        result = await cancel_by_ticket(registrations, _queues(request), ticket_token)
        return CancellationResponse(
            status="cancelled",
            registration_id=result.registration_id,
            event_id=result.event_id,
            promoted_from_waitlist=len(result.promoted),
        )

    @get(
        "/events/{event_id:uuid}/counts",
        summary="Live seat counts",
        description=(
            "The Traffic Cop's counts: shared_used = external + over_capacity + "
            "max(0, native - reserve), shared_left = (capacity - reserve) - shared_used, "
            "native_left = capacity - native - external - over_capacity. Held seats and "
            "over-capacity claims count as taken; free counts seats nobody holds."
        ),
        cache_control=NO_STORE,
        responses={
            404: _spec("No such event", "event_not_found", "There is no such event.", 404),
            503: UNAVAILABLE,
        },
    )
    async def counts(self, event_id: UUID, registrations: RegistrationService) -> CountsResponse:
        c = await registrations.counts(event_id)
        return CountsResponse(
            event_id=event_id,
            capacity=c.capacity,
            native_reserve=c.reserve,
            mode=c.mode.value,
            open=c.open,
            taken=c.taken,
            native=c.native,
            external=c.external,
            held=c.held,
            over_capacity=c.over_capacity,
            waiting=c.waiting,
            free=c.free,
            shared_used=c.shared_used,
            shared_left=c.shared_left,
            native_left=c.native_left,
            per_channel=c.per_channel,
        )
