"""The door's other operations: scans it queued while offline, undos, and a queue of both.

Offline scans arrive later in batches; for those the earliest scan wins (by the time the
door saw the ticket), so when two doors admitted the same ticket while offline, the later
one is reported as the duplicate whichever door reconnected first.

Each operation runs in a transaction of its own on the connection it is given (outside any
transaction, see `door.scan`), and a retried one (its op id logged already) rolls back and
answers as the first time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from community.services.door.outcomes import Actor, CheckinInputError, Op, Result, ScanOutcome
from community.services.door.scan import (
    AlreadyLogged,
    Current,
    answer_retry,
    attendee,
    bad_ticket_detail,
    check_in_online,
    current,
    finish,
    record,
    refusal,
    target,
    utcnow,
)
from community.services.tickets.signatures import TicketSigner

# Offline scan times come from the door's clock: trust them within these bounds only.
MAX_OFFLINE_AGE = timedelta(days=2)
MAX_CLOCK_AHEAD = timedelta(minutes=5)


def offline_time(scanned_at: datetime | None, now: datetime) -> datetime:
    """The door's own time for an offline scan, kept within what its clock can be trusted for."""
    if scanned_at is None:
        return now
    if scanned_at.tzinfo is None:
        scanned_at = scanned_at.replace(tzinfo=UTC)
    if scanned_at > now + MAX_CLOCK_AHEAD or scanned_at < now - MAX_OFFLINE_AGE:
        return now
    return min(scanned_at, now)


async def check_in(
    conn: asyncpg.Connection,
    signer: TicketSigner,
    event_id: UUID,
    op: Op,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> ScanOutcome:
    """Check one registration in (by ticket token or by hand), online or from the door's
    offline queue, and log it."""
    now = now or utcnow()
    if not op.offline:
        return await check_in_online(conn, signer, event_id, op, actor, now=now)
    at = offline_time(op.scanned_at, now)
    found = target(signer, event_id, op)
    return await _once(conn, op, lambda: _check_in_offline(conn, event_id, found, op, actor, at))


async def undo(
    conn: asyncpg.Connection,
    event_id: UUID,
    op: Op,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> ScanOutcome:
    """Take a check-in back (the door admitted the wrong person, or tapped by mistake)."""
    now = now or utcnow()
    at = offline_time(op.scanned_at, now) if op.offline else now
    if op.registration_id is None:
        raise CheckinInputError("registration_id: say whose check-in to undo.")
    registration_id = op.registration_id
    return await _once(conn, op, lambda: _undo(conn, event_id, registration_id, op, actor, at))


async def apply_ops(
    conn: asyncpg.Connection,
    signer: TicketSigner,
    event_id: UUID,
    ops: Sequence[Op],
    actor: Actor,
    *,
    now: datetime | None = None,
) -> list[ScanOutcome]:
    """A door's queued operations, in the order it did them; each commits on its own."""
    outcomes = []
    for op in ops:
        if op.kind == "undo":
            outcomes.append(await undo(conn, event_id, op, actor, now=now))
        else:
            outcomes.append(await check_in(conn, signer, event_id, op, actor, now=now))
    return outcomes


async def _once(
    conn: asyncpg.Connection, op: Op, work: Callable[[], Awaitable[ScanOutcome]]
) -> ScanOutcome:
    """`work` in a transaction; for a retry, nothing it did, and the first answer."""
    try:
        async with conn.transaction():
            return await work()
    except AlreadyLogged:
        return await answer_retry(conn, op)


async def _check_in_offline(
    conn: asyncpg.Connection,
    event_id: UUID,
    found: UUID | Result,
    op: Op,
    actor: Actor,
    at: datetime,
) -> ScanOutcome:
    """First scan wins: an earlier offline scan takes the place of a later check-in."""
    if isinstance(found, Result):
        outcome = ScanOutcome(found, None, at, op.op_id)
        return await finish(
            conn, event_id, op, actor, outcome, stamp=utcnow(), detail=bad_ticket_detail(found)
        )
    locked = await conn.fetchrow(_LOCK, found)
    row = Current.of(locked) if locked is not None else None
    refused = refusal(row, event_id)
    if refused is not None or row is None:
        shown = attendee(row) if row is not None and refused is not Result.OTHER_EVENT else None
        outcome = ScanOutcome(refused or Result.UNKNOWN, shown, at, op.op_id)
        return await finish(conn, event_id, op, actor, outcome, stamp=utcnow())
    if row.checked_in_at is not None and row.checked_in_at <= at:
        outcome = ScanOutcome(Result.DUPLICATE, attendee(row), at, op.op_id)
        return await finish(conn, event_id, op, actor, outcome, stamp=utcnow())
    updated = await conn.fetchrow(_CHECK_IN, found, at, actor.device, actor.user_id, utcnow())
    assert updated is not None  # the row is locked
    superseded = None
    if row.checked_in_at is not None:
        superseded = (row.checked_in_at, row.checked_in_by)
        # The displaced check-in is logged too, so the organiser sees both doors' scans.
        await record(
            conn,
            event_id,
            op,
            Actor(user_id=None, device=row.checked_in_by),
            Result.SUPERSEDED,
            row.checked_in_at,
            registration_id=found,
            stamp=utcnow(),
            detail=f"an earlier offline scan on {actor.device} came first",
            with_op_id=False,
        )
    outcome = ScanOutcome(
        Result.OK, attendee(Current.of(updated)), at, op.op_id, superseded=superseded
    )
    detail = f"earlier than the check-in by {row.checked_in_by}" if superseded else ""
    return await finish(conn, event_id, op, actor, outcome, stamp=utcnow(), detail=detail)


async def _undo(
    conn: asyncpg.Connection,
    event_id: UUID,
    registration_id: UUID,
    op: Op,
    actor: Actor,
    at: datetime,
) -> ScanOutcome:
    undone = await conn.fetchrow(_UNDO, registration_id, event_id, utcnow())
    if undone is not None:
        outcome = ScanOutcome(Result.UNDONE, attendee(Current.of(undone)), at, op.op_id)
        return await finish(conn, event_id, op, actor, outcome, stamp=utcnow())
    row = await current(conn, registration_id)
    if refusal(row, event_id) is Result.OTHER_EVENT:
        row = None
    result = Result.UNKNOWN if row is None else Result.NOT_CHECKED_IN
    shown = attendee(row) if row is not None else None
    outcome = ScanOutcome(result, shown, at, op.op_id)
    return await finish(conn, event_id, op, actor, outcome, stamp=utcnow())


_LOCK = """
SELECT id, event_id, name, channel, status, checked_in_at, checked_in_by
  FROM registrations
 WHERE id = $1
   FOR UPDATE
"""
_CHECK_IN = """
UPDATE registrations
   SET checked_in_at = $2, checked_in_by = $3, checked_in_user_id = $4, updated_at = $5
 WHERE id = $1
RETURNING id, event_id, name, channel, status, checked_in_at, checked_in_by
"""
# By primary key whatever the statistics say (see scan.CLAIM_AND_LOG).
_UNDO = """
UPDATE registrations
   SET checked_in_at = NULL, checked_in_by = '', checked_in_user_id = NULL, updated_at = $3
 WHERE id = $1 AND (event_id = $2) IS TRUE AND checked_in_at IS NOT NULL
RETURNING id, event_id, name, channel, status, checked_in_at, checked_in_by
"""
