"""The Traffic Cop: an event's seats in Redis, taken and given back by atomic Lua scripts.

Redis is the fast gate; PostgreSQL is the ledger (see `services.seats.ledger`). This module only
knows Redis: every answer comes from one script call on the event's keys, which share one hash
tag (so one cluster slot). Scripts are loaded once and called by SHA; redis-py reloads them
when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).

The counts follow the inventory model: with capacity C, native reserve R, native places n_int
and platform places n_ext (held seats and over-capacity claims included),

    shared_used = n_ext + max(0, n_int - R)
    shared_left = (C - R) - shared_used
    native_left = C - n_int - n_ext

a native registration needs native_left > 0, a platform registration shared_left > 0.
Over-capacity places (a platform accepted someone when no seat was left) count in n_ext until
they are seated: the first seats that come free go to them, before anyone else.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import re
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

from redis.asyncio import Redis, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from community.models.enums import Channel, SoldOutMode
from community.redis_client import call_packed, packs_commands, resp_command
from community.redis_keys import event_key
from community.services.access.limiter import COUNT_FUNCTION, Counter, wait_after_hits

LUA_DIR = Path(__file__).with_name("lua")
KEY_SUFFIXES = ("meta", "free", "who", "ent", "seats", "holds", "lock")
MAX_HOLD_MS = 24 * 3600 * 1000
MEMBER_KEY_RE = re.compile(r"^[A-Za-z0-9:._@-]{1,120}$")
MAX_CAPACITY = 100_000
LOCK_TTL_MS = 30_000
DEFAULT_KEEP_RECENT_MS = 5_000


@functools.lru_cache(maxsize=4096)
def _event_keys(prefix: str, event_id: str) -> tuple[str, ...]:
    """Every call on an event names all its keys; a rush calls on one event thousands of times."""
    return tuple(event_key(prefix, event_id, suffix) for suffix in KEY_SUFFIXES)


@functools.lru_cache(maxsize=4096)
def _event_keys_sent(prefix: str, event_id: UUID | str) -> tuple[bytes, ...]:
    """The same, as sent (a script call names 7), for the event's id as a UUID or as text."""
    return tuple(key.encode() for key in _event_keys(prefix, str(event_id)))


