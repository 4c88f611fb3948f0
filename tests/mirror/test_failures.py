"""What pushes do when platforms fail: retry 5xx with backoff, wait out 429, stop on auth,
and tell the organiser about a refused limit (then heal it by pulling). All recorded."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select

from community.models import Listing, PlatformAccount, Role, SyncLog, User
from community.sandbox.shapes import Person
from community.services.jobs import enqueue_push
from community.services.mirror.coalescing import Coalescer
from community.services.mirror.token_crypto import encrypt
from tests.helpers.mirror import MakeEvent, MirroredEvent, MirrorRig, eventually


async def log_of(rig: MirrorRig, event: MirroredEvent, platform: str) -> list[SyncLog]:
    async with rig.session_maker() as session:
        rows = await session.scalars(
            select(SyncLog)
            .where(SyncLog.event_id == event.id, SyncLog.platform == platform)
            .order_by(SyncLog.created_at, SyncLog.id)
        )
        return list(rows)


async def listing(rig: MirrorRig, event: MirroredEvent, platform: str) -> Listing:
    async with rig.session_maker() as session:
        row = await session.get(Listing, event.listings[platform].id)
        assert row is not None
        return row


async def push(rig: MirrorRig, event: MirroredEvent, platform: str) -> None:
    await enqueue_push(rig.settings, rig.redis, rig.queues, event.listings[platform].id)


async def settled(rig: MirrorRig, event: MirroredEvent, platform: str) -> bool:
    coalescer = Coalescer(rig.redis, rig.settings.redis_prefix, "push")
    progress = await coalescer.progress(event.listings[platform].id)
    if progress.pending or progress.runner_active:
        return False
    job = await rig.queues["default"].job(f"push:{event.listings[platform].id}")
    return job is None or job.status in ("complete", "failed")


async def test_server_errors_are_retried_with_backoff_and_recorded(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=10, reserve=0)
    response = await rig.control("luma", "/_sandbox/faults", {"kind": "5xx", "count": 2})
    assert response.status_code == 200
    await push(rig, event, "luma")
    await eventually(lambda: rig.state("luma", event.external("luma"))["limit"] == 10, within=15)
    await eventually(lambda: settled(rig, event, "luma"))

    outcomes = [(e.direction, e.outcome) for e in await log_of(rig, event, "luma")]
    assert outcomes == [("push", "transient"), ("push", "transient"), ("push", "ok")]
    transient = (await log_of(rig, event, "luma"))[0]
    assert "server error (503)" in transient.detail
    row = await listing(rig, event, "luma")
    assert (row.sync_state, row.last_error, row.last_pushed_limit) == ("in_step", "", 10)


async def test_rate_limits_are_waited_out_as_the_platform_asks(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=10, reserve=0)
    # Three calls per two seconds: one Luma push (update, read back, guest list) fits exactly.
    response = await rig.control("luma", "/_sandbox/rate", {"limit": 3, "window_s": 2})
    assert response.status_code == 200
    await push(rig, event, "luma")
    await eventually(lambda: rig.state("luma", event.external("luma"))["limit"] == 10)

    await rig.registrations.register(event.id, name="Native", email="native@example.org")
    await eventually(lambda: rig.state("luma", event.external("luma"))["limit"] == 9, within=15)
    await eventually(lambda: settled(rig, event, "luma"))

    entries = await log_of(rig, event, "luma")
    limited = [e for e in entries if e.outcome == "rate_limited"]
    assert limited, [(e.outcome, e.detail) for e in entries]
    assert "Trying again in" in limited[0].detail
    assert entries[-1].outcome == "ok"
    assert any(c["status"] == 429 for c in rig.calls("luma"))
    assert (await listing(rig, event, "luma")).sync_state == "in_step"


async def test_refused_credentials_stop_and_tell_the_organiser(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event()
    async with rig.session_maker() as session:
        owner = User(
            email=f"owner-{secrets.token_hex(4)}@example.org",
            name="Owner",
            role=Role.OWNER,
            password_hash="-",
        )
        session.add(owner)
        await session.flush()
        account = PlatformAccount(
            user_id=owner.id,
            platform="luma",
            display_name="Our calendar",
            api_key_enc=encrypt(rig.settings.secret_key, "revoked-" + uuid.uuid4().hex),
        )
        session.add(account)
        await session.flush()
        row = await session.get(Listing, event.listings["luma"].id)
        assert row is not None
        row.account_id = account.id
        await session.commit()

    await push(rig, event, "luma")
    await eventually(lambda: settled(rig, event, "luma"))

    row = await listing(rig, event, "luma")
    assert row.sync_state == "error"
    assert "refused" in row.last_error
    assert [e.outcome for e in await log_of(rig, event, "luma")] == ["auth"]  # no retries
    async with rig.session_maker() as session:
        stored = await session.get(PlatformAccount, account.id)
        assert stored is not None and "refused" in stored.last_error
    assert rig.state("luma", event.external("luma"))["limit"] is None


async def test_a_limit_below_what_a_platform_sold_is_clamped_then_healed_by_pulling(
    rig: MirrorRig, make_event: MakeEvent
) -> None:
    event = await make_event(capacity=4, reserve=0, platform_waitlist=False)
    # Eventbrite sold three tickets we have not pulled yet; two seats go on our page.
    for i in range(3):
        sandbox = rig.sandboxes["eventbrite"].sandbox
        sandbox.add_registration(
            event.external("eventbrite"), Person(f"Buyer {i}", f"b{i}@example.org")
        )
    for i in range(2):
        await rig.registrations.register(event.id, name=f"Native {i}", email=f"n{i}@example.org")

    # 0 known + 2 shared seats = 2, below the 3 Eventbrite sold, which it would refuse: the
    # push recounts there and asks for 3 instead, then the pull brings the buyers in.
    async def healed() -> bool:
        row = await listing(rig, event, "eventbrite")
        return row.platform_count == 3 and row.sync_state == "in_step"

    await eventually(healed, within=15)
    outcomes = [(e.direction, e.outcome) for e in await log_of(rig, event, "eventbrite")]
    assert ("push", "rejected") not in outcomes
    assert ("pull", "ok") in outcomes
    # All four seats are taken (one Eventbrite buyer past the mirror): Eventbrite shows sold out.
    await eventually(lambda: not rig.state("eventbrite", event.external("eventbrite"))["open"])
    counts = await rig.registrations.counts(event.id)
    assert counts.over_capacity == 1
