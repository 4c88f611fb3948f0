"""Door check-in: each registration is checked in exactly once, and every scan is logged.

Online, a check-in is one conditional UPDATE (`... WHERE checked_in_at IS NULL RETURNING`):
PostgreSQL's row lock makes concurrent scans of one ticket queue up, and every one after the
first finds the row already checked in. Offline scans arrive later in batches; for those
the earliest scan wins (by the time the door saw the ticket), so when two doors admitted
the same ticket while offline, the later one is reported as the duplicate whichever door
reconnected first.

Each operation may carry the door's `op_id`; a retried operation is applied once and answers
with its first result (the unique index on checkin_log.op_id decides).

Every operation commits (or, for a retry, rolls back) the session it is given: use a session
of its own, and do not read ORM objects loaded before it afterwards.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

import asyncpg
from sqlalchemy import Row, Select, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import aliased
from uuid_utils.compat import uuid7

from community.db import driver_connection
from community.models import (
    Channel,
    CheckinLog,
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
    Role,
)
from community.services.access import scope as access
from community.services.access.scope import Who
from community.services.tickets.signatures import TicketError, TicketSigner

log = logging.getLogger("community.checkin")

# Offline scan times come from the door's clock: trust them within these bounds only.
MAX_OFFLINE_AGE = timedelta(days=2)
MAX_CLOCK_AHEAD = timedelta(minutes=5)
MAX_DEVICE_LENGTH = 60
SEARCH_LIMIT = 20


class Result(StrEnum):
    OK = "ok"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"
    WAITLISTED = "waitlisted"
    UNKNOWN = "unknown"
    OTHER_EVENT = "other_event"
    MALFORMED = "malformed"
    FORGED = "forged"
    ALTERED = "altered"
    UNDONE = "undone"
    NOT_CHECKED_IN = "not_checked_in"
    SUPERSEDED = "superseded"  # log only: an earlier offline scan took this check-in's place


Tone = Literal["green", "amber", "red"]
TONES: dict[Result, Tone] = {
    Result.OK: "green",
    Result.UNDONE: "green",
    Result.DUPLICATE: "amber",
    Result.NOT_CHECKED_IN: "amber",
}
MESSAGES: dict[Result, str] = {
    Result.OK: "Checked in.",
    Result.DUPLICATE: "Already checked in.",
    Result.CANCELLED: "This registration was cancelled.",
    Result.WAITLISTED: "On the waitlist: no seat was confirmed.",
    Result.UNKNOWN: "No registration matches this ticket.",
    Result.UNDONE: "Check-in undone.",
    Result.NOT_CHECKED_IN: "Not checked in, nothing to undo.",
    **{Result(reason): text for reason, text in TicketError.MESSAGES.items()},
}


class CheckinInputError(ValueError):
    """Input a door sent that cannot be acted on; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Attendee:
    id: UUID
    name: str
    channel: str
    status: str
    checked_in_at: datetime | None
    checked_in_by: str


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    result: Result
    attendee: Attendee | None
    scanned_at: datetime
    op_id: UUID | None = None
    replayed: bool = False
    # Offline reconciliation: the later check-in this one took the place of.
    superseded: tuple[datetime, str] | None = None

    @property
    def tone(self) -> Tone:
        return TONES.get(self.result, "red")

    @property
    def message(self) -> str:
        if self.result is Result.DUPLICATE and self.attendee and self.attendee.checked_in_at:
            by = f" by {self.attendee.checked_in_by}" if self.attendee.checked_in_by else ""
            return f"Already checked in at {self.attendee.checked_in_at:%H:%M} UTC{by}."
        return MESSAGES[self.result]


@dataclass(frozen=True, slots=True)
class Op:
    """One thing a door did: scan a ticket, check someone in by hand, or undo a check-in."""

    kind: Literal["checkin", "undo"] = "checkin"
    token: str | None = None
    registration_id: UUID | None = None
    op_id: UUID | None = None
    scanned_at: datetime | None = None  # when the door did it; used for offline operations
    offline: bool = False


@dataclass(frozen=True, slots=True)
class CheckinCounts:
    checked_in: int
    expected: int


@dataclass(frozen=True, slots=True)
class RosterEntry:
    id: UUID
    name: str
    email: str | None
    channel: str
    status: str
    checked_in_at: datetime | None
    checked_in_by: str
    guests: int = 0  # guests they bring: they come in with them


