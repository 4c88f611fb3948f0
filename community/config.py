"""Settings read from the environment once, validated with one clear sentence per mistake."""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it in one sentence."""


PlatformMode = Literal["sandbox", "live"]
SmtpSecurity = Literal["starttls", "ssl", "none"]
PLATFORM_MODES: tuple[PlatformMode, ...] = ("sandbox", "live")
SMTP_SECURITIES: tuple[SmtpSecurity, ...] = ("starttls", "ssl", "none")
_Choice = TypeVar("_Choice", bound=str)


def _one_of(value: str, choices: tuple[_Choice, ...]) -> _Choice | None:
    """The choice `value` names (so typed as one of them), or None."""
    return next((choice for choice in choices if choice == value), None)


DEFAULT_API_URLS = {
    "meetup": "https://api.meetup.com",
    "eventbrite": "https://www.eventbriteapi.com",
    "luma": "https://public-api.luma.com",
}
DEFAULT_AUTH_URLS = {
    "meetup": "https://secure.meetup.com",
    "eventbrite": "https://www.eventbrite.com",
}


@dataclass(frozen=True)
class PlatformCredentials:
    api_url: str
    auth_url: str = ""
    client_id: str = ""
    client_secret: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = "Community events <events@localhost>"
    security: SmtpSecurity = "starttls"

    @property
    def configured(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class MailLimits:
    """Per-recipient limits on outgoing mail (mail bombing), and the outbox's re-drive."""

    repeat_window_s: int = 10 * 60  # the same kind of mail about one event: once per window
    recipient_hourly_quota: int = 10  # mails to one address per hour (organiser mail exempt)
    redrive_after_s: int = 120  # a row still queued after this lost its job: send it again
    # A ticket e-mail waits up to this long while other processes keep the CPUs busy (a rush).
    cpu_wait_s: int = 2


@dataclass(frozen=True)
class DatabaseTimeouts:
    """A frozen or overloaded PostgreSQL answers 503 quickly instead of holding requests."""

    statement_s: float = 5.0  # server-side statement_timeout, and the client's own deadline
    connect_s: float = 5.0  # opening a connection (the pool's wait is PoolSettings.db_wait_s)


@dataclass(frozen=True)
class PoolSettings:
    """Connections per process. Requests wait for a free connection at most `*_wait_s`, then
    are answered 503 with Retry-After (community.load_shedding), never 500."""

    redis_size: int = 128
    redis_wait_s: float = 2.0
    # A Redis reply slower than this is a frozen server (plus one immediate retry).
    redis_socket_timeout_s: float = 10.0
    db_size: int = 20
    db_overflow: int = 10
    db_wait_s: float = 3.0
    # Requests one web process works on at once; beyond it, a fast 503 with Retry-After.
    max_in_flight: int = 512
    # Registrations (event page and API) one web process puts to the Traffic Cop at once; the
    # others wait their turn before any work, so a seat just taken is written without waiting
    # behind hundreds of half-answered refusals.
    registrations_at_once: int = 4


@dataclass(frozen=True)
class VisitorLimitSettings:
    """Registrations (event page and JSON API together) per client address per window: in
    all, and for any one event."""

    register_per_address: int = 20
    register_per_event: int = 10
    window_s: int = 600


DEFAULT_STRIPE_API_BASE = "https://api.stripe.com"
DEFAULT_STRIPE_JS_URL = "https://js.stripe.com/v3/"


