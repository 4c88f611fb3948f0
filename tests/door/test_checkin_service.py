"""The check-in service against real PostgreSQL: exactly once, logged, reconciled offline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from community.config import Settings
from community.demo.ledger_rows import add_people, add_person, make_event
from community.models import CheckinLog, Registration, RegistrationStatus
from community.services.door import ops as door_ops
from community.services.door import roster as door_roster
from community.services.door import scan as door_scan
from community.services.door.outcomes import Actor, CheckinInputError, Op, Result
from community.services.tickets.signatures import TicketSigner, ticket_signer
from tests.helpers.door import door_connection

DOOR_1 = Actor(user_id=None, device="Door 1")
DOOR_2 = Actor(user_id=None, device="Door 2")


@pytest.fixture
def signer(settings: Settings) -> TicketSigner:
    return ticket_signer(settings.secret_key)


async def _log(session: AsyncSession, event_id: UUID) -> list[CheckinLog]:
    rows = await session.execute(
        select(CheckinLog).where(CheckinLog.event_id == event_id).order_by(CheckinLog.created_at)
    )
    return list(rows.scalars())


async def test_first_scan_is_green_and_the_second_amber_with_when_and_where(
    db_session: AsyncSession, signer: TicketSigner
) -> None:
    event = await make_event(db_session)
    ada = await add_person(db_session, event, "Ada Lovelace", channel="meetup")
    token = signer.sign(event.id, ada.registration_id)

    first = await door_ops.check_in(
        await door_connection(db_session), signer, event.id, Op(token=token), DOOR_1
    )
    assert first.result is Result.OK and first.tone == "green"
    assert first.attendee is not None
    assert (first.attendee.name, first.attendee.channel) == ("Ada Lovelace", "meetup")

    second = await door_ops.check_in(
        await door_connection(db_session), signer, event.id, Op(token=token), DOOR_2
    )
    assert second.result is Result.DUPLICATE and second.tone == "amber"
    assert second.attendee is not None and second.attendee.checked_in_by == "Door 1"
    assert second.attendee.checked_in_at == first.scanned_at
    assert "by Door 1" in second.message

    log = await _log(db_session, event.id)
    assert [(entry.result, entry.device) for entry in log] == [
        ("ok", "Door 1"),
        ("duplicate", "Door 2"),
    ]
    assert all(entry.registration_id == ada.registration_id for entry in log)


async def test_bad_tickets_are_told_apart_and_logged(
    db_session: AsyncSession, signer: TicketSigner
) -> None:
    event = await make_event(db_session)
    other = await make_event(db_session, title="Another night")
    ada = await add_person(db_session, event, "Ada Lovelace")
    cancelled = await add_person(db_session, event, "Cy Cancel", status="cancelled")
    waiting = await add_person(db_session, event, "Wes Wait", status="waitlisted")
    genuine = signer.sign(event.id, ada.registration_id)
    altered = genuine[:40] + ("A" if genuine[40] != "A" else "B") + genuine[41:]
    cases = {
        "not a ticket at all": Result.MALFORMED,
        TicketSigner("another installation " * 3).sign(event.id, ada.registration_id): (
            Result.FORGED
        ),
        altered: Result.ALTERED,
        signer.sign(other.id, ada.registration_id): Result.OTHER_EVENT,
        signer.sign(event.id, cancelled.registration_id): Result.CANCELLED,
        signer.sign(event.id, waiting.registration_id): Result.WAITLISTED,
        signer.sign(event.id, uuid4()): Result.UNKNOWN,
    }
    for token, expected in cases.items():
        outcome = await door_ops.check_in(
            await door_connection(db_session), signer, event.id, Op(token=token), DOOR_1
        )
        assert outcome.result is expected, token
        assert outcome.tone == "red"

    log = await _log(db_session, event.id)
    assert [entry.result for entry in log] == [result.value for result in cases.values()]
    registration = await db_session.get(Registration, ada.registration_id)
    assert registration is not None and registration.checked_in_at is None


async def test_manual_check_in_by_registration_and_its_undo(
    db_session: AsyncSession, signer: TicketSigner
) -> None:
    event = await make_event(db_session)
    other = await make_event(db_session)
    bo = await add_person(db_session, event, "Bo Platform", channel="eventbrite")
    stranger = await add_person(db_session, other, "Stranger")

    done = await door_ops.check_in(
        await door_connection(db_session),
        signer,
        event.id,
        Op(registration_id=bo.registration_id),
        DOOR_1,
    )
    assert done.result is Result.OK
    wrong = await door_ops.check_in(
        await door_connection(db_session),
        signer,
        event.id,
        Op(registration_id=stranger.registration_id),
        DOOR_1,
    )
    assert wrong.result is Result.OTHER_EVENT and wrong.attendee is None

    undone = await door_ops.undo(
        await door_connection(db_session),
        event.id,
        Op(kind="undo", registration_id=bo.registration_id),
        DOOR_1,
    )
    assert undone.result is Result.UNDONE and undone.attendee is not None
    assert undone.attendee.checked_in_at is None
    again = await door_ops.undo(
        await door_connection(db_session),
        event.id,
        Op(kind="undo", registration_id=bo.registration_id),
        DOOR_1,
    )
    assert again.result is Result.NOT_CHECKED_IN
    redo = await door_ops.check_in(
        await door_connection(db_session),
        signer,
        event.id,
        Op(registration_id=bo.registration_id),
        DOOR_2,
    )
    assert redo.result is Result.OK
    assert [e.result for e in await _log(db_session, event.id)] == [
        "ok",
        "other_event",
        "undone",
        "not_checked_in",
        "ok",
    ]
    with pytest.raises(CheckinInputError):
        await door_ops.check_in(await door_connection(db_session), signer, event.id, Op(), DOOR_1)


async def test_a_retried_operation_is_applied_once(
    db_session: AsyncSession, signer: TicketSigner
) -> None:
    event = await make_event(db_session)
    ada = await add_person(db_session, event, "Ada Lovelace")
    event_id = event.id  # a replay rolls the session back, which expires loaded objects
    op = Op(token=signer.sign(event_id, ada.registration_id), op_id=uuid4())

    first = await door_ops.check_in(await door_connection(db_session), signer, event_id, op, DOOR_1)
    retry = await door_ops.check_in(await door_connection(db_session), signer, event_id, op, DOOR_1)
    assert first.result is retry.result is Result.OK
    assert retry.replayed and not first.replayed
    # Even after an undo, the retried scan is not a new check-in.
    await door_ops.undo(
        await door_connection(db_session),
        event_id,
        Op(kind="undo", registration_id=ada.registration_id),
        DOOR_1,
    )
    late_retry = await door_ops.check_in(
        await door_connection(db_session), signer, event_id, op, DOOR_1
    )
    assert late_retry.result is Result.OK and late_retry.replayed
    registration = await db_session.get(Registration, ada.registration_id, populate_existing=True)
    assert registration is not None and registration.checked_in_at is None
    assert [e.result for e in await _log(db_session, event_id)] == ["ok", "undone"]


async def test_a_retried_offline_operation_leaves_nothing_of_its_second_run(
    db_session: AsyncSession, signer: TicketSigner
) -> None:
    event = await make_event(db_session)
    ada = await add_person(db_session, event, "Ada Lovelace")
    event_id = event.id
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    scan = Op(registration_id=ada.registration_id, op_id=uuid4(), scanned_at=earlier, offline=True)
    undo = Op(kind="undo", registration_id=ada.registration_id, op_id=uuid4())

    (first,) = await door_ops.apply_ops(
        await door_connection(db_session), signer, event_id, [scan], DOOR_1
    )
    assert first.result is Result.OK and not first.replayed
    undone = await door_ops.undo(await door_connection(db_session), event_id, undo, DOOR_1)
    assert undone.result is Result.UNDONE
    # The offline scan again: its second run checks Ada in, finds its op id logged and takes
    # the check-in back; the undo again does not undo the check-in of another door.
    (retry,) = await door_ops.apply_ops(
        await door_connection(db_session), signer, event_id, [scan], DOOR_2
    )
    assert retry.result is Result.OK and retry.replayed
    assert retry.attendee is not None and retry.attendee.checked_in_at is None
    await door_ops.check_in(
        await door_connection(db_session),
        signer,
        event_id,
        Op(registration_id=ada.registration_id),
        DOOR_2,
    )
    undo_retry = await door_ops.undo(await door_connection(db_session), event_id, undo, DOOR_1)
    assert undo_retry.result is Result.UNDONE and undo_retry.replayed

    registration = await db_session.get(Registration, ada.registration_id, populate_existing=True)
    assert registration is not None and registration.checked_in_by == "Door 2"
    log = [(e.result, e.device, e.offline) for e in await _log(db_session, event_id)]
    assert log == [("ok", "Door 1", True), ("undone", "Door 1", False), ("ok", "Door 2", False)]


async def test_offline_doors_are_reconciled_first_scan_wins(
    db_session: AsyncSession, signer: TicketSigner
) -> None:
    event = await make_event(db_session)
    ada = await add_person(db_session, event, "Ada Lovelace")
    token = signer.sign(event.id, ada.registration_id)
    now = datetime.now(UTC)
    early, late, later = now - timedelta(minutes=9), now - timedelta(minutes=6), now

    # Door 2 reconnects first with its 6-minutes-ago scan...
    (door2,) = await door_ops.apply_ops(
        await door_connection(db_session),
        signer,
        event.id,
        [Op(token=token, scanned_at=late, offline=True)],
        DOOR_2,
    )
    assert door2.result is Result.OK
    # ...then Door 1 syncs a scan from 9 minutes ago: it came first, so it holds the check-in.
    (door1,) = await door_ops.apply_ops(
        await door_connection(db_session),
        signer,
        event.id,
        [Op(token=token, scanned_at=early, offline=True)],
        DOOR_1,
    )
    assert door1.result is Result.OK
    assert door1.superseded == (late, "Door 2")
    # A third, later scan is a duplicate of the first one.
    (door3,) = await door_ops.apply_ops(
        await door_connection(db_session),
        signer,
        event.id,
        [Op(token=token, scanned_at=later, offline=True)],
        Actor(None, "Door 3"),
    )
    assert door3.result is Result.DUPLICATE
    assert door3.attendee is not None
    assert (door3.attendee.checked_in_at, door3.attendee.checked_in_by) == (early, "Door 1")

    registration = await db_session.get(Registration, ada.registration_id, populate_existing=True)
    assert registration is not None
    assert (registration.checked_in_at, registration.checked_in_by) == (early, "Door 1")
    log = [(e.result, e.device, e.offline) for e in await _log(db_session, event.id)]
    assert log == [
        ("ok", "Door 2", True),
        ("superseded", "Door 2", True),
        ("ok", "Door 1", True),
        ("duplicate", "Door 3", True),
    ]


async def test_offline_times_from_a_wrong_clock_are_not_trusted(
    db_session: AsyncSession, signer: TicketSigner
) -> None:
    event = await make_event(db_session)
    people = await add_people(db_session, event, ["Ahead Clock", "Stale Clock"])
    now = datetime.now(UTC)
    ops = [
        Op(
            registration_id=people[0].registration_id,
            scanned_at=now + timedelta(hours=3),
            offline=True,
        ),
        Op(
            registration_id=people[1].registration_id,
            scanned_at=datetime(2019, 1, 1, tzinfo=UTC),
            offline=True,
        ),
    ]
    outcomes = await door_ops.apply_ops(
        await door_connection(db_session), signer, event.id, ops, DOOR_1, now=now
    )
    assert [o.scanned_at for o in outcomes] == [now, now]


async def test_fifty_simultaneous_check_ins_of_one_ticket_give_exactly_one_success(
    base_settings: Settings, db_session: AsyncSession, signer: TicketSigner
) -> None:
    event = await make_event(db_session)
    ada = await add_person(db_session, event, "Ada Lovelace")
    token = signer.sign(event.id, ada.registration_id)
    # A pool as wide as the crowd, so all fifty transactions really run at once.
    engine = create_async_engine(base_settings.database_url or "", pool_size=50, max_overflow=0)
    makers = async_sessionmaker(engine, expire_on_commit=False)
    sessions = [makers() for _ in range(50)]
    try:
        for session in sessions:  # open every connection before the start signal
            await session.connection()
        start = asyncio.Event()

        async def scan(index: int, session: AsyncSession) -> Result:
            await start.wait()
            outcome = await door_ops.check_in(
                await door_connection(session),
                signer,
                event.id,
                Op(token=token),
                Actor(None, f"Door {index}"),
            )
            return outcome.result

        tasks = [asyncio.create_task(scan(i, s)) for i, s in enumerate(sessions)]
        await asyncio.sleep(0.05)
        start.set()
        results = await asyncio.gather(*tasks)
    finally:
        for session in sessions:
            await session.close()
        await engine.dispose()

    assert results.count(Result.OK) == 1
    assert results.count(Result.DUPLICATE) == 49
    log = await _log(db_session, event.id)
    assert len(log) == 50 and sum(e.result == "ok" for e in log) == 1
    winner = next(e.device for e in log if e.result == "ok")
    registration = await db_session.get(Registration, ada.registration_id, populate_existing=True)
    assert registration is not None and registration.checked_in_by == winner


async def test_counts_roster_and_changes_since(
    db_session: AsyncSession, signer: TicketSigner
) -> None:
    event = await make_event(db_session)
    people = await add_people(db_session, event, ["Ann One", "Ben Two", "Cat Three"])
    await add_person(db_session, event, "Dee Gone", status=RegistrationStatus.CANCELLED)
    assert await door_roster.counts(db_session, event.id) == door_roster.CheckinCounts(0, 3)

    full = await door_roster.roster(db_session, event.id)
    assert full.full and len(full.entries) == 4
    assert {e.status for e in full.entries} == {"confirmed", "cancelled"}

    await asyncio.sleep(0.01)
    mark = datetime.now(UTC)
    await door_ops.check_in(
        await door_connection(db_session),
        signer,
        event.id,
        Op(registration_id=people[1].registration_id),
        DOOR_1,
    )
    changed = await door_roster.roster(db_session, event.id, since=mark)
    assert not changed.full
    assert [(e.name, e.checked_in_by) for e in changed.entries] == [("Ben Two", "Door 1")]
    assert changed.counts == door_roster.CheckinCounts(1, 3)


async def test_search_by_name_or_email(db_session: AsyncSession) -> None:
    event = await make_event(db_session)
    other = await make_event(db_session)
    people = await add_people(db_session, event, ["Grace Hopper", "Grace Kelly", "Alan Turing"])
    await add_people(db_session, other, ["Grace Elsewhere"])

    names = [p.name for p in await door_roster.search(db_session, event.id, "grace")]
    assert names == ["Grace Hopper", "Grace Kelly"]
    assert [p.name for p in await door_roster.search(db_session, event.id, "hopper grace")] == [
        "Grace Hopper"
    ]
    by_email = await door_roster.search(db_session, event.id, people[2].email.upper())
    assert [p.name for p in by_email] == ["Alan Turing"]
    assert await door_roster.search(db_session, event.id, "%_%") == []
    with pytest.raises(CheckinInputError):
        await door_roster.search(db_session, event.id, " a ")


@pytest.mark.parametrize("device", ["", "   ", "x" * 61])
def test_device_names_are_checked(device: str) -> None:
    with pytest.raises(CheckinInputError):
        Actor.parse(None, device)
    assert Actor.parse(None, " Door\t2 ").device == "Door 2"


async def test_the_claim_reads_one_row_by_its_primary_key(db_session: AsyncSession) -> None:
    """Whatever the statistics say: with none yet (a roster just imported), PostgreSQL used to
    pick an index on event_id and read the whole event's registrations at every scan."""
    event = await make_event(db_session)
    await add_people(db_session, event, [f"Guest {n}" for n in range(50)])
    connection = await db_session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    args = (uuid4(), event.id, datetime.now(UTC), "Door 1", None, uuid4(), None)
    plan = [row[0] for row in await raw.fetch("EXPLAIN " + door_scan.CLAIM_AND_LOG, *args)]
    scans = [line.strip() for line in plan if "Scan using" in line]
    assert scans and all("using pk_registrations on registrations" in line for line in scans), plan
    await db_session.rollback()