class InventoryError(Exception):
    """A change the inventory refuses; `code` is stable, the message is for a person."""

    def __init__(self, code: str, message: str, *, seats: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.seats = list(seats)


class InventoryBusy(Exception):
    """Someone else holds the event's rebuild lock for longer than we were willing to wait."""


# Per process: when loading an event from the ledger last failed (see ensure_loaded).
_LOAD_FAILED_AT: dict[str, float] = {}


class PlaceState(StrEnum):
    CONFIRMED = "c"
    HELD = "h"
    WAITLISTED = "w"
    OVER_CAPACITY = "o"


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotLoaded:
    """Redis has no state for this event: rebuild it from the ledger, then ask again."""


NOT_LOADED = NotLoaded()


@dataclass(frozen=True)
class Seat:
    seat_no: int
    state: PlaceState
    generation: str
    # A platform registration seated although the shared seats were gone (it took a reserved one).
    raced: bool = False
    expires_at: datetime | None = None


@dataclass(frozen=True)
class OverCapacity:
    """A platform race with no free seat at all: recorded, flagged, counted apart."""

    generation: str


@dataclass(frozen=True)
class Already:
    channel: str
    state: PlaceState
    seat_no: int
    since: datetime
    generation: str


@dataclass(frozen=True)
class SoldOut:
    native_left: int
    shared_left: int
    generation: str


@dataclass(frozen=True)
class JoinedWaitlist:
    generation: str


@dataclass(frozen=True)
class Closed:
    generation: str


@dataclass(frozen=True)
class Released:
    state: PlaceState
    seat_no: int
    channel: str


@dataclass(frozen=True)
class Missing:
    """No place for these member keys (never taken, already released, or a hold that expired)."""


@dataclass(frozen=True)
class Mismatch:
    """The member holds a different place than the caller expected: the caller's view is stale."""

    state: PlaceState
    seat_no: int


@dataclass(frozen=True)
class Full:
    """Promotion found no free seat."""


@dataclass(frozen=True)
class SeatMove:
    entry: str
    old_seat: int
    new_seat: int


@dataclass(frozen=True)
class PaidOnly:
    """A paid event's seat is bought at its checkout (a hold), not taken by registering."""

    generation: str


@dataclass(frozen=True)
class Limited:
    """The client is over one of its visitor limits: nothing was looked at or taken."""

    wait_s: int


# What each call answers once the event is loaded in Redis, and what it answers at all.
Reserved = Seat | Already | SoldOut | JoinedWaitlist | Closed | PaidOnly | Limited
Raced = Seat | OverCapacity | Already | Closed
Promoted = Seat | Full | Missing | Mismatch
ReserveResult = Reserved | NotLoaded
RaceResult = Raced | NotLoaded
ReleaseResult = Released | Missing | Mismatch | NotLoaded
PromoteResult = Promoted | NotLoaded


@dataclass(frozen=True)
class InventorySettings:
    capacity: int
    reserve: int
    mode: SoldOutMode = SoldOutMode.SOLD_OUT
    open: bool = True
    # Registration closes at this instant (epoch ms); 0 keeps it open.
    closes_at_ms: int = 0
    # Paid tickets: a native seat is bought through a checkout hold, never taken for free.
    paid: bool = False

    def validate(self) -> None:
        if not 0 <= self.capacity <= MAX_CAPACITY:
            raise InventoryError(
                "capacity_out_of_range", f"Capacity must be between 0 and {MAX_CAPACITY}."
            )
        if not 0 <= self.reserve <= self.capacity:
            raise InventoryError(
                "reserve_out_of_range",
                "The native reserve must be between 0 and the capacity.",
            )
        SoldOutMode(self.mode)


@dataclass(frozen=True)
class Counts:
    capacity: int
    reserve: int
    mode: SoldOutMode
    open: bool
    native: int  # n_int: native places with a seat, held ones included
    external: int  # n_ext: platform places with a seat, held ones included
    held: int
    over_capacity: int  # platform places past the mirror with no seat: they claim the next one
    waiting: int
    free: int  # seats nobody holds; while over_capacity > 0 they are not offered
    per_channel: dict[str, int] = field(default_factory=dict)
    closes_at_ms: int = 0
    # Strict allocation: shared seats promised to each platform listing and not yet sold there.
    promised: dict[str, int] = field(default_factory=dict)

    @property
    def taken(self) -> int:
        """Places holding or claiming a seat: over-capacity places keep their claim."""
        return self.native + self.external + self.over_capacity

    @property
    def shared_used(self) -> int:
        return self.external + self.over_capacity + max(0, self.native - self.reserve)

    @property
    def shared_left(self) -> int:
        return (self.capacity - self.reserve) - self.shared_used

    @property
    def native_left(self) -> int:
        return self.capacity - self.taken

    @property
    def promised_total(self) -> int:
        return sum(self.promised.values())

    @property
    def unpromised_left(self) -> int:
        """Shared seats no listing was promised: what the native page may use past its reserve."""
        return self.shared_left - self.promised_total

    @property
    def offered_natively(self) -> int:
        """Seats the native page can still give: its reserve left, then unpromised seats."""
        reserve_left = max(0, self.reserve - self.native)
        return max(0, min(self.native_left, reserve_left + max(0, self.unpromised_left)))

    def platform_limit(self, platform_count: int) -> int:
        """The absolute limit to push to a platform whose own "going" count is `platform_count`."""
        return platform_count + max(0, self.shared_left)


@dataclass(frozen=True)
class SnapshotEntry:
    """One active place in the ledger. `keys[0]` must be unique among the snapshot's entries.

    A hold (a seat being paid for) carries its expiry; it is kept only while it lasts and
    only where no other place has its seat or its person.
    """

    state: PlaceState
    channel: str
    seat_no: int
    since_ms: int
    keys: tuple[str, ...]
    expires_ms: int = 0


@dataclass(frozen=True)
class Snapshot:
    settings: InventorySettings
    entries: list[SnapshotEntry]
    # Seats promised to each platform listing, by the limits the platforms last confirmed.
    promised: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Promise:
    """A listing's promised seats after a `promise` call, and the mark to confirm it with."""

    seats: int
    mark: int
    before: int  # the listing's promise before the call


@dataclass(frozen=True)
class Place:
    """One entry of the live state, as `dump` reports it."""

    entry: str
    state: PlaceState
    channel: str
    seat_no: int
    since_ms: int
    expires_ms: int
    keys: tuple[str, ...]


@dataclass(frozen=True)
class InventoryState:
    counts: Counts
    places: list[Place]
    free_listed: list[int]
    top: int
    generation: str
    now_ms: int


SnapshotSource = Callable[[], Awaitable[Snapshot | None]]


# --- helpers -------------------------------------------------------------------------------


_SCRIPTS: weakref.WeakKeyDictionary[Redis, dict[str, AsyncScript]] = weakref.WeakKeyDictionary()
# The loads of events from the ledger under way in this process, per client (ensure_loaded).
_LOADING: weakref.WeakKeyDictionary[Redis, dict[str, asyncio.Future[bool]]] = (
    weakref.WeakKeyDictionary()
)


@cache
def _script_source(name: str) -> str:
    common = (LUA_DIR / "common.lua").read_text()
    return "\n".join((common, COUNT_FUNCTION, (LUA_DIR / f"{name}.lua").read_text()))


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _ttl_ms(ttl_s: float) -> int:
    ttl_ms = int(ttl_s * 1000)
    if not 1 <= ttl_ms <= MAX_HOLD_MS:
        raise ValueError("a hold lasts between a millisecond and a day")
    return ttl_ms


def _check_keys(keys: Sequence[str]) -> list[str]:
    if not keys:
        raise ValueError("at least one member key is needed")
    for key in keys:
        if not MEMBER_KEY_RE.match(key):
            raise ValueError(f"member key {key!r} has characters the inventory does not allow")
    return list(keys)


def _counts(meta_flat: Sequence[Any], free_listed: int) -> tuple[Counts, dict[str, str]]:
    meta = {_s(meta_flat[i]): _s(meta_flat[i + 1]) for i in range(0, len(meta_flat), 2)}

    def n(name: str) -> int:
        return int(meta.get(name, "0") or 0)

    capacity, top = n("cap"), n("top")
    per_channel = {c.value: n(f"ch:{c.value}") for c in Channel}
    promised = {c.value: n(f"x:{c.value}") for c in Channel if c != Channel.NATIVE}
    counts = Counts(
        capacity=capacity,
        reserve=n("res"),
        mode=SoldOutMode(meta.get("mode", SoldOutMode.SOLD_OUT)),
        open=meta.get("open") == "1",
        native=n("n_int"),
        external=n("n_ext"),
        held=n("held"),
        over_capacity=n("over"),
        waiting=n("waiting"),
        free=free_listed + max(0, capacity - top),
        per_channel=per_channel,
        closes_at_ms=n("closes"),
        promised=promised,
    )
    return counts, meta


class Inventory:
    """Seat inventory of every event, kept in Redis under `prefix`."""

    def __init__(self, redis: Redis, prefix: str = "cd:") -> None:
        self.redis = redis
        self.prefix = prefix
        # Shared by every Inventory on this client: services are built per request.
        self._scripts = _SCRIPTS.setdefault(redis, {})
        # A cluster runs a script on one slot's keys only: a visitor's counters are counted
        # apart there (their keys are the visitor's, not the event's).
        self._counts_apart = isinstance(redis, RedisCluster)
        self._packs = packs_commands(redis)

    def keys(self, event_id: UUID | str) -> list[str]:
        return list(_event_keys(self.prefix, str(event_id)))

    def _script(self, name: str) -> AsyncScript:
        script = self._scripts.get(name)
        if script is None:
            script = self.redis.register_script(_script_source(name))
            self._scripts[name] = script
        return script

    async def _run(self, name: str, event_id: UUID | str, *args: Any) -> list[Any]:
        return await self._call(name, _event_keys_sent(self.prefix, event_id), args)

    async def _call(self, name: str, keys: Sequence[str | bytes], args: Sequence[Any]) -> list[Any]:
        """The script by its SHA, loaded first if the server has lost it (a restart, SCRIPT
        FLUSH). Not through redis-py's script object, whose every call cost a rush's refusal
        a twentieth of its CPU."""
        script = self._script(name)
        try:
            if self._packs:
                command = resp_command(b"EVALSHA", script.sha, len(keys), *keys, *args)
                reply = await call_packed(self.redis, command)
            else:
                reply = await self.redis.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            reply = await script(keys=list(keys), args=list(args))
        return list(reply)

    # --- taking and giving back --------------------------------------------------------------

    async def reserve(
        self,
        event_id: UUID | str,
        member_keys: Sequence[str],
        channel: str = Channel.NATIVE,
        *,
        limits: Sequence[Counter] = (),
    ) -> ReserveResult:
        """Take a seat now. Full in waitlist mode: a native newcomer joins the waitlist.

        `limits`: the visitor's counters this attempt counts on, in the same script call (a
        refusal in a rush costs Redis one round trip); Limited when one is over its maximum.
        On a cluster pass only what `counted_apart` leaves."""
        channel = Channel(channel).value
        reply = await self._call(
            "reserve",
            (*_event_keys_sent(self.prefix, event_id), *(c.key for c in limits)),
            (
                channel,
                "confirm",
                0,
                len(limits),
                *(arg for c in limits for arg in c.script_args()),
                *_check_keys(member_keys),
            ),
        )
        result = self._reserve_result(reply)
        assert not isinstance(result, OverCapacity)  # the script answers that to a race only
        return result

    async def counted_apart(self, limits: Sequence[Counter]) -> Sequence[Counter] | Limited:
        """The counters `reserve` may count in its script: all of them on a single server. A
        cluster runs a script on one slot's keys, and a visitor's counters are not the
        event's: there they are counted here, now, and none are left (or Limited)."""
        if not limits or not self._counts_apart:
            return limits
        wait = await wait_after_hits(self.redis, limits)
        return Limited(wait) if wait else ()

    async def hold(
        self,
        event_id: UUID | str,
        member_keys: Sequence[str],
        channel: str = Channel.NATIVE,
        *,
        ttl_s: float = 600,
        or_wait: bool = False,
    ) -> ReserveResult:
        """Hold a seat for `ttl_s` seconds; it returns by itself unless confirmed in time.

        With `or_wait`, a full event in waitlist mode puts the person on the waitlist instead
        (JoinedWaitlist): a paid ticket's waitlist, whose places are offered as holds.
        """
        channel = Channel(channel).value
        kind = "hold_or_wait" if or_wait else "hold"
        reply = await self._run(
            "reserve", event_id, channel, kind, _ttl_ms(ttl_s), 0, *_check_keys(member_keys)
        )
        result = self._reserve_result(reply)
        assert not isinstance(result, OverCapacity)  # the script answers that to a race only
        return result

    async def extend_hold(
        self, event_id: UUID | str, member_keys: Sequence[str], *, seat_no: int, ttl_s: float
    ) -> Seat | Missing | Mismatch | NotLoaded:
        """Keep an open hold on `seat_no` at least `ttl_s` seconds from now (never shorter)."""
        reply = await self._run(
            "extend", event_id, int(seat_no), _ttl_ms(ttl_s), *_check_keys(member_keys)
        )
        kind = _s(reply[0])
        if kind == "ok":
            return Seat(
                int(reply[1]), PlaceState.HELD, "", expires_at=_ms_to_datetime(int(reply[2]))
            )
        if kind == "mismatch":
            return Mismatch(PlaceState(_s(reply[1])), int(reply[2]))
        return Missing() if kind == "missing" else NOT_LOADED

    async def offer(
        self, event_id: UUID | str, member_keys: Sequence[str], *, ttl_s: float
    ) -> PromoteResult:
        """Hold a free seat for a waitlisted member for `ttl_s` seconds (a paid event's
        waitlist: the seat is theirs once they pay, and returns by itself if they do not)."""
        reply = await self._run("offer", event_id, _ttl_ms(ttl_s), *_check_keys(member_keys))
        kind = _s(reply[0])
        if kind == "ok":
            return Seat(
                int(reply[1]),
                PlaceState.HELD,
                _s(reply[2]),
                expires_at=_ms_to_datetime(int(reply[3])),
            )
        if kind == "full":
            return Full()
        if kind == "not_waiting":
            return Mismatch(PlaceState(_s(reply[1])), int(reply[2]))
        return Missing() if kind == "missing" else NOT_LOADED

    async def admit_past_mirror(
        self, event_id: UUID | str, member_keys: Sequence[str], channel: str
    ) -> RaceResult:
        """Record a platform registration the platform accepted before our limit reached it."""
        channel = Channel(channel).value
        if channel == Channel.NATIVE:
            raise ValueError("only a platform registration can race past the mirror")
        reply = await self._run(
            "reserve", event_id, channel, "race", 0, 0, *_check_keys(member_keys)
        )
        result = self._reserve_result(reply)
        # A race takes any free seat, else goes over capacity: it is never sold out or waitlisted.
        assert not isinstance(result, SoldOut | JoinedWaitlist | PaidOnly | Limited)
        return result

    def _reserve_result(self, reply: list[Any]) -> ReserveResult | RaceResult:
        kind = _s(reply[0])
        if kind == "ok":
            state = PlaceState(_s(reply[1]))
            if state == PlaceState.OVER_CAPACITY:
                return OverCapacity(generation=_s(reply[4]))
            expires = int(reply[5])
            return Seat(
                seat_no=int(reply[2]),
                state=state,
                raced=bool(int(reply[3])),
                generation=_s(reply[4]),
                expires_at=_ms_to_datetime(expires) if expires else None,
            )
        if kind == "already":
            return Already(
                channel=_s(reply[1]),
                state=PlaceState(_s(reply[2])),
                seat_no=int(reply[3]),
                since=_ms_to_datetime(int(reply[4])),
                generation=_s(reply[5]),
            )
        if kind == "sold_out":
            return SoldOut(int(reply[1]), int(reply[2]), _s(reply[3]))
        if kind == "waitlist":
            return JoinedWaitlist(_s(reply[1]))
        if kind == "closed":
            return Closed(_s(reply[1]))
        if kind == "paid":
            return PaidOnly(_s(reply[1]))
        if kind == "limited":
            return Limited(int(reply[1]))
        return NOT_LOADED

    async def confirm_hold(
        self, event_id: UUID | str, member_keys: Sequence[str]
    ) -> Seat | Missing | Mismatch | NotLoaded:
        reply = await self._run("confirm", event_id, *_check_keys(member_keys))
        kind = _s(reply[0])
        if kind == "ok":
            return Seat(int(reply[1]), PlaceState.CONFIRMED, _s(reply[2]))
        if kind == "not_held":
            return Mismatch(PlaceState(_s(reply[1])), int(reply[2]))
        return Missing() if kind == "missing" else NOT_LOADED

    async def release(
        self,
        event_id: UUID | str,
        member_keys: Sequence[str],
        *,
        seat_no: int | None = None,
        states: Sequence[PlaceState] = (),
    ) -> ReleaseResult:
        """Give the member's place back, only if it is (still) `seat_no` and in `states`."""
        expected = "" if seat_no is None else str(int(seat_no))
        allowed = "".join(PlaceState(s).value for s in states)
        reply = await self._run("release", event_id, expected, allowed, *_check_keys(member_keys))
        kind = _s(reply[0])
        if kind == "released":
            return Released(PlaceState(_s(reply[1])), int(reply[2]), _s(reply[3]))
        if kind == "mismatch":
            return Mismatch(PlaceState(_s(reply[1])), int(reply[2]))
        return Missing() if kind == "missing" else NOT_LOADED

    async def seat_over_capacity(
        self, event_id: UUID | str, member_keys: Sequence[str]
    ) -> PromoteResult:
        """Give an over-capacity place a seat that came free (their claim came first)."""
        reply = await self._run("seat_over", event_id, *_check_keys(member_keys))
        kind = _s(reply[0])
        if kind == "ok":
            return Seat(int(reply[1]), PlaceState.CONFIRMED, _s(reply[2]))
        if kind == "full":
            return Full()
        if kind == "not_over":
            return Mismatch(PlaceState(_s(reply[1])), int(reply[2]))
        return Missing() if kind == "missing" else NOT_LOADED

    async def promote(self, event_id: UUID | str, member_keys: Sequence[str]) -> PromoteResult:
        """Seat a waitlisted member if their channel has a free seat."""
        reply = await self._run("promote", event_id, *_check_keys(member_keys))
        kind = _s(reply[0])
        if kind == "ok":
            return Seat(int(reply[1]), PlaceState.CONFIRMED, _s(reply[2]))
        if kind == "full":
            return Full()
        if kind == "not_waiting":
            return Mismatch(PlaceState(_s(reply[1])), int(reply[2]))
        return Missing() if kind == "missing" else NOT_LOADED

    # --- settings and counts -----------------------------------------------------------------

    async def configure(
        self, event_id: UUID | str, settings: InventorySettings, *, renumber: bool = False
    ) -> list[SeatMove] | NotLoaded:
        """Apply new settings. Returns the seats moved when a lower capacity had to renumber.

        Raises InventoryError when the change is impossible: capacity below the seats taken, a
        reserve outside 0..capacity, or (without `renumber`) taken seats above the new capacity.
        """
        settings.validate()
        reply = await self._run(
            "configure",
            event_id,
            settings.capacity,
            settings.reserve,
            SoldOutMode(settings.mode).value,
            "1" if settings.open else "0",
            int(settings.closes_at_ms),
            "renumber" if renumber else "refuse",
            "1" if settings.paid else "0",
        )
        kind = _s(reply[0])
        if kind == "not_loaded":
            return NOT_LOADED
        if kind == "error":
            code = _s(reply[1])
            if code == "capacity_below_taken":
                raise InventoryError(
                    code, f"Capacity cannot be lower than the {int(reply[2])} seats already taken."
                )
            if code == "seats_beyond_capacity":
                seats = [int(s) for s in reply[2:]]
                raise InventoryError(
                    code,
                    f"{len(seats)} taken seat number(s) lie above the new capacity; "
                    "renumber them or keep the capacity.",
                    seats=seats,
                )
            raise InventoryError(code, "The native reserve must be between 0 and the capacity.")
        rest = reply[1:]
        return [
            SeatMove(_s(rest[i]), int(rest[i + 1]), int(rest[i + 2]))
            for i in range(0, len(rest), 3)
        ]

    # --- strict allocation -------------------------------------------------------------------

    async def promise(
        self, event_id: UUID | str, channel: str, wanted: int, *, mark: int = -1
    ) -> Promise | NotLoaded:
        """Before a push (mark -1): promise the listing up to `wanted` unsold seats, as far as
        seats nobody else was promised allow; a smaller promise waits for the platform.
        After the platform confirmed a push planned at `mark`: shrink it to what is unsold."""
        channel = Channel(channel).value
        if channel == Channel.NATIVE:
            raise ValueError("only a platform listing is promised seats")
        reply = await self._run("promise", event_id, channel, int(wanted), int(mark), "")
        if _s(reply[0]) != "ok":
            return NOT_LOADED
        return Promise(int(reply[1]), int(reply[2]), int(reply[3]))

    async def drop_promises(self, event_id: UUID | str) -> None:
        """Forget every promise (shared mode: each listing may sell the whole pool)."""
        await self._run("promise", event_id, Channel.MEETUP.value, 0, 0, "reset")

    async def counts(self, event_id: UUID | str) -> Counts | NotLoaded:
        reply = await self._run("counts", event_id)
        if _s(reply[0]) != "ok":
            return NOT_LOADED
        return _counts(reply[1], int(reply[2]))[0]

    async def dump(self, event_id: UUID | str) -> InventoryState | NotLoaded:
        reply = await self._run("dump", event_id)
        if _s(reply[0]) != "ok":
            return NOT_LOADED
        free_listed = [int(s) for s in reply[3]]
        counts, meta = _counts(reply[1], len(free_listed))
        places = []
        flat = reply[2]
        for i in range(0, len(flat), 2):
            state, channel, seat, since, exp, keys = _s(flat[i + 1]).split("|")
            places.append(
                Place(
                    entry=_s(flat[i]),
                    state=PlaceState(state),
                    channel=channel,
                    seat_no=int(seat),
                    since_ms=int(since),
                    expires_ms=int(exp),
                    keys=tuple(keys.split(",")),
                )
            )
        return InventoryState(
            counts=counts,
            places=places,
            free_listed=free_listed,
            top=int(meta.get("top", "0")),
            generation=meta.get("gen", ""),
            now_ms=int(reply[4]),
        )

    async def is_loaded(self, event_id: UUID | str) -> bool:
        return bool(await self.redis.exists(self.keys(event_id)[0]))

    async def generation(self, event_id: UUID | str) -> str | None:
        value = await self.redis.hget(self.keys(event_id)[0], "gen")
        return None if value is None else _s(value)

    async def forget(self, event_id: UUID | str) -> None:
        """Drop the event's state (not its lock): the next use rebuilds it from the ledger."""
        await self.redis.delete(*self.keys(event_id)[:-1])

    # --- loading from the ledger -------------------------------------------------------------

    async def load(
        self,
        event_id: UUID | str,
        snapshot: Snapshot,
        *,
        lock_token: str = "",
        keep_recent_ms: int = -1,
    ) -> bool:
        """Replace the event's state with `snapshot`. False if `lock_token` is no longer ours."""
        snapshot.settings.validate()
        settings = snapshot.settings
        # Holds last: a confirmed place always wins a clash with one.
        ordered = sorted(snapshot.entries, key=lambda e: e.state == PlaceState.HELD)
        entries = [
            [
                PlaceState(e.state).value,
                Channel(e.channel).value,
                int(e.seat_no),
                int(e.since_ms),
                _check_keys(e.keys),
                int(e.expires_ms),
            ]
            for e in ordered
        ]
        conf = {
            "cap": settings.capacity,
            "res": settings.reserve,
            "mode": SoldOutMode(settings.mode).value,
            "open": "1" if settings.open else "0",
            "closes": int(settings.closes_at_ms),
            "paid": "1" if settings.paid else "0",
            "promised": {Channel(ch).value: max(0, int(n)) for ch, n in snapshot.promised.items()},
        }
        reply = await self._run(
            "load",
            event_id,
            lock_token,
            secrets.token_hex(8),
            json.dumps(conf),
            int(keep_recent_ms),
            json.dumps(entries),
        )
        return _s(reply[0]) == "loaded"

    async def _try_lock(self, event_id: UUID | str) -> str | None:
        token = secrets.token_hex(12)
        if await self.redis.set(self.keys(event_id)[-1], token, nx=True, px=LOCK_TTL_MS):
            return token
        return None

    async def _unlock(self, event_id: UUID | str, token: str) -> None:
        # Shielded: a cancelled request must not leave the lock for others to wait out.
        await asyncio.shield(self._script("unlock")(keys=self.keys(event_id), args=[token]))

    @asynccontextmanager
    async def locked(self, event_id: UUID | str, *, wait_s: float = 10.0) -> AsyncIterator[str]:
        """Hold the event's rebuild lock; yields the token `load` needs to prove it."""
        deadline = time.monotonic() + wait_s
        pause = 0.005
        while (token := await self._try_lock(event_id)) is None:
            if time.monotonic() > deadline:
                raise InventoryBusy(f"event {event_id} is being rebuilt; try again shortly")
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.1)
        try:
            yield token
        finally:
            await self._unlock(event_id, token)

    async def ensure_loaded(
        self, event_id: UUID | str, source: SnapshotSource, *, wait_s: float = 10.0
    ) -> bool:
        """Load the event from the ledger unless it is loaded. True if this call loaded it.

        Concurrent callers wait while one of them holds the lock and reads the ledger; they
        see the state appear and load nothing, so a cold event is read from the ledger once.
        In one process they share one attempt: a rush on a cold event (after a restart of
        Redis) is hundreds of callers at once, and each polling Redis for the lock slowed the
        one loading it.
        """
        loading = _LOADING.setdefault(self.redis, {})
        key = str(event_id)
        attempt = loading.get(key)
        if attempt is not None:
            await asyncio.shield(attempt)
            return False
        attempt = asyncio.ensure_future(self._ensure_loaded(event_id, source, wait_s=wait_s))
        loading[key] = attempt
        attempt.add_done_callback(lambda _: loading.pop(key, None))
        return await asyncio.shield(attempt)

    async def _ensure_loaded(
        self, event_id: UUID | str, source: SnapshotSource, *, wait_s: float
    ) -> bool:
        started = time.monotonic()
        deadline = started + wait_s
        failures = f"{self.prefix}{event_id}"
        pause = 0.005
        while not await self.is_loaded(event_id):
            token = await self._try_lock(event_id)
            if token is not None:
                try:
                    if await self.is_loaded(event_id):
                        return False
                    try:
                        snapshot = await source()
                    except Exception:
                        _LOAD_FAILED_AT[failures] = time.monotonic()
                        raise
                    _LOAD_FAILED_AT.pop(failures, None)
                    if snapshot is None:
                        raise LookupError(f"event {event_id} is not in the ledger")
                    return await self.load(event_id, snapshot, lock_token=token)
                finally:
                    await self._unlock(event_id, token)
            if _LOAD_FAILED_AT.get(failures, 0.0) > started:
                # The ledger failed the load we were waiting for (down, or stuck until its
                # statement timeout): give up now rather than each waiter trying it in turn.
                raise InventoryBusy(f"event {event_id} could not be loaded; try again shortly")
            if time.monotonic() > deadline:
                raise InventoryBusy(f"event {event_id} is being loaded; try again shortly")
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.05)
        return False

    async def rebuild(
        self,
        event_id: UUID | str,
        source: SnapshotSource,
        *,
        unless_generation: str | None = None,
        keep_recent_ms: int = DEFAULT_KEEP_RECENT_MS,
    ) -> bool:
        """Reload from the ledger although state exists (it was found stale).

        With `unless_generation`, skip when the state was already rebuilt since the caller saw
        that generation: many requests that trip over the same stale state rebuild it once.
        """
        async with self.locked(event_id) as token:
            if unless_generation is not None:
                current = await self.generation(event_id)
                if current is not None and current != unless_generation:
                    return False
            snapshot = await source()
            if snapshot is None:
                await self.forget(event_id)
                return False
            return await self.load(
                event_id, snapshot, lock_token=token, keep_recent_ms=keep_recent_ms
            )