@dataclass(frozen=True)
class StripeSettings:
    """Paid tickets. Without the three keys, paid events cannot be published.

    `api_base` may point at a stand-in (the demo and the tests run one on loopback); Stripe.js
    then comes from the same server, at the path the stand-in serves it on.
    """

    secret_key: str = field(default="", repr=False)
    publishable_key: str = ""
    webhook_secret: str = field(default="", repr=False)
    api_base: str = DEFAULT_STRIPE_API_BASE
    # How long a seat is held while its buyer pays.
    hold_minutes: int = 10

    @property
    def configured(self) -> bool:
        return bool(self.secret_key and self.publishable_key and self.webhook_secret)

    @property
    def js_url(self) -> str:
        if self.api_base == DEFAULT_STRIPE_API_BASE:
            return DEFAULT_STRIPE_JS_URL
        return f"{self.api_base}/js.stripe.com/v3/"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    secret_key: str = field(repr=False)
    base_url: str
    database_url: str | None
    redis_url: str | None
    redis_prefix: str = "cd:"
    # The job queues' Redis; unset: REDIS_URL. Required (a single server) with a cluster.
    queue_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = 1
    log_level: str = "INFO"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    meetup: PlatformCredentials = field(
        default_factory=lambda: PlatformCredentials(
            DEFAULT_API_URLS["meetup"], DEFAULT_AUTH_URLS["meetup"]
        )
    )
    eventbrite: PlatformCredentials = field(
        default_factory=lambda: PlatformCredentials(
            DEFAULT_API_URLS["eventbrite"], DEFAULT_AUTH_URLS["eventbrite"]
        )
    )
    luma: PlatformCredentials = field(
        default_factory=lambda: PlatformCredentials(DEFAULT_API_URLS["luma"])
    )
    platform_mode: PlatformMode = "sandbox"
    debug: bool = False
    mail_limits: MailLimits = field(default_factory=MailLimits)
    db_timeouts: DatabaseTimeouts = field(default_factory=DatabaseTimeouts)
    # Seconds `community worker` lets running jobs finish after SIGTERM before cancelling them.
    worker_grace_s: int = 20
    # `community worker` yields the CPU to the web processes on the same machine: a ticket
    # e-mail can wait a second, a person waiting for "you're in" cannot (0 to 19, as nice).
    worker_nice: int = 10
    pools: PoolSettings = field(default_factory=lambda: PoolSettings())
    limits: VisitorLimitSettings = field(default_factory=lambda: VisitorLimitSettings())
    # Peers whose X-Forwarded-For is believed (reverse proxies), as CIDR blocks (checked when
    # read: community.forwarded parses them); empty: nobody's.
    trusted_proxies: tuple[str, ...] = ()
    stripe: StripeSettings = field(default_factory=StripeSettings)

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    @property
    def redis_cluster(self) -> bool:
        return is_cluster_url(self.redis_url or "")

    @property
    def queue_redis_url(self) -> str | None:
        return self.queue_url or self.redis_url

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def with_services(self, database_url: str, redis_url: str) -> Settings:
        return replace(self, database_url=database_url, redis_url=redis_url)

    def platform(self, name: str) -> PlatformCredentials:
        return {"meetup": self.meetup, "eventbrite": self.eventbrite, "luma": self.luma}[name]


CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def is_cluster_url(url: str) -> bool:
    """A Redis Cluster is named by its own scheme: redis+cluster://host:port (or rediss+)."""
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


def _url(
    env: dict[str, str], name: str, schemes: tuple[str, ...], default: str | None
) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.netloc or parts.query or parts.path):
        raise ConfigError(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
            f" (got a value starting with {raw.split(':', 1)[0]!r})."
        )
    return raw.rstrip("/") if parts.scheme in ("http", "https") else raw


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}.")
    return value


def _seconds(env: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g} seconds, got {raw}.")
    return value


