"""An organiser's connections to Meetup, Eventbrite and Luma: connect, disconnect, use.

Meetup and Eventbrite connect through OAuth (authorization code); Eventbrite also takes a
private token and Luma an API key pasted by the organiser. Secrets are stored encrypted
(services.mirror.token_crypto) and only decrypted to build a client. Tokens that expire are
refreshed shortly before expiry by the OAuth helper; the new pair is saved in its own
transaction at once, because Meetup's refresh token is single-use and must never be lost to a
rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.models import PLATFORM_LABELS, Platform, PlatformAccount, User
from community.platforms.base import PlatformClient
from community.platforms.errors import PlatformError
from community.platforms.factory import make_client
from community.platforms.oauth import OAuthClient, RefreshingToken, TokenSet, new_state
from community.platforms.tokens import StaticToken, TokenProvider
from community.services.mirror.token_crypto import SecretUnreadable, decrypt, encrypt

ConnectKind = Literal["oauth", "token", "api_key"]
# How each platform can be connected, first the preferred way.
CONNECT_KINDS: dict[str, tuple[ConnectKind, ...]] = {
    "meetup": ("oauth",),
    "eventbrite": ("oauth", "token"),
    "luma": ("api_key",),
}
EXPIRY_WARNING = timedelta(days=3)


class ConnectError(ValueError):
    """Connecting failed; ``field`` names the form field, ``message`` is for the organiser."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Connection:
    """What the accounts page shows for one platform."""

    platform: str
    label: str
    kinds: tuple[ConnectKind, ...]
    oauth_ready: bool  # client id/secret configured (or the sandbox stands in)
    account: PlatformAccount | None

    @property
    def connected(self) -> bool:
        return self.account is not None and self.account.disconnected_at is None

    @property
    def expires_soon(self) -> bool:
        expires = self.account.expires_at if self.account else None
        return expires is not None and expires - EXPIRY_WARNING <= datetime.now(UTC)

    @property
    def expired(self) -> bool:
        expires = self.account.expires_at if self.account else None
        # A refreshable token past expiry is renewed at next use; only say so plainly.
        return expires is not None and expires <= datetime.now(UTC)


def redirect_uri(settings: Settings, platform: str) -> str:
    return f"{settings.base_url}/admin/accounts/{platform}/callback"


def oauth_client(settings: Settings, platform: str) -> OAuthClient:
    creds = settings.platform(platform)
    if "oauth" not in CONNECT_KINDS.get(platform, ()) or not creds.auth_url:
        raise ConnectError(f"{PLATFORM_LABELS[platform]} does not sign in through a browser.")
    if not creds.configured:
        raise ConnectError(
            f"{PLATFORM_LABELS[platform]} sign-in is not set up on this server: set "
            f"{platform.upper()}_CLIENT_ID and {platform.upper()}_CLIENT_SECRET."
        )
    return OAuthClient(
        platform,
        creds.auth_url,
        creds.client_id,
        creds.client_secret,
        redirect_uri(settings, platform),
    )


def start_oauth(settings: Settings, platform: str) -> tuple[str, str]:
    """Where to send the organiser to connect ``platform``, and the state its callback must
    carry back (kept in the organiser's session). Raises ConnectError when not configured."""
    oauth = oauth_client(settings, platform)
    state = new_state()
    return oauth.authorize_url(state), state


async def connections(session: AsyncSession, settings: Settings, user: User) -> list[Connection]:
    rows = await session.scalars(select(PlatformAccount).where(PlatformAccount.user_id == user.id))
    by_platform = {row.platform: row for row in rows}
    return [
        Connection(
            platform=name,
            label=PLATFORM_LABELS[name],
            kinds=CONNECT_KINDS[name],
            oauth_ready=settings.platform(name).configured,
            account=by_platform.get(name),
        )
        for name in PLATFORM_LABELS
    ]


async def active_account(
    session: AsyncSession, user_id: UUID, platform: str
) -> PlatformAccount | None:
    return await session.scalar(
        select(PlatformAccount).where(
            PlatformAccount.user_id == user_id,
            PlatformAccount.platform == platform,
            PlatformAccount.disconnected_at.is_(None),
        )
    )


async def _upsert(session: AsyncSession, user: User, platform: str) -> PlatformAccount:
    account = await session.scalar(
        select(PlatformAccount).where(
            PlatformAccount.user_id == user.id, PlatformAccount.platform == platform
        )
    )
    if account is None:
        account = PlatformAccount(user_id=user.id, platform=platform)
        session.add(account)
    return account


async def _identify(client: PlatformClient) -> tuple[str, str]:
    try:
        who = await client.account()
    finally:
        await client.aclose()
    return who.id, who.name or who.email or who.id


