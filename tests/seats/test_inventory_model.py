"""Random sequences of registrations, cancellations and setting changes against a plain model.

The model below is the inventory model of docs/inventory.md written as naively as possible;
after every step the Redis state must match it exactly, seat numbers included.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from inventory_outcomes import describe
from redis.asyncio import Redis

from community.config import Settings
from community.models.enums import SoldOutMode
from community.services.seats.inventory import (
    Inventory,
    InventoryError,
    InventorySettings,
    InventoryState,
    PlaceState,
    Snapshot,
    SnapshotEntry,
)

PEOPLE = [f"p{i}" for i in range(9)]
CHANNELS = ["native", "meetup", "eventbrite", "luma"]
PLATFORMS = CHANNELS[1:]


@dataclass
class ModelPlace:
    state: str  # c h w o, as in the scripts
    channel: str
    seat: int


class Model:
    def __init__(self, capacity: int, reserve: int, mode: str) -> None:
        self.capacity, self.reserve, self.mode = capacity, reserve, mode
        self.places: dict[str, ModelPlace] = {}

    def _seated(self, native: bool) -> int:
        return sum(
            1 for p in self.places.values() if p.state in "ch" and (p.channel == "native") == native
        )

    @property
    def n_int(self) -> int:
        return self._seated(True)

    @property
    def n_ext(self) -> int:
        return self._seated(False)

    def count(self, state: str) -> int:
        return sum(1 for p in self.places.values() if p.state == state)

    @property
    def native_left(self) -> int:
        # An over-capacity place holds its claim: it counts as taken until it is seated.
        return self.capacity - self.n_int - self.n_ext - self.count("o")

    @property
    def shared_left(self) -> int:
        used = self.n_ext + self.count("o") + max(0, self.n_int - self.reserve)
        return (self.capacity - self.reserve) - used

    @property
    def physically_free(self) -> int:
        return self.capacity - sum(1 for p in self.places.values() if p.seat)

    def lowest_free(self) -> int | None:
        used = {p.seat for p in self.places.values() if p.seat}
        free = [s for s in range(1, self.capacity + 1) if s not in used]
        return free[0] if free else None

    def take(self, who: str, channel: str, kind: str) -> str:
        if who in self.places:
            p = self.places[who]
            return f"already {p.channel} {p.state}"
        if kind == "race":
            seat = self.lowest_free() if self.native_left > 0 else None
            raced = self.shared_left <= 0
            if seat is None:
                self.places[who] = ModelPlace("o", channel, 0)
                return "over capacity"
            self.places[who] = ModelPlace("c", channel, seat)
            return f"seat {seat}" + (" raced" if raced else "")
        waitlist = self.mode == "waitlist"
        if channel == "native":
            room = self.native_left > 0 and not (waitlist and self.count("w") > 0)
        else:
            room = self.shared_left > 0
        if not room:
            if channel == "native" and kind == "confirm" and waitlist:
                self.places[who] = ModelPlace("w", channel, 0)
                return "waitlist"
            return "sold out"
        seat = self.lowest_free()
        assert seat is not None
        self.places[who] = ModelPlace("h" if kind == "hold" else "c", channel, seat)
        return f"{'held' if kind == 'hold' else 'seat'} {seat}"

    def release(self, who: str, states: str) -> str:
        p = self.places.get(who)
        if p is None:
            return "missing"
        if states and p.state not in states:
            return "mismatch"
        del self.places[who]
        return f"released {p.seat}"

    def confirm(self, who: str) -> str:
        p = self.places.get(who)
        if p is None:
            return "missing"
        if p.state != "h":
            return "mismatch"
        p.state = "c"
        return f"seat {p.seat}"

    def promote(self, who: str) -> str:
        p = self.places.get(who)
        if p is None:
            return "missing"
        if p.state != "w":
            return "mismatch"
        room = self.native_left > 0 if p.channel == "native" else self.shared_left > 0
        seat = self.lowest_free() if room else None
        if seat is None:
            return "full"
        p.state, p.seat = "c", seat
        return f"seat {seat}"

    def seat_over(self, who: str) -> str:
        p = self.places.get(who)
        if p is None:
            return "missing"
        if p.state != "o":
            return "mismatch"
        seat = self.lowest_free()
        if seat is None:
            return "full"
        p.state, p.seat = "c", seat
        return f"seat {seat}"

    def first_over(self) -> str | None:
        return next((w for w, p in self.places.items() if p.state == "o"), None)

    def configure(self, capacity: int, reserve: int, mode: str, renumber: bool) -> str:
        if not 0 <= reserve <= capacity:
            return "reserve_out_of_range"
        if capacity < self.n_int + self.n_ext:
            return "capacity_below_taken"
        beyond = sorted((p.seat, who) for who, p in self.places.items() if p.seat > capacity)
        if beyond and not renumber:
            return "seats_beyond_capacity"
        self.capacity = capacity
        for _, who in beyond:
            self.places[who].seat = 0
            seat = self.lowest_free()
            assert seat is not None
            self.places[who].seat = seat
        self.reserve, self.mode = reserve, mode
        return "ok"

    def snapshot(self) -> Snapshot:
        """What the ledger holds: everything but the holds, which live in Redis only."""
        entries = [
            SnapshotEntry(PlaceState(p.state), p.channel, p.seat, 1_700_000_000_000, (who,))
            for who, p in self.places.items()
            if p.state != "h"
        ]
        return Snapshot(
            InventorySettings(self.capacity, self.reserve, SoldOutMode(self.mode)), entries
        )


class InventoryMachine(RuleBasedStateMachine):
    redis_url = ""
    prefix = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = Redis.from_url(self.redis_url)
        self.inventory = Inventory(self.redis, self.prefix)
        self.event_id = uuid.uuid4()
        self.model = Model(0, 0, "sold_out")

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize(
        capacity=st.integers(0, 7),
        reserve_share=st.floats(0, 1),
        mode=st.sampled_from(["sold_out", "waitlist"]),
    )
    def start(self, capacity: int, reserve_share: float, mode: str) -> None:
        reserve = int(capacity * reserve_share)
        self.model = Model(capacity, reserve, mode)
        assert self.run(self.inventory.load(self.event_id, self.model.snapshot()))

    @rule(who=st.sampled_from(PEOPLE), channel=st.sampled_from(CHANNELS))
    def register(self, who: str, channel: str) -> None:
        got = describe(self.run(self.inventory.reserve(self.event_id, [who], channel)))
        assert got == self.model.take(who, channel, "confirm")

    @rule(who=st.sampled_from(PEOPLE), channel=st.sampled_from(CHANNELS))
    def hold(self, who: str, channel: str) -> None:
        got = describe(self.run(self.inventory.hold(self.event_id, [who], channel, ttl_s=600)))
        assert got == self.model.take(who, channel, "hold")

    @rule(who=st.sampled_from(PEOPLE), platform=st.sampled_from(PLATFORMS))
    def platform_race(self, who: str, platform: str) -> None:
        got = describe(self.run(self.inventory.admit_past_mirror(self.event_id, [who], platform)))
        assert got == self.model.take(who, platform, "race")

    @rule(who=st.sampled_from(PEOPLE))
    def cancel(self, who: str) -> None:
        got = describe(self.run(self.inventory.release(self.event_id, [who])))
        assert got == self.model.release(who, "")

    @rule(who=st.sampled_from(PEOPLE))
    def let_hold_go(self, who: str) -> None:
        result = self.run(self.inventory.release(self.event_id, [who], states=[PlaceState.HELD]))
        assert describe(result) == self.model.release(who, "h")

    @rule(who=st.sampled_from(PEOPLE))
    def confirm_hold(self, who: str) -> None:
        got = describe(self.run(self.inventory.confirm_hold(self.event_id, [who])))
        assert got == self.model.confirm(who)

    @rule(who=st.sampled_from(PEOPLE))
    def promote(self, who: str) -> None:
        got = describe(self.run(self.inventory.promote(self.event_id, [who])))
        assert got == self.model.promote(who)

    @rule(who=st.sampled_from(PEOPLE))
    def seat_over_capacity(self, who: str) -> None:
        got = describe(self.run(self.inventory.seat_over_capacity(self.event_id, [who])))
        assert got == self.model.seat_over(who)

    @rule()
    def over_capacity_then_cancellations(self) -> None:
        """Fill the event past its capacity through platform races, then free two seats: the
        freed seats go to the people over capacity, never to a newcomer."""
        racers = [w for w in PEOPLE if w not in self.model.places]
        for who in racers:
            if self.model.native_left <= -2:
                break
            self.platform_race(who, PLATFORMS[len(who) % len(PLATFORMS)])
        for who in [w for w, p in self.model.places.items() if p.state in "ch"][:2]:
            self.cancel(who)
        for who in [w for w in PEOPLE if w not in self.model.places][:1]:
            self.register(who, "native")
        while (first := self.model.first_over()) is not None:
            before = self.model.physically_free
            self.seat_over_capacity(first)
            if before == 0:
                break

    @rule(
        capacity=st.integers(0, 9),
        reserve=st.integers(0, 9),
        mode=st.sampled_from(["sold_out", "waitlist"]),
        renumber=st.booleans(),
    )
    def change_settings(self, capacity: int, reserve: int, mode: str, renumber: bool) -> None:
        new = InventorySettings(capacity, reserve, SoldOutMode(mode))
        try:
            self.run(self.inventory.configure(self.event_id, new, renumber=renumber))
            got = "ok"
        except InventoryError as exc:
            got = exc.code
        assert got == self.model.configure(capacity, reserve, mode, renumber)

    @rule()
    def redis_forgets_and_the_ledger_rebuilds(self) -> None:
        self.run(self.inventory.forget(self.event_id))
        for who in [w for w, p in self.model.places.items() if p.state == "h"]:
            del self.model.places[who]  # holds live in Redis only
        assert self.run(self.inventory.load(self.event_id, self.model.snapshot()))

    @rule()
    def reconcile_keeps_open_holds(self) -> None:
        snapshot = self.model.snapshot()
        assert self.run(self.inventory.load(self.event_id, snapshot, keep_recent_ms=0))

    @invariant()
    def redis_matches_the_model(self) -> None:
        if not self.run(self.inventory.is_loaded(self.event_id)):
            return
        state = self.run(self.inventory.dump(self.event_id))
        assert isinstance(state, InventoryState)
        m, c = self.model, state.counts
        assert (c.capacity, c.reserve, c.mode.value) == (m.capacity, m.reserve, m.mode)
        assert (c.native, c.external) == (m.n_int, m.n_ext)
        assert (c.held, c.waiting, c.over_capacity) == (m.count("h"), m.count("w"), m.count("o"))
        assert (c.native_left, c.shared_left) == (m.native_left, m.shared_left)
        places = {p.keys[0]: (p.state.value, p.channel, p.seat_no) for p in state.places}
        assert places == {w: (p.state, p.channel, p.seat) for w, p in m.places.items()}
        # The free list, the seats taken and the capacity tell one story.
        taken = {p.seat_no for p in state.places if p.seat_no}
        assert state.top <= c.capacity
        assert all(s <= state.top and s not in taken for s in state.free_listed)
        assert c.free == c.capacity - len(taken) == m.physically_free
        # The invariant: every place that holds or claims a seat is counted as taken, so the
        # seats offered never exceed the seats nobody holds or claims.
        claims = sum(1 for p in state.places if p.state.value in "cho")
        assert c.taken == claims
        assert c.native_left == c.capacity - claims

    def teardown(self) -> None:
        self.run(self.inventory.forget(self.event_id))
        self.run(self.redis.aclose())
        self.loop.close()


def test_inventory_follows_the_model(settings: Settings) -> None:
    InventoryMachine.redis_url = settings.redis_url or ""
    InventoryMachine.prefix = settings.redis_prefix
    run_state_machine_as_test(
        InventoryMachine,
        settings=hypothesis_settings(
            max_examples=100,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