def _networks(env: dict[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR blocks (a bare address is a block of one)."""
    networks = []
    for item in env.get(name, "").replace(" ", ",").split(","):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(
                f"{name} must list IP addresses or CIDR blocks separated by commas;"
                f" {item!r} is neither."
            ) from None
    return tuple(networks)


def _pools(env: dict[str, str]) -> PoolSettings:
    return PoolSettings(
        redis_size=_int(env, "REDIS_POOL_SIZE", 128, 4, 10000),
        redis_wait_s=_seconds(env, "REDIS_POOL_WAIT", 2.0, 0.01, 60),
        redis_socket_timeout_s=_seconds(env, "REDIS_SOCKET_TIMEOUT", 10.0, 0.5, 300),
        db_size=_int(env, "DATABASE_POOL_SIZE", 20, 2, 1000),
        db_overflow=_int(env, "DATABASE_POOL_OVERFLOW", 10, 0, 1000),
        db_wait_s=_seconds(env, "DATABASE_POOL_WAIT", 3.0, 0.01, 60),
        max_in_flight=_int(env, "MAX_REQUESTS_IN_FLIGHT", 512, 1, 1_000_000),
        registrations_at_once=_int(env, "REGISTRATIONS_AT_ONCE", 4, 1, 100_000),
    )


def _limits(env: dict[str, str]) -> VisitorLimitSettings:
    return VisitorLimitSettings(
        register_per_address=_int(env, "REGISTER_LIMIT_PER_ADDRESS", 20, 1, 1_000_000),
        register_per_event=_int(env, "REGISTER_LIMIT_PER_EVENT", 10, 1, 1_000_000),
        window_s=_int(env, "REGISTER_LIMIT_WINDOW", 600, 1, 86400),
    )


def _stripe(env: dict[str, str]) -> StripeSettings:
    keys = {
        name: env.get(name, "").strip()
        for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
    }
    prefixes = {
        "STRIPE_SECRET_KEY": ("sk_", "rk_"),
        "STRIPE_PUBLISHABLE_KEY": ("pk_",),
        "STRIPE_WEBHOOK_SECRET": ("whsec_",),
    }
    for name, value in keys.items():
        if value and not value.startswith(prefixes[name]):
            starts = " or ".join(prefixes[name])
            raise ConfigError(f"{name} must start with {starts} (as Stripe's dashboard shows it).")
    given = [name for name, value in keys.items() if value]
    if given and len(given) < len(keys):
        missing = ", ".join(name for name in keys if name not in given)
        raise ConfigError(f"Paid tickets need all three Stripe keys; {missing} is not set.")
    api_base = _url(env, "STRIPE_API_BASE", ("http", "https"), DEFAULT_STRIPE_API_BASE)
    return StripeSettings(
        secret_key=keys["STRIPE_SECRET_KEY"],
        publishable_key=keys["STRIPE_PUBLISHABLE_KEY"],
        webhook_secret=keys["STRIPE_WEBHOOK_SECRET"],
        api_base=api_base or DEFAULT_STRIPE_API_BASE,
        hold_minutes=_int(env, "PAYMENT_HOLD_MINUTES", 10, 1, 120),
    )


def normalise_database_url(url: str) -> str:
    """Accept the usual postgres:// spellings and use the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def private_modes() -> tuple[int, int]:
    """The widest modes allowed in DATA_DIR: (folders, files).

    Run as root, the embedded PostgreSQL runs as a user of its own, which must pass through
    DATA_DIR to reach its data folder: folders may then be traversed (711, never listed).
    """
    return (0o711 if os.name == "posix" and os.geteuid() == 0 else 0o700), 0o600


def make_private(folder: Path) -> None:
    """Create `folder` and take group and other access off it and everything in it (700/600).

    DATA_DIR holds the secret key, the embedded Redis file (session ids) and the database;
    installs made before this rule have their files tightened at the next start.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folders, files = private_modes()
    for path in (folder, *folder.rglob("*")):
        try:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            allowed = folders if stat.S_ISDIR(mode) else files | 0o100  # keep an owner's x
            if stat.S_IMODE(mode) & ~allowed:
                path.chmod(stat.S_IMODE(mode) & allowed)
        except OSError:
            continue  # gone meanwhile (a server's temporary file): nothing to protect


def _secret_key(env: dict[str, str], data_dir: Path) -> str:
    raw = env.get("SECRET_KEY", "").strip()
    if raw:
        if len(raw) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters long.")
        return raw
    # Small installs get a generated key that survives restarts; production sets its own.
    key_file = data_dir / "secret_key"
    if key_file.exists():
        if key_file.stat().st_mode & 0o077:
            key_file.chmod(0o600)  # written by an older version, readable by others
        return key_file.read_text().strip()
    make_private(data_dir)
    key = secrets.token_urlsafe(48)
    # Created 600 from the start: never readable by others, not even for a moment.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key)
    return key


def _platform(env: dict[str, str], name: str) -> PlatformCredentials:
    upper = name.upper()
    api = _url(env, f"{upper}_API_URL", ("http", "https"), DEFAULT_API_URLS[name])
    auth = _url(env, f"{upper}_AUTH_URL", ("http", "https"), DEFAULT_AUTH_URLS.get(name, ""))
    return PlatformCredentials(
        api_url=api or "",
        auth_url=auth or "",
        client_id=env.get(f"{upper}_CLIENT_ID", "").strip(),
        client_secret=env.get(f"{upper}_CLIENT_SECRET", "").strip(),
    )


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("DATA_DIR", "").strip() or ".data").expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"DATA_DIR must be a folder, but {data_dir} is a file.")

    database_url = _url(env, "DATABASE_URL", ("postgres", "postgresql", "postgresql+asyncpg"), None)
    redis_url = _url(env, "REDIS_URL", ("redis", "rediss", "unix", *CLUSTER_SCHEMES), None)
    queue_url = _url(env, "QUEUE_URL", ("redis", "rediss", "unix"), None)
    if redis_url and is_cluster_url(redis_url) and not queue_url:
        raise ConfigError(
            "QUEUE_URL must name a single Redis server when REDIS_URL is a Redis Cluster:"
            " the job queue keeps keys that a cluster would spread over several slots."
        )
    smtp_security = _one_of(
        env.get("SMTP_SECURITY", "starttls").strip().lower() or "starttls", SMTP_SECURITIES
    )
    if smtp_security is None:
        raise ConfigError("SMTP_SECURITY must be one of starttls, ssl or none.")
    redis_prefix = env.get("REDIS_PREFIX", "cd:").strip() or "cd:"
    if "{" in redis_prefix or "}" in redis_prefix:
        raise ConfigError("REDIS_PREFIX must not contain { or } (they choose a cluster slot).")
    given_mode = env.get("PLATFORM_MODE", "").strip().lower()
    meetup, eventbrite, luma = (_platform(env, p) for p in ("meetup", "eventbrite", "luma"))
    if not given_mode:
        # Without any platform credentials the local stand-ins are the only thing to talk to.
        given_mode = "live" if (meetup.configured or eventbrite.configured) else "sandbox"
    mode = _one_of(given_mode, PLATFORM_MODES)
    if mode is None:
        raise ConfigError("PLATFORM_MODE must be sandbox or live.")
    log_level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("LOG_LEVEL must be one of DEBUG, INFO, WARNING or ERROR.")
    port = _int(env, "PORT", 8000, 1, 65535)
    base_url = _url(env, "BASE_URL", ("http", "https"), None) or f"http://127.0.0.1:{port}"

    return Settings(
        data_dir=data_dir,
        secret_key=_secret_key(env, data_dir),
        base_url=base_url,
        database_url=normalise_database_url(database_url) if database_url else None,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        queue_url=queue_url,
        host=env.get("HOST", "127.0.0.1").strip() or "127.0.0.1",
        port=port,
        web_workers=_int(env, "WEB_WORKERS", 1, 1, 64),
        log_level=log_level,
        smtp=SmtpSettings(
            host=env.get("SMTP_HOST", "").strip(),
            port=_int(env, "SMTP_PORT", 587, 1, 65535),
            username=env.get("SMTP_USERNAME", "").strip(),
            password=env.get("SMTP_PASSWORD", ""),
            sender=env.get("SMTP_FROM", "").strip() or "Community events <events@localhost>",
            security=smtp_security,
        ),
        meetup=meetup,
        eventbrite=eventbrite,
        luma=luma,
        platform_mode=mode,
        debug=env.get("DEBUG", "").strip().lower() in ("1", "true", "yes"),
        mail_limits=MailLimits(
            repeat_window_s=_int(env, "MAIL_REPEAT_MINUTES", 10, 0, 24 * 60) * 60,
            recipient_hourly_quota=_int(env, "MAIL_RECIPIENT_HOURLY_QUOTA", 10, 1, 10_000),
            redrive_after_s=_int(env, "MAIL_REDRIVE_SECONDS", 120, 10, 24 * 3600),
            # Below the ticket job's timeout (30 s) with an SMTP send's own (20 s).
            cpu_wait_s=_int(env, "MAIL_CPU_WAIT_SECONDS", 2, 0, 10),
        ),
        db_timeouts=DatabaseTimeouts(
            statement_s=_int(env, "DATABASE_STATEMENT_TIMEOUT", 5, 1, 3600),
            connect_s=_int(env, "DATABASE_CONNECT_TIMEOUT", 5, 1, 600),
        ),
        worker_grace_s=_int(env, "WORKER_SHUTDOWN_GRACE", 20, 0, 3600),
        worker_nice=_int(env, "WORKER_NICE", 10, 0, 19),
        pools=_pools(env),
        limits=_limits(env),
        trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
        stripe=_stripe(env),
    )