@dataclass(frozen=True, slots=True)
class Roster:
    generated_at: datetime
    entries: list[RosterEntry]
    counts: CheckinCounts
    full: bool


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in user allowed at the door, as read for one request."""

    id: UUID
    name: str
    role: str
    session_version: int = 0


async def active_user(conn: asyncpg.Connection, user_id: UUID) -> Staff | None:
    """The user behind a session or door token, if the account is still active."""
    row = await conn.fetchrow(_ACTIVE_USER, user_id)
    if row is None:
        return None
    return Staff(row["id"], row["name"], row["role"], row["session_version"])


# The door API with a door token re-reads its user at most this often per process: a disabled
# account or a changed role is refused within these seconds (a signed-in page: at once).
STAFF_CACHE_SECONDS = 5.0
_STAFF: dict[UUID, tuple[float, Staff | None]] = {}


async def active_user_cached(engine: AsyncEngine, user_id: UUID) -> Staff | None:
    """`active_user`, remembered for STAFF_CACHE_SECONDS (a refusal too)."""
    now = time.monotonic()
    cached = _STAFF.get(user_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    async with driver_connection(engine) as conn:
        staff = await active_user(conn, user_id)
    if len(_STAFF) > 1000:
        _STAFF.clear()
    _STAFF[user_id] = (now + STAFF_CACHE_SECONDS, staff)
    return staff


def forget_cached_staff() -> None:
    _STAFF.clear()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is at the door: the signed-in user and the name of their device."""

    user_id: UUID | None
    device: str

    @classmethod
    def parse(cls, user_id: UUID | None, device: str) -> Actor:
        return cls(user_id=user_id, device=clean_device(device))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_device(device: str) -> str:
    name = " ".join(_CONTROL.sub(" ", device).split())
    if not name:
        raise CheckinInputError("device: give this device a name, such as 'Door 2'.")
    if len(name) > MAX_DEVICE_LENGTH:
        raise CheckinInputError(f"device: at most {MAX_DEVICE_LENGTH} characters.")
    return name


def _now() -> datetime:
    return datetime.now(UTC)


def offline_time(scanned_at: datetime | None, now: datetime) -> datetime:
    """The door's own time for an offline scan, kept within what its clock can be trusted for."""
    if scanned_at is None:
        return now
    if scanned_at.tzinfo is None:
        scanned_at = scanned_at.replace(tzinfo=UTC)
    if scanned_at > now + MAX_CLOCK_AHEAD or scanned_at < now - MAX_OFFLINE_AGE:
        return now
    return min(scanned_at, now)


_ATTENDEE_COLUMNS = (
    Registration.id,
    Registration.name,
    Registration.channel,
    Registration.status,
    Registration.checked_in_at,
    Registration.checked_in_by,
)


def _attendee(row: Row[Any] | _Current) -> Attendee:
    return Attendee(
        id=row.id,
        name=row.name,
        channel=row.channel,
        status=row.status,
        checked_in_at=row.checked_in_at,
        checked_in_by=row.checked_in_by,
    )


async def _current(
    session: AsyncSession, registration_id: UUID, *, lock: bool = False
) -> Row[Any] | None:
    query = select(*_ATTENDEE_COLUMNS, Registration.event_id).where(
        Registration.id == registration_id
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).one_or_none()


def _refusal(row: Row[Any] | _Current | None, event_id: UUID) -> Result | None:
    """Why this registration cannot be checked in at all, if it cannot."""
    if row is None or row.event_id != event_id:
        return Result.UNKNOWN if row is None else Result.OTHER_EVENT
    if row.status == RegistrationStatus.CANCELLED:
        return Result.CANCELLED
    if row.status == RegistrationStatus.WAITLISTED:
        return Result.WAITLISTED
    return None


