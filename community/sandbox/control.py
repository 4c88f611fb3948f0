"""Control endpoints under ``/_sandbox/``: seed events, act as the platform's own visitors,
read the state and inject faults. They are not part of any platform's API shape.
"""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Request, Response, delete, get, post

from community.sandbox.faults import FAULT_KINDS, Faults, WindowQuota
from community.sandbox.shapes import (
    Outcome,
    Person,
    SandboxHTTPError,
    SeedEvent,
    read_json,
    require,
)


class Controlled(Protocol):
    """What the control endpoints use of a stand-in (a sandbox.common.SandboxPlatform)."""

    faults: Faults
    budget: WindowQuota
    public_url: str

    def state(self) -> dict[str, Any]: ...
    def seed_event(self, seed: SeedEvent) -> str: ...
    def add_registration(self, event_id: str, person: Person) -> Outcome: ...
    def cancel_registration(self, event_id: str, registration_id: str) -> dict[str, Any]: ...
    def check_in(self, event_id: str, registration_id: str) -> dict[str, Any]: ...
    def event_state(self, event_id: str) -> dict[str, Any]: ...
    def expire_tokens(self) -> None: ...


def _whole(data: dict[str, Any], key: str, default: int, *, low: int, high: int) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise SandboxHTTPError(400, f"{key} must be a whole number from {low} to {high}.")
    return value


def control_handlers(platform: Controlled) -> list[Any]:
    def remember_url(request: Request[Any, Any, Any]) -> None:
        platform.public_url = str(request.base_url).rstrip("/")

    @get("/_sandbox/state", sync_to_thread=False)
    def read_state() -> dict[str, Any]:
        return platform.state()

    @post("/_sandbox/events", status_code=201)
    async def seed(request: Request[Any, Any, Any]) -> dict[str, Any]:
        remember_url(request)
        event_id = platform.seed_event(SeedEvent.from_json(await read_json(request)))
        return platform.event_state(event_id)

    @get("/_sandbox/events/{event_id:str}", sync_to_thread=False)
    def event(event_id: str) -> dict[str, Any]:
        return platform.event_state(event_id)

    @post("/_sandbox/events/{event_id:str}/registrations")
    async def register(event_id: str, request: Request[Any, Any, Any]) -> Response[Any]:
        remember_url(request)
        outcome = platform.add_registration(event_id, Person.from_json(await read_json(request)))
        status = 409 if outcome.status == "refused" else 201
        return Response(content=outcome.as_json(), status_code=status)

    @post(
        "/_sandbox/events/{event_id:str}/registrations/{registration_id:str}/cancel",
        status_code=200,
    )
    async def cancel(
        event_id: str, registration_id: str, request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        remember_url(request)
        return platform.cancel_registration(event_id, registration_id)

    @post(
        "/_sandbox/events/{event_id:str}/registrations/{registration_id:str}/check-in",
        status_code=200,
    )
    async def check_in(
        event_id: str, registration_id: str, request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        remember_url(request)
        return platform.check_in(event_id, registration_id)

    @post("/_sandbox/faults", status_code=200)
    async def inject(request: Request[Any, Any, Any]) -> dict[str, Any]:
        data = await read_json(request)
        require(isinstance(data, dict), 400, "Send a JSON object.")
        if "latency_ms" in data:
            platform.faults.latency_ms = _whole(data, "latency_ms", 0, low=0, high=60_000)
        if "kind" in data:
            kind = data["kind"]
            require(kind in FAULT_KINDS, 400, f"kind must be one of {', '.join(FAULT_KINDS)}.")
            count = _whole(data, "count", 1, low=1, high=1000)
            status = _whole(data, "status", 503, low=500, high=599) if kind == "5xx" else None
            platform.faults.inject(kind, count, status=status)
        if "rate_limit_wait_s" in data:
            platform.faults.rate_limit_wait_s = _whole(
                data, "rate_limit_wait_s", 30, low=1, high=3600
            )
        if "outage_s" in data:
            # {"outage_s": 90, "kinds": ["429", "5xx", "hang"]}: every call fails meanwhile.
            kinds = data.get("kinds", list(FAULT_KINDS))
            valid = isinstance(kinds, list) and kinds and all(k in FAULT_KINDS for k in kinds)
            require(bool(valid), 400, f"kinds must list some of {', '.join(FAULT_KINDS)}.")
            seconds = _whole(data, "outage_s", 90, low=1, high=3600)
            platform.faults.outage(seconds, tuple(kinds))
        return platform.faults.describe()

    @delete("/_sandbox/faults", status_code=200, sync_to_thread=False)
    def clear_faults() -> dict[str, Any]:
        platform.faults.clear()
        return platform.faults.describe()

    @post("/_sandbox/rate", status_code=200)
    async def rate(request: Request[Any, Any, Any]) -> dict[str, Any]:
        data = await read_json(request)
        require(isinstance(data, dict), 400, "Send a JSON object.")
        limit = _whole(data, "limit", platform.budget.limit, low=0, high=10_000_000)
        window = data.get("window_s", platform.budget.window_s)
        valid = isinstance(window, int | float) and not isinstance(window, bool) and window > 0
        require(valid, 400, "window_s must be a positive number of seconds.")
        platform.budget.configure(limit, float(window))
        return platform.budget.describe()

    @post("/_sandbox/tokens/expire", sync_to_thread=False)
    def expire() -> dict[str, Any]:
        platform.expire_tokens()
        return {"expired": True}

    return [
        read_state,
        seed,
        event,
        register,
        cancel,
        check_in,
        inject,
        clear_faults,
        rate,
        expire,
    ]
