"""Every Redis key the product writes, built here: the keyspace can be read in one place.

Every key starts with the deployment's prefix (REDIS_PREFIX, `cd:` by default; it may not
contain braces). Keys that one script or transaction touches together share a hash tag, the
part in `{}`, so on a Redis Cluster they live in one slot (tests/cluster proves it):

- `{<event id>}`: an event's seats (the Traffic Cop's keys) and its page version;
- `{<listing id>}`: a listing's job coalescing (push or pull);
- `{<platform>:<account>}`: a platform account's call budget;
- `{<prefix>q:<name>}`: a job queue's name, so SAQ keeps each queue's keys in one slot.

The other keys are read and written one at a time and need no tag.
"""

from __future__ import annotations

from uuid import UUID

# --- one event: the Traffic Cop's seats, the page version --------------------------------------


def event_key(prefix: str, event_id: object, suffix: str) -> str:
    """One event's key; the event id is the hash tag, so all its keys share a cluster slot."""
    return f"{prefix}ev:{{{event_id}}}:{suffix}"


def page_version(prefix: str, event_id: UUID | str) -> str:
    """The counter bumped when an event's seats change (services.events.page_versions)."""
    return event_key(prefix, event_id, "page")


# --- the mirror: coalescing per listing, call budgets per platform account ----------------------


def coalescing(prefix: str, kind: str, listing_id: UUID | str) -> list[str]:
    """A listing's `want`, `runner` and `done` keys for one kind of job (push, pull); its
    scripts take all three, so the listing id is their hash tag."""
    base = f"{prefix}{kind}:{{{listing_id}}}"
    return [f"{base}:want", f"{base}:runner", f"{base}:done"]


def rate_budget(prefix: str, platform: str, account: str) -> str:
    """A platform account's call budget (one hash, tagged by platform and account)."""
    return f"{prefix}budget:{{{platform}:{account}}}"


def stranded_sweep(prefix: str, minute: str) -> str:
    """Claimed by the first worker to sweep for stranded pushes in that minute (YYYYmmddHHMM)."""
    return f"{prefix}sched:stranded:{minute}"


def queue_name(prefix: str, name: str) -> str:
    """A job queue's name; SAQ builds the queue's keys from it, inside its hash tag."""
    return f"{{{prefix}q:{name}}}"


# --- people: limits, sign-in, sessions ----------------------------------------------------------


def visitor_limit(prefix: str, name: str, digest: str) -> str:
    """One visitor limit's window for one subject (hashed: no address is stored)."""
    return f"{prefix}limit:{name}:{digest}"


def login_account(prefix: str, digest: str) -> str:
    """Failed sign-ins of one account from one address (hashed)."""
    return f"{prefix}login:acct:{digest}"


def login_address(prefix: str, digest: str) -> str:
    """Failed sign-ins from one address (hashed)."""
    return f"{prefix}login:addr:{digest}"


def magic_link_spent(prefix: str, nonce: str) -> str:
    """A sign-in link already used."""
    return f"{prefix}magic:spent:{nonce}"


def invitation(prefix: str, token_digest: str) -> str:
    """An invitation link, by the hash of its token; its value is the user's id."""
    return f"{prefix}invite:{token_digest}"


def invitation_of_user(prefix: str, user_id: UUID) -> str:
    """The hash of a user's current invitation token, so a new link replaces the old one."""
    return f"{prefix}invite-user:{user_id}"


def signed_out(prefix: str, sid: str) -> str:
    """A signed-out session whose door tokens must stop working."""
    return f"{prefix}signed-out:{sid}"


def sessions_namespace(prefix: str) -> str:
    """The session store's namespace (Litestar's RedisStore adds `:<session id>`)."""
    return f"{prefix}sessions"