async def _log(
    session: AsyncSession,
    event_id: UUID,
    op: Op,
    actor: Actor,
    result: Result,
    at: datetime,
    *,
    registration_id: UUID | None,
    detail: str = "",
    with_op_id: bool = True,
) -> bool:
    """Record the outcome; False when this op id was already recorded (a retry)."""
    statement = (
        insert(CheckinLog)
        .values(
            event_id=event_id,
            registration_id=registration_id,
            user_id=actor.user_id,
            device=actor.device,
            result=result.value,
            detail=detail[:300],
            scanned_at=at,
            offline=op.offline,
            op_id=op.op_id if with_op_id else None,
        )
        .on_conflict_do_nothing(index_elements=["op_id"], index_where=CheckinLog.op_id.is_not(None))
        .returning(CheckinLog.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def _replay(session: AsyncSession, op_id: UUID) -> ScanOutcome:
    """The first answer given to a retried operation, with the registration as it is now."""
    await session.rollback()
    log = (await session.execute(select(CheckinLog).where(CheckinLog.op_id == op_id))).scalar_one()
    row = await _current(session, log.registration_id) if log.registration_id else None
    return ScanOutcome(
        result=Result(log.result),
        attendee=_attendee(row) if row else None,
        scanned_at=log.scanned_at,
        op_id=op_id,
        replayed=True,
    )


async def _finish(
    session: AsyncSession,
    event_id: UUID,
    op: Op,
    actor: Actor,
    outcome: ScanOutcome,
    *,
    detail: str = "",
) -> ScanOutcome:
    registration_id = outcome.attendee.id if outcome.attendee else None
    if outcome.result is Result.OTHER_EVENT:
        registration_id = None  # another event's registration is not this event's business
    recorded = await _log(
        session,
        event_id,
        op,
        actor,
        outcome.result,
        outcome.scanned_at,
        registration_id=registration_id,
        detail=detail,
    )
    if not recorded:
        assert op.op_id is not None
        return await _replay(session, op.op_id)
    await session.commit()
    return outcome


def _registration_of(signer: TicketSigner, event_id: UUID, op: Op) -> UUID | Result:
    if op.token is not None:
        try:
            return signer.verify_for_event(op.token, event_id).registration_id
        except TicketError as exc:
            return Result(exc.reason)
    if op.registration_id is None:
        raise CheckinInputError("Send either the scanned token or a registration_id.")
    return op.registration_id


async def check_in(
    session: AsyncSession,
    signer: TicketSigner,
    event_id: UUID,
    op: Op,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> ScanOutcome:
    """Check one registration in (by ticket token or by hand), log it and commit."""
    now = now or _now()
    if not op.offline:
        await session.commit()  # the statements below then run on their own (autocommit)
        return await check_in_online(await _driver(session), signer, event_id, op, actor, now=now)
    at = offline_time(op.scanned_at, now)
    target = _registration_of(signer, event_id, op)
    if isinstance(target, Result):
        detail = "token of another event" if target is Result.OTHER_EVENT else ""
        return await _finish(
            session, event_id, op, actor, ScanOutcome(target, None, at, op.op_id), detail=detail
        )
    return await _check_in_offline(session, event_id, target, op, actor, at)


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
    at = now or _now()
    target = _registration_of(signer, event_id, op)
    if isinstance(target, Result):
        detail = "token of another event" if target is Result.OTHER_EVENT else ""
        outcome = ScanOutcome(target, None, at, op.op_id)
        return await _finish_on(conn, event_id, op, actor, outcome, detail=detail)
    for _ in range(_CLAIM_ATTEMPTS):
        args = (target, event_id, at, actor.device, actor.user_id, uuid7(), op.op_id)
        try:
            found = await conn.fetchrow(_CLAIM_AND_LOG, *args)
        except asyncpg.UniqueViolationError as exc:
            if op.op_id is None or exc.constraint_name != "uq_checkin_log_op":
                raise
            return await _replay_on(conn, op.op_id)  # this op went through before: a retry
        row = _Current.of(found) if found is not None else None
        if found is not None and found["claimed"]:
            assert row is not None
            return ScanOutcome(Result.OK, _attendee(row), at, op.op_id)
        result = _refusal(row, event_id) or Result.DUPLICATE
        if result is Result.DUPLICATE and row is not None and row.checked_in_at is None:
            # Undone since, or checked in by a scan this statement could not see yet: again.
            continue
        attendee = _attendee(row) if row is not None and result is not Result.OTHER_EVENT else None
        outcome = ScanOutcome(result, attendee, at, op.op_id)
        return await _finish_on(conn, event_id, op, actor, outcome)
    # Only a registration checked in and undone over and over while we ask gets here; the door
    # takes the error like an unreachable server (it decides on its own and sends it later).
    raise RuntimeError("the registration kept changing while it was being checked in")


_CLAIM_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class _Current:
    """A registration as a raw statement read it (what _refusal and _attendee look at)."""

    id: UUID
    event_id: UUID
    name: str
    channel: str
    status: str
    checked_in_at: datetime | None
    checked_in_by: str

    @classmethod
    def of(cls, record: asyncpg.Record) -> _Current:
        return cls(
            record["id"],
            record["event_id"],
            record["name"],
            record["channel"],
            record["status"],
            record["checked_in_at"],
            record["checked_in_by"],
        )


async def _finish_on(
    conn: asyncpg.Connection,
    event_id: UUID,
    op: Op,
    actor: Actor,
    outcome: ScanOutcome,
    *,
    detail: str = "",
) -> ScanOutcome:
    """`_finish` on a raw connection: log the outcome, or answer a retry as the first time."""
    registration_id = outcome.attendee.id if outcome.attendee else None
    if outcome.result is Result.OTHER_EVENT:
        registration_id = None  # another event's registration is not this event's business
    at = outcome.scanned_at
    logged = await conn.fetchval(
        _LOG,
        uuid7(),
        event_id,
        registration_id,
        actor.user_id,
        actor.device,
        outcome.result.value,
        detail[:300],
        at,
        op.op_id,
    )
    if logged is None:
        assert op.op_id is not None
        return await _replay_on(conn, op.op_id)
    return outcome


async def _replay_on(conn: asyncpg.Connection, op_id: UUID) -> ScanOutcome:
    """`_replay` on a raw connection."""
    found = await conn.fetchrow(_REPLAY, op_id)
    row = _Current.of(found) if found["id"] is not None else None
    return ScanOutcome(
        result=Result(found["result"]),
        attendee=_attendee(row) if row else None,
        scanned_at=found["scanned_at"],
        op_id=op_id,
        replayed=True,
    )


# The usual case, a first scan, in one round trip: claim the registration if it is confirmed
# and not checked in yet, and log the check-in in the same statement. Anything else (already
# in, cancelled, unknown...) finds no row to claim and returns the registration as it is, to
# be sorted out in Python. (That read sees the rows as they were when the statement began:
# a concurrent first scan it waited for shows as "not checked in", and the caller asks again.)
# `(event_id = $2) IS TRUE` is `event_id = $2` that no index can serve: the row is found by its
# primary key whatever the statistics say. Right after a roster was imported, before
# PostgreSQL had analysed the table, it chose an index on event_id and read every
# registration of the event, at each scan (five times the CPU of the whole statement).
_CLAIM_AND_LOG = """
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
_LOG = """
INSERT INTO checkin_log (id, event_id, registration_id, user_id, device, result, detail,
                         scanned_at, offline, op_id, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, false, $9, $8, $8)
ON CONFLICT (op_id) WHERE op_id IS NOT NULL DO NOTHING
RETURNING id
"""
_REPLAY = """
SELECT l.result, l.scanned_at, r.id, r.event_id, r.name, r.channel, r.status,
       r.checked_in_at, r.checked_in_by
  FROM checkin_log l LEFT JOIN registrations r ON r.id = l.registration_id
 WHERE l.op_id = $1
"""
_ACTIVE_USER = "SELECT id, name, role, session_version FROM users WHERE id = $1 AND is_active"


async def _driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, for statements that skip SQLAlchemy.

    Used before the session begins a transaction, each runs on its own (autocommit).
    """
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


async def _check_in_offline(
    session: AsyncSession, event_id: UUID, registration_id: UUID, op: Op, actor: Actor, at: datetime
) -> ScanOutcome:
    """First scan wins: an earlier offline scan takes the place of a later check-in."""
    row = await _current(session, registration_id, lock=True)
    refusal = _refusal(row, event_id)
    if refusal is not None or row is None:
        attendee = _attendee(row) if row is not None and refusal is not Result.OTHER_EVENT else None
        return await _finish(
            session,
            event_id,
            op,
            actor,
            ScanOutcome(refusal or Result.UNKNOWN, attendee, at, op.op_id),
        )
    if row.checked_in_at is not None and row.checked_in_at <= at:
        return await _finish(
            session,
            event_id,
            op,
            actor,
            ScanOutcome(Result.DUPLICATE, _attendee(row), at, op.op_id),
        )
    updated = (
        await session.execute(
            update(Registration)
            .where(Registration.id == registration_id)
            .values(checked_in_at=at, checked_in_by=actor.device, checked_in_user_id=actor.user_id)
            .returning(*_ATTENDEE_COLUMNS)
        )
    ).one()
    superseded = None
    if row.checked_in_at is not None:
        superseded = (row.checked_in_at, row.checked_in_by)
        # The displaced check-in is logged too, so the organiser sees both doors' scans.
        await _log(
            session,
            event_id,
            op,
            Actor(user_id=None, device=row.checked_in_by),
            Result.SUPERSEDED,
            row.checked_in_at,
            registration_id=registration_id,
            detail=f"an earlier offline scan on {actor.device} came first",
            with_op_id=False,
        )
    outcome = ScanOutcome(Result.OK, _attendee(updated), at, op.op_id, superseded=superseded)
    detail = f"earlier than the check-in by {row.checked_in_by}" if superseded else ""
    return await _finish(session, event_id, op, actor, outcome, detail=detail)


async def undo(
    session: AsyncSession,
    event_id: UUID,
    op: Op,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> ScanOutcome:
    """Take a check-in back (the door admitted the wrong person, or tapped by mistake)."""
    now = now or _now()
    at = offline_time(op.scanned_at, now) if op.offline else now
    if op.registration_id is None:
        raise CheckinInputError("registration_id: say whose check-in to undo.")
    undone = (
        await session.execute(
            update(Registration)
            .where(
                Registration.id == op.registration_id,
                # By primary key whatever the statistics say (see _CLAIM_AND_LOG).
                (Registration.event_id == event_id).is_(True),
                Registration.checked_in_at.is_not(None),
            )
            .values(checked_in_at=None, checked_in_by="", checked_in_user_id=None)
            .returning(*_ATTENDEE_COLUMNS)
        )
    ).one_or_none()
    if undone is not None:
        return await _finish(
            session,
            event_id,
            op,
            actor,
            ScanOutcome(Result.UNDONE, _attendee(undone), at, op.op_id),
        )
    row = await _current(session, op.registration_id)
    refusal = _refusal(row, event_id)
    if refusal is Result.OTHER_EVENT:
        row = None
    result = Result.UNKNOWN if row is None else Result.NOT_CHECKED_IN
    attendee = _attendee(row) if row is not None else None
    return await _finish(session, event_id, op, actor, ScanOutcome(result, attendee, at, op.op_id))


async def apply_ops(
    session: AsyncSession,
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
            outcomes.append(await undo(session, event_id, op, actor, now=now))
        else:
            outcomes.append(await check_in(session, signer, event_id, op, actor, now=now))
    return outcomes


async def counts(session: AsyncSession, event_id: UUID) -> CheckinCounts:
    """Seats expected and seats in: a guest is in when the person who brought them is."""
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    host = aliased(Registration)
    arrived = func.coalesce(host.checked_in_at, Registration.checked_in_at).is_not(None)
    row = (
        await session.execute(
            select(func.count().filter(confirmed), func.count().filter(confirmed, arrived))
            .select_from(Registration)
            .outerjoin(host, host.id == Registration.guest_of_id)
            .where(Registration.event_id == event_id)
        )
    ).one()
    return CheckinCounts(checked_in=row[1], expected=row[0])


def _not_superseded() -> Any:
    """Leave out a cancelled place of someone who holds another place at the same event (a
    merged duplicate): the door lists one person once."""
    other = aliased(Registration)
    holds_another = (
        select(other.id)
        .where(
            other.event_id == Registration.event_id,
            other.member_id == Registration.member_id,
            other.id != Registration.id,
            other.status.in_((RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)),
        )
        .exists()
    )
    return or_(Registration.status != RegistrationStatus.CANCELLED, ~holds_another)


def _people(event_id: UUID) -> Select[Any]:
    """One row per person (guests come with their host), with how many guests they bring."""
    guest = aliased(Registration)
    guests = (
        select(func.count())
        .where(guest.guest_of_id == Registration.id, guest.status == RegistrationStatus.CONFIRMED)
        .correlate(Registration)
        .scalar_subquery()
    )
    return select(*_ATTENDEE_COLUMNS, Registration.email, guests.label("guests")).where(
        Registration.event_id == event_id, Registration.guest_of_id.is_(None)
    )


async def roster(session: AsyncSession, event_id: UUID, *, since: datetime | None = None) -> Roster:
    """Everyone registered (any status), or only those changed since `since` (changes keep
    merged-away places, so a door that listed one learns it is cancelled)."""
    generated_at = _now()
    query = _people(event_id)
    if since is not None:
        query = query.where(Registration.updated_at >= since)
    else:
        query = query.where(_not_superseded())
    rows = (await session.execute(query.order_by(Registration.name))).all()
    entries = [_entry(row) for row in rows]
    return Roster(generated_at, entries, await counts(session, event_id), full=since is None)


def _entry(row: Row[Any]) -> RosterEntry:
    return RosterEntry(
        id=row.id,
        name=row.name,
        email=row.email,
        channel=row.channel,
        status=row.status,
        checked_in_at=row.checked_in_at,
        checked_in_by=row.checked_in_by,
        guests=int(row.guests or 0),
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    session: AsyncSession, event_id: UUID, q: str, *, limit: int = SEARCH_LIMIT
) -> list[RosterEntry]:
    """People of this event whose name or e-mail contains `q` (for those without a ticket)."""
    words = q.split()
    if not words or len(q.strip()) < 2:
        raise CheckinInputError("q: type at least two letters of a name or e-mail.")
    query = _people(event_id).where(_not_superseded())
    for word in words[:5]:
        pattern = _like(word)
        query = query.where(
            or_(Registration.name.ilike(pattern), Registration.email.ilike(pattern))
        )
    rows = (await session.execute(query.order_by(Registration.name).limit(limit))).all()
    return [_entry(row) for row in rows]


# Check-ins name their event in the URL; whether this user may open it at the door rarely
# changes, so each process remembers a yes for a minute instead of asking on every scan.
_OPEN_EVENTS: dict[tuple[UUID, str, UUID], float] = {}
EVENT_CACHE_SECONDS = 60.0


async def event_exists(session: AsyncSession, event_id: UUID, staff: Who) -> bool:
    """Whether `staff` may work this event at the door (see services.access.scope)."""
    if _event_known(event_id, staff):
        return True
    found = await session.scalar(
        select(Event.id).where(
            Event.id == event_id, Event.deleted_at.is_(None), access.door_events(staff, _now())
        )
    )
    return _remember_event(event_id, staff) if found is not None else False


async def event_exists_on(conn: asyncpg.Connection, event_id: UUID, staff: Who) -> bool:
    """`event_exists` on a raw connection."""
    if _event_known(event_id, staff):
        return True
    sql = access.DOOR_EVENT_SQL[Role(staff.role)]
    args = (event_id, staff.id) if staff.role == Role.ORGANISER else (event_id,)
    found = await conn.fetchval(sql, *args)
    return _remember_event(event_id, staff) if found is not None else False


def _event_known(event_id: UUID, staff: Who) -> bool:
    return _OPEN_EVENTS.get((event_id, staff.role, staff.id), 0.0) > time.monotonic()


def _remember_event(event_id: UUID, staff: Who) -> bool:
    if len(_OPEN_EVENTS) > 1000:
        _OPEN_EVENTS.clear()
    _OPEN_EVENTS[(event_id, staff.role, staff.id)] = time.monotonic() + EVENT_CACHE_SECONDS
    return True


def platform_checkins(outcomes: Sequence[ScanOutcome]) -> list[UUID]:
    """New check-ins of people who registered on a platform: those to hand back to it."""
    return [
        outcome.attendee.id
        for outcome in outcomes
        if outcome.result is Result.OK
        and not outcome.replayed
        and outcome.attendee is not None
        and outcome.attendee.channel != Channel.NATIVE
    ]


async def door_event(session: AsyncSession, event_id: UUID, staff: Who) -> Event | None:
    """The event, if `staff` may work it at the door (see services.access.scope)."""
    return await session.scalar(
        select(Event).where(
            Event.id == event_id, Event.deleted_at.is_(None), access.door_events(staff, _now())
        )
    )


@dataclass(frozen=True, slots=True)
class EventCard:
    event: Event
    counts: CheckinCounts


async def door_events(
    session: AsyncSession, staff: Who, *, now: datetime | None = None, limit: int = 30
) -> list[EventCard]:
    """Events a door could be working, from yesterday on, soonest first, with their counts
    (only those `staff` may work, see services.access.scope)."""
    now = now or _now()
    events = list(
        (
            await session.execute(
                select(Event)
                .where(
                    Event.deleted_at.is_(None),
                    Event.status != EventStatus.DRAFT,
                    access.door_events(staff, now),
                    func.coalesce(Event.ends_at, Event.starts_at) >= now - timedelta(days=1),
                )
                .order_by(Event.starts_at)
                .limit(limit)
            )
        ).scalars()
    )
    if not events:
        return []
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    totals = {
        row.event_id: CheckinCounts(checked_in=row.checked_in, expected=row.expected)
        for row in await session.execute(
            select(
                Registration.event_id,
                func.count().filter(confirmed).label("expected"),
                func.count()
                .filter(confirmed, Registration.checked_in_at.is_not(None))
                .label("checked_in"),
            )
            .where(Registration.event_id.in_([event.id for event in events]))
            .group_by(Registration.event_id)
        )
    }
    return [EventCard(event, totals.get(event.id, CheckinCounts(0, 0))) for event in events]
