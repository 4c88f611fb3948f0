"""What a door sends and what it is answered: an operation, who did it, and its outcome.

The shapes every part of check-in shares (scanning, the offline queue, the door API); no
database here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from community.models import Channel
from community.services.tickets.signatures import TicketError

MAX_DEVICE_LENGTH = 60


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
