"""Scanning a ticket (or checking someone in by hand) on a raw connection: each registration
is checked in exactly once, and every scan is logged.

Online, a check-in is one conditional UPDATE (`... WHERE checked_in_at IS NULL RETURNING`):
PostgreSQL's row lock makes concurrent scans of one ticket queue up, and every one after the
first finds the row already checked in. Offline scans and undos (`door.ops`) use the same
statements for what they share: reading a registration, logging an outcome, answering a
retry.

Each operation may carry the door's `op_id`; a retried operation is applied once and answers
with its first result (the unique index on checkin_log.op_id decides).

The statements skip SQLAlchemy (its session and statement layers cost more CPU than
PostgreSQL spends on them): give them a connection outside any transaction, from
`community.db.driver_connection` or `community.db.session_driver`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from uuid_utils.compat import uuid7

from community.models import RegistrationStatus
from community.services.door.outcomes import (
    Actor,
    Attendee,
    CheckinInputError,
    Op,
    Result,
    ScanOutcome,
)
from community.services.tickets.signatures import TicketError, TicketSigner

CLAIM_ATTEMPTS = 20


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Current:
    """A registration as a statement read it (what `refusal` and `attendee` look at)."""

    id: UUID
    event_id: UUID
    name: str
    channel: str
    status: str
    checked_in_at: datetime | None
    checked_in_by: str

    @classmethod
    def of(cls, record: asyncpg.Record) -> Current:
        return cls(
            record["id"],
            record["event_id"],
            record["name"],
            record["channel"],
            record["status"],
            record["checked_in_at"],
            record["checked_in_by"],
        )


def attendee(row: Current) -> Attendee:
    return Attendee(
        id=row.id,
        name=row.name,
        channel=row.channel,
        status=row.status,
        checked_in_at=row.checked_in_at,
        checked_in_by=row.checked_in_by,
    )


def refusal(row: Current | None, event_id: UUID) -> Result | None:
    """Why this registration cannot be checked in at all, if it cannot."""
    if row is None or row.event_id != event_id:
        return Result.UNKNOWN if row is None else Result.OTHER_EVENT
    if row.status == RegistrationStatus.CANCELLED:
        return Result.CANCELLED
    if row.status == RegistrationStatus.WAITLISTED:
        return Result.WAITLISTED
    return None


def target(signer: TicketSigner, event_id: UUID, op: Op) -> UUID | Result:
    """The registration an operation names (by its ticket or by hand), or why there is none."""
    if op.token is not None:
        try:
            return signer.verify_for_event(op.token, event_id).registration_id
        except TicketError as exc:
            return Result(exc.reason)
    if op.registration_id is None:
        raise CheckinInputError("Send either the scanned token or a registration_id.")
    return op.registration_id


def bad_ticket_detail(result: Result) -> str:
    return "token of another event" if result is Result.OTHER_EVENT else ""


async def current(conn: asyncpg.Connection, registration_id: UUID) -> Current | None:
    found = await conn.fetchrow(_CURRENT, registration_id)
    return Current.of(found) if found is not None else None


class AlreadyLogged(Exception):
    """This op id is in the log already: the operation is a retry (see `answer_retry`)."""


async def record(
    conn: asyncpg.Connection,
    event_id: UUID,
    op: Op,
    actor: Actor,
    result: Result,
    at: datetime,
    *,
    registration_id: UUID | None,
    stamp: datetime,
    detail: str = "",
    with_op_id: bool = True,
) -> bool:
    """Log an outcome (`stamp`: the row's created_at); False when this op id was logged
    already (a retry)."""
    logged = await conn.fetchval(
        _LOG,
        uuid7(),
        event_id,
        registration_id,
        actor.user_id,
        actor.device,
        result.value,
        detail[:300],
        at,
        op.offline,
        op.op_id if with_op_id else None,
        stamp,
    )
    return logged is not None


async def finish(
    conn: asyncpg.Connection,
    event_id: UUID,
    op: Op,
    actor: Actor,
    outcome: ScanOutcome,
    *,
    stamp: datetime,
    detail: str = "",
) -> ScanOutcome:
    """Log the outcome and return it; raises AlreadyLogged for a retry."""
    registration_id = outcome.attendee.id if outcome.attendee else None
    if outcome.result is Result.OTHER_EVENT:
        registration_id = None  # another event's registration is not this event's business
    recorded = await record(
        conn,
        event_id,
        op,
        actor,
        outcome.result,
        outcome.scanned_at,
        registration_id=registration_id,
        stamp=stamp,
        detail=detail,
    )
    if not recorded:
        raise AlreadyLogged()
    return outcome


async def answer_retry(conn: asyncpg.Connection, op: Op) -> ScanOutcome:
    """The first answer given to a retried operation, with the registration as it is now."""
    assert op.op_id is not None  # only an operation with an op id can be a retry
    found = await conn.fetchrow(_REPLAY, op.op_id)
    assert found is not None  # called for an op the log already holds
    row = Current.of(found) if found["id"] is not None else None
    return ScanOutcome(
        result=Result(found["result"]),
        attendee=attendee(row) if row else None,
        scanned_at=found["scanned_at"],
        op_id=op.op_id,
        replayed=True,
    )


async def check_in_online(
    conn: asyncpg.Connection,
    signer: TicketSigner,
    event_id: UUID,
    op: Op,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> ScanOutcome:
    """A check-in the door asks for now, on a connection outside any transaction.

    A first scan is one statement (claim and log); any other outcome is that statement, which
    then returns the registration as it is, and the statement that logs the outcome.
    """
    try:
        return await _check_in_online(conn, signer, event_id, op, actor, now or utcnow())
    except AlreadyLogged:
        return await answer_retry(conn, op)  # this op went through before: a retry


async def _check_in_online(
    conn: asyncpg.Connection,
    signer: TicketSigner,
    event_id: UUID,
    op: Op,
    actor: Actor,
    at: datetime,
) -> ScanOutcome:
    found_target = target(signer, event_id, op)
    if isinstance(found_target, Result):
        outcome = ScanOutcome(found_target, None, at, op.op_id)
        detail = bad_ticket_detail(found_target)
        return await finish(conn, event_id, op, actor, outcome, stamp=at, detail=detail)
    for _ in range(CLAIM_ATTEMPTS):
        args = (found_target, event_id, at, actor.device, actor.user_id, uuid7(), op.op_id)
        try:
            found = await conn.fetchrow(CLAIM_AND_LOG, *args)
        except asyncpg.UniqueViolationError as exc:
            if op.op_id is None or exc.constraint_name != "uq_checkin_log_op":
                raise
            raise AlreadyLogged() from None
        row = Current.of(found) if found is not None else None
        if found is not None and found["claimed"]:
            assert row is not None
            return ScanOutcome(Result.OK, attendee(row), at, op.op_id)
        result = refusal(row, event_id) or Result.DUPLICATE
        if result is Result.DUPLICATE and row is not None and row.checked_in_at is None:
            # Undone since, or checked in by a scan this statement could not see yet: again.
            continue
        shown = attendee(row) if row is not None and result is not Result.OTHER_EVENT else None
        outcome = ScanOutcome(result, shown, at, op.op_id)
        return await finish(conn, event_id, op, actor, outcome, stamp=at)
    # Only a registration checked in and undone over and over while we ask gets here; the door
    # takes the error like an unreachable server (it decides on its own and sends it later).
    raise RuntimeError("the registration kept changing while it was being checked in")


# The usual case, a first scan, in one round trip: claim the registration if it is confirmed
# and not checked in yet, and log the check-in in the same statement. Anything else (already
# in, cancelled, unknown...) finds no row to claim and returns the registration as it is, to
# be sorted out in Python. (That read sees the rows as they were when the statement began:
# a concurrent first scan it waited for shows as "not checked in", and the caller asks again.)
# `(event_id = $2) IS TRUE` is `event_id = $2` that no index can serve: the row is found by its
# primary key whatever the statistics say. Right after a roster was imported, before
# PostgreSQL had analysed the table, it chose an index on event_id and read every
# registration of the event, at each scan (five times the CPU of the whole statement).
CLAIM_AND_LOG = """
WITH claimed AS (
    UPDATE registrations
       SET checked_in_at = $3, checked_in_by = $4, checked_in_user_id = $5, updated_at = $3
     WHERE id = $1 AND (event_id = $2) IS TRUE AND status = 'confirmed' AND checked_in_at IS NULL
 RETURNING id, event_id, name, channel, status, checked_in_at, checked_in_by
), logged AS (
    INSERT INTO checkin_log (id, event_id, registration_id, user_id, device, result, detail,
                             scanned_at, offline, op_id, created_at, updated_at)
    SELECT $6, $2, id, $5, $4, 'ok', '', $3, false, $7, $3, $3 FROM claimed
)
SELECT true AS claimed, * FROM claimed
UNION ALL
SELECT false, id, event_id, name, channel, status, checked_in_at, checked_in_by
  FROM registrations
 WHERE id = $1 AND NOT EXISTS (SELECT FROM claimed)
"""
_CURRENT = """
SELECT id, event_id, name, channel, status, checked_in_at, checked_in_by
  FROM registrations
 WHERE id = $1
"""
_LOG = """
INSERT INTO checkin_log (id, event_id, registration_id, user_id, device, result, detail,
                         scanned_at, offline, op_id, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
ON CONFLICT (op_id) WHERE op_id IS NOT NULL DO NOTHING
RETURNING id
"""
_REPLAY = """
SELECT l.result, l.scanned_at, r.id, r.event_id, r.name, r.channel, r.status,
       r.checked_in_at, r.checked_in_by
  FROM checkin_log l LEFT JOIN registrations r ON r.id = l.registration_id
 WHERE l.op_id = $1
"""
