"""One httpx client per platform behind one small interface (see base.PlatformClient)."""

from community.platforms.base import (
    EventDraft,
    PlatformClient,
    PushResult,
    RegistrationPage,
    RemoteAccount,
    RemoteEvent,
    RemoteListingState,
    RemoteRegistration,
)
from community.platforms.errors import (
    NotSupported,
    PlatformAuthError,
    PlatformError,
    PlatformNotFound,
    PlatformRateLimited,
    PlatformRejected,
    PlatformTransient,
)
from community.platforms.factory import PLATFORMS, make_client
from community.platforms.tokens import StaticToken, TokenProvider

__all__ = [
    "PLATFORMS",
    "EventDraft",
    "NotSupported",
    "PlatformAuthError",
    "PlatformClient",
    "PlatformError",
    "PlatformNotFound",
    "PlatformRateLimited",
    "PlatformRejected",
    "PlatformTransient",
    "PushResult",
    "RegistrationPage",
    "RemoteAccount",
    "RemoteEvent",
    "RemoteListingState",
    "RemoteRegistration",
    "StaticToken",
    "TokenProvider",
    "make_client",
]