async def finish_oauth(
    session: AsyncSession, settings: Settings, user: User, platform: str, code: str
) -> PlatformAccount:
    """Trade the callback's code for tokens, learn who they belong to, and store them."""
    if not code or len(code) > 2000:
        raise ConnectError(f"{PLATFORM_LABELS[platform]} sent no sign-in code; try again.")
    oauth = oauth_client(settings, platform)
    try:
        tokens = await oauth.exchange_code(code)
        account_id, name = await _identify(
            make_client(platform, settings.platform(platform).api_url, tokens.access_token)
        )
    except PlatformError as exc:
        raise ConnectError(exc.message) from exc
    account = await _upsert(session, user, platform)
    _store_tokens(settings, account, tokens)
    account.api_key_enc = ""
    _mark_connected(account, account_id, name)
    await session.flush()
    return account


async def connect_with_secret(
    session: AsyncSession, settings: Settings, user: User, platform: str, secret: str
) -> PlatformAccount:
    """Luma API key or Eventbrite private token: checked against the platform before saving."""
    field = "api_key" if platform == Platform.LUMA else "token"
    secret = secret.strip()
    if field == "token" and "token" not in CONNECT_KINDS[platform]:
        raise ConnectError(f"{PLATFORM_LABELS[platform]} connects through its sign-in page.")
    if not secret:
        raise ConnectError("Paste the key to connect.", field)
    if len(secret) > 500 or any(c.isspace() for c in secret):
        raise ConnectError("That does not look like a key: it has spaces or is too long.", field)
    try:
        account_id, name = await _identify(
            make_client(platform, settings.platform(platform).api_url, secret)
        )
    except PlatformError as exc:
        raise ConnectError(exc.message, field) from exc
    account = await _upsert(session, user, platform)
    account.access_token_enc = account.refresh_token_enc = ""
    account.api_key_enc = encrypt(settings.secret_key, secret)
    account.expires_at = None
    _mark_connected(account, account_id, name)
    await session.flush()
    return account


def _mark_connected(account: PlatformAccount, account_id: str, name: str) -> None:
    account.external_account_id = account_id[:120]
    account.display_name = name[:200]
    account.last_error = ""
    account.disconnected_at = None


def _store_tokens(settings: Settings, account: PlatformAccount, tokens: TokenSet) -> None:
    account.access_token_enc = encrypt(settings.secret_key, tokens.access_token)
    account.refresh_token_enc = encrypt(settings.secret_key, tokens.refresh_token or "")
    account.expires_at = tokens.expires_at


async def disconnect(session: AsyncSession, account: PlatformAccount) -> None:
    """Forget the secrets at once; the row stays so listings keep their history."""
    account.access_token_enc = account.refresh_token_enc = account.api_key_enc = ""
    account.expires_at = None
    account.disconnected_at = datetime.now(UTC)
    await session.flush()


async def record_error(session: AsyncSession, account_id: UUID, message: str) -> None:
    await session.execute(
        update(PlatformAccount)
        .where(PlatformAccount.id == account_id)
        .values(last_error=message[:1000])
    )


def token_provider(
    settings: Settings,
    account: PlatformAccount,
    session_maker: async_sessionmaker[AsyncSession] | None = None,
) -> TokenProvider:
    """The credential a client sends, refreshed before it expires where the platform allows."""
    if account.disconnected_at is not None:
        raise ConnectError(f"{PLATFORM_LABELS[account.platform]} is disconnected; connect again.")
    try:
        if account.api_key_enc:
            return StaticToken(decrypt(settings.secret_key, account.api_key_enc))
        access = decrypt(settings.secret_key, account.access_token_enc)
        refresh = decrypt(settings.secret_key, account.refresh_token_enc) or None
    except SecretUnreadable as exc:
        raise ConnectError(
            "The stored key can no longer be read (the server's SECRET_KEY changed); connect again."
        ) from exc
    if not access:
        raise ConnectError(f"{PLATFORM_LABELS[account.platform]} has no token; connect again.")
    tokens = TokenSet(access, refresh, account.expires_at)
    if not refresh or not settings.platform(account.platform).configured:
        return StaticToken(access)
    account_id = account.id

    async def save(fresh: TokenSet) -> None:
        # Stored at once in a transaction of its own: the old refresh token is spent already.
        values = {
            "access_token_enc": encrypt(settings.secret_key, fresh.access_token),
            "refresh_token_enc": encrypt(settings.secret_key, fresh.refresh_token or ""),
            "expires_at": fresh.expires_at,
            "last_error": "",
        }
        if session_maker is None:
            return
        async with session_maker() as own:
            await own.execute(
                update(PlatformAccount).where(PlatformAccount.id == account_id).values(**values)
            )
            await own.commit()

    return RefreshingToken(tokens, oauth_client(settings, account.platform), on_refresh=save)
