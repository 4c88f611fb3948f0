"""All models, imported here so Alembic and the app see one metadata."""

from community.models.enums import (
    PLATFORM_LABELS,
    Allocation,
    Channel,
    EventStatus,
    ListingState,
    Platform,
    RegistrationStatus,
    Role,
    SoldOutMode,
    SyncState,
    Theme,
)
from community.models.event import Event, Listing
from community.models.member import Member, MemberIdentity
from community.models.outbox import OutboxMessage
from community.models.payment import (
    Payment,
    PaymentKind,
    PaymentStatus,
    RefundStatus,
    StripeEvent,
)
from community.models.platform_account import PlatformAccount
from community.models.registration import CheckinLog, Registration
from community.models.sync_log import SyncLog
from community.models.user import User

__all__ = [
    "PLATFORM_LABELS",
    "Allocation",
    "Channel",
    "CheckinLog",
    "Event",
    "EventStatus",
    "Listing",
    "ListingState",
    "Member",
    "MemberIdentity",
    "OutboxMessage",
    "Payment",
    "PaymentKind",
    "PaymentStatus",
    "Platform",
    "PlatformAccount",
    "RefundStatus",
    "Registration",
    "RegistrationStatus",
    "Role",
    "SoldOutMode",
    "StripeEvent",
    "SyncLog",
    "SyncState",
    "Theme",
    "User",
]
