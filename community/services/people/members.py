"""Member profiles: one per person, found by platform identity first, then by e-mail."""

from __future__ import annotations

import re
import unicodedata

import idna
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from community.models import Channel, Member, MemberIdentity

# The one set of limits for a person's name and address: the event form, the JSON API, the
# member profiles and the accounts all use these (RFC 5321: 64 for the local part, 63 per
# domain label, 254 for the whole address).
MAX_NAME = 120
MAX_EMAIL = 254
MAX_LOCAL = 64
MAX_LABEL = 63
# RFC 5322 dot-atom characters; letters beyond ASCII are allowed too (RFC 6531).
LOCAL_RE = re.compile(r"^[\w!#$%&'*+/=?^`{|}~-]+(\.[\w!#$%&'*+/=?^`{|}~-]+)*$")
LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
# A loose form of the rule for the OpenAPI schema; normalise_email has the last word.
EMAIL_PATTERN = r"^[^@\s<>]{1,64}@[^@\s<>]+\.[^@\s<>]+$"


def has_control_characters(text: str) -> bool:
    """NUL, CR/LF, tabs, bidi overrides and other invisible characters (Unicode class C)."""
    if text.isascii():  # the usual case, asked on every registration of a rush
        return not text.isprintable()
    return any(unicodedata.category(ch)[0] == "C" for ch in text)


def plain_ascii_domain(domain: str) -> bool:
    """Lower-case letters, digits and inner hyphens, no "--" anywhere: IDNA leaves such a
    domain as it is, so it is not asked on every registration of a rush."""
    return domain.isascii() and "--" not in domain and all(map(LABEL_RE.match, domain.split(".")))


def _ascii_domain(domain: str) -> str:
    if plain_ascii_domain(domain):
        return domain
    try:
        return str(idna.encode(domain, uts46=True).decode("ascii"))
    except (idna.IDNAError, UnicodeError):
        raise ValueError(
            "Enter a valid e-mail address: the part after the @ is not a domain."
        ) from None


def normalise_email(raw: str) -> str:
    """The form profiles are matched by: trimmed, lower-case, domain in IDNA (xn--) form.

    Raises ValueError with a sentence for the person if the address cannot be a real one.
    """
    email = unicodedata.normalize("NFC", raw).strip().lower()
    if has_control_characters(email):
        raise ValueError("An e-mail address cannot contain control or invisible characters.")
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("Enter a valid e-mail address.")
    if len(local) > MAX_LOCAL:
        raise ValueError(f"The part before the @ can be at most {MAX_LOCAL} characters long.")
    if not LOCAL_RE.match(local):
        raise ValueError("Enter a valid e-mail address.")
    too_long = f"Each part of the domain can be at most {MAX_LABEL} characters long."
    if any(len(label) > MAX_LABEL for label in domain.split(".")):
        raise ValueError(too_long)
    ascii_domain = _ascii_domain(domain)
    labels = ascii_domain.split(".")
    if any(len(label) > MAX_LABEL for label in labels):
        raise ValueError(too_long)
    tld = labels[-1]
    if len(labels) < 2 or not all(LABEL_RE.match(x) for x in labels) or len(tld) < 2:
        raise ValueError("Enter a valid e-mail address: the part after the @ is not a domain.")
    if tld.isdigit():
        raise ValueError("Enter a valid e-mail address: the part after the @ is not a domain.")
    email = f"{local}@{ascii_domain}"
    if len(email) > MAX_EMAIL:
        raise ValueError(f"An e-mail address can be at most {MAX_EMAIL} characters long.")
    return email


def clean_name(raw: str) -> str:
    """One line of printable text, spaces collapsed. Raises ValueError if empty or too long."""
    if raw.isascii() and raw.isprintable():  # the usual case: nothing to normalise or drop
        name = " ".join(raw.split())
    else:
        name = " ".join(
            "".join(ch for ch in unicodedata.normalize("NFC", raw) if ch.isprintable()).split()
        )
    if not name:
        raise ValueError("Enter your name.")
    if len(name) > MAX_NAME:
        raise ValueError(f"A name can be at most {MAX_NAME} characters long.")
    return name


async def _by_identity(session: AsyncSession, platform: str, external_id: str) -> Member | None:
    member_id = await session.scalar(
        select(MemberIdentity.member_id).where(
            MemberIdentity.platform == platform, MemberIdentity.external_id == external_id
        )
    )
    return None if member_id is None else await session.get(Member, member_id)


async def _by_email(session: AsyncSession, email: str) -> Member | None:
    return await session.scalar(select(Member).where(Member.email == email))


async def _create(session: AsyncSession, name: str, email: str | None) -> tuple[Member, bool]:
    """A new profile, or the one a concurrent request created a moment ago. True if new."""
    if email is None:
        member = Member(name=name, email=None, identities=[])
        session.add(member)
        await session.flush()
        return member, True
    # Two first registrations of one person at two events may race: one insert wins.
    created = await session.scalar(
        insert(Member)
        .values(name=name, email=email)
        .on_conflict_do_nothing(index_elements=[Member.email], index_where=Member.email.isnot(None))
        .returning(Member)
    )
    if created is not None:
        return created, True
    existing = await _by_email(session, email)
    assert existing is not None
    return existing, False


async def find_member(
    session: AsyncSession,
    *,
    email: str | None,
    platform: str = Channel.NATIVE,
    external_id: str | None = None,
) -> Member | None:
    """The existing profile for this person, by platform identity first, then by e-mail."""
    member = None
    if platform != Channel.NATIVE and external_id:
        member = await _by_identity(session, platform, external_id)
    if member is None and email:
        member = await _by_email(session, email)
    return member


async def resolve_member(
    session: AsyncSession,
    *,
    name: str,
    email: str | None,
    platform: str = Channel.NATIVE,
    external_id: str | None = None,
) -> Member:
    """The member this person is, created when new, with an identity for `platform`.

    `email` must already be normalised. A native identity is keyed by the e-mail address;
    a platform identity by the platform's own member id.
    """
    platform = Channel(platform).value
    key = external_id if platform != Channel.NATIVE else email
    member = await find_member(session, email=email, platform=platform, external_id=external_id)
    created = False
    if member is None:
        member, created = await _create(session, name, email)
    elif email and not member.email:
        # A platform that hid the address before may tell us now; keep it for matching.
        taken = await _by_email(session, email)
        if taken is None:
            member.email = email
    known = not created and any(
        i.platform == platform and i.external_id == key for i in member.identities
    )
    if key and not known:
        await session.execute(
            insert(MemberIdentity)
            .values(member_id=member.id, platform=platform, external_id=key, email=email, name=name)
            .on_conflict_do_nothing(index_elements=["platform", "external_id"])
        )
    return member


async def remember_photo(
    session: AsyncSession, platform: str, external_id: str, photo_url: str | None
) -> None:
    """The profile photo the platform shows for this member now (None: it shows none)."""
    await session.execute(
        update(MemberIdentity)
        .where(
            MemberIdentity.platform == platform,
            MemberIdentity.external_id == external_id,
            MemberIdentity.photo_url.is_distinct_from(photo_url),
        )
        .values(photo_url=photo_url)
    )
