"""What one platform listing should show, computed from the live counts. Pure: no I/O.

The limit pushed to platform p is ``k_p + max(0, shared_left)`` (docs/inventory.md):
an absolute value, so a push can be repeated or skipped safely and a burst of registrations
collapses into one push of the latest value. ``k_p`` is the platform's own "going" count as of
our last pull, the same moment our ``shared_left`` has counted them: fresh platform counts
paired with older local counts would offer seats that are already gone.

When the shared seats are gone the listing switches to sold out or waitlist, per the event's
mode and what each platform's API can do (docs/platforms.md):

- Meetup: no waitlist switch, but with the limit at its YES count Meetup's own AUTO waitlist
  takes new RSVPs; the client does that.
- Eventbrite: its waitlist is not reachable through the API, so waitlist falls back to sold out
  (capacity equal to what it sold).
- Luma: the waitlist switch is read-only; capacity at the approved count lets Luma's own
  waitlist take people when the organiser enabled it there, otherwise the event shows full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from community.models.enums import PLATFORM_LABELS, ListingState, Platform, SoldOutMode

# Whether asking a platform for "waitlist" can give visitors a waitlist there.
WAITLIST_CAPABLE: dict[str, bool] = {
    Platform.MEETUP: True,  # through Meetup's AUTO waitlist mode
    Platform.EVENTBRITE: False,
    Platform.LUMA: True,  # only if the organiser enabled Luma's waitlist on the event
}

FALLBACK_NOTES: dict[str, str] = {
    Platform.EVENTBRITE: (
        "Eventbrite's waitlist cannot be switched through its API, so the listing shows sold out."
    ),
    Platform.LUMA: (
        "Luma's waitlist cannot be switched through its API: new guests join Luma's waitlist "
        "only if it is enabled on the Luma event; otherwise it shows sold out."
    ),
}


@dataclass(frozen=True, slots=True)
class ListingPlan:
    """The target of one listing: the absolute limit and what visitors should see."""

    limit: int
    state: ListingState
    note: str = ""

    @property
    def is_open(self) -> bool:
        return self.state is ListingState.OPEN


def closed_state(platform: str, mode: SoldOutMode | str) -> ListingState:
    """The state a listing switches to when no shared seat is left."""
    if SoldOutMode(mode) is SoldOutMode.WAITLIST and WAITLIST_CAPABLE.get(platform, False):
        return ListingState.WAITLIST
    return ListingState.SOLD_OUT


def plan_listing(
    *,
    platform: str,
    platform_count: int,
    shared_left: int,
    mode: SoldOutMode | str,
    accepting: bool = True,
) -> ListingPlan:
    """The target for one listing.

    ``accepting`` is False when the event takes no registrations at all (draft, cancelled,
    sales closed): every listing then shows sold out, whatever seats are left.
    """
    if platform_count < 0:
        raise ValueError("a platform's own count cannot be negative")
    Platform(platform)  # refuse unknown platforms early
    if accepting and shared_left > 0:
        return ListingPlan(limit=platform_count + shared_left, state=ListingState.OPEN)
    if not accepting:
        return ListingPlan(limit=platform_count, state=ListingState.SOLD_OUT)
    state = closed_state(platform, mode)
    note = ""
    if SoldOutMode(mode) is SoldOutMode.WAITLIST:
        note = FALLBACK_NOTES.get(platform, "")
        if platform == Platform.MEETUP and platform_count == 0:
            # Meetup's waitlist needs the limit at its YES count, and a limit of 0 means
            # "no limit" there: with nobody going on Meetup, close RSVPs instead.
            state = ListingState.SOLD_OUT
            note = "Nobody is going on Meetup yet, and a limit of 0 would mean no limit there."
    return ListingPlan(limit=platform_count, state=state, note=note)


# Where the API itself chooses between sold out and waitlist. On Eventbrite and Luma the
# platform's own setting decides which of the two a full listing shows, so either answer to a
# closing push is the same outcome and must not be pushed again.
WAITLIST_SWITCHABLE = frozenset({Platform.MEETUP})


def same_state(platform: str, planned: ListingState, remote: ListingState) -> bool:
    if planned == remote:
        return True
    closed = (ListingState.SOLD_OUT, ListingState.WAITLIST)
    return planned in closed and remote in closed and platform not in WAITLIST_SWITCHABLE


def needs_push(
    plan: ListingPlan,
    *,
    last_pushed_limit: int | None,
    remote_state: str,
    in_step: bool,
    platform: str = "",
) -> bool:
    """False when the listing already shows this plan: the push can be skipped.

    Skipping is what turns a burst of identical targets into no calls at all; a listing in
    error is always pushed again, since its remote state is unknown. Without ``platform``,
    sold out and waitlist count as the same state.
    """
    if not in_step or last_pushed_limit is None:
        return True
    if not same_state(platform, plan.state, ListingState(remote_state)):
        return True
    return last_pushed_limit != plan.limit


# --- strict allocation ----------------------------------------------------------------------


def split_pool(pool: int, recent_sales: Mapping[str, int]) -> dict[str, int]:
    """Split ``pool`` shared seats among the channels by their recent sales.

    Each channel gets one seat while seats last (the busiest first), so no channel closes
    while it could still sell; the rest goes by recent sales plus one, largest remainders
    first. Ties go to the native page, then by name, so the split is the same wherever it is
    computed.
    """
    # Our own page comes first among equals: its registrants are the ones we can answer.
    names = sorted(recent_sales, key=lambda ch: (-recent_sales[ch], ch != "native", ch))
    shares = dict.fromkeys(names, 0)
    left = max(0, pool)
    for name in names[:left]:
        shares[name] = 1
    left -= min(left, len(names))
    if left == 0 or not names:
        return shares
    weights = {ch: max(0, recent_sales[ch]) + 1 for ch in names}
    total = sum(weights.values())
    exact = {ch: left * weights[ch] / total for ch in names}
    for ch in names:
        shares[ch] += int(exact[ch])
    rest = left - sum(int(exact[ch]) for ch in names)
    by_remainder = sorted(names, key=lambda ch: (-(exact[ch] - int(exact[ch])), names.index(ch)))
    for ch in by_remainder[:rest]:
        shares[ch] += 1
    return shares


def share_note(platform: str, share: int, pool: int) -> str:
    """Why a listing shows fewer seats than are left, in the organiser's words."""
    if share >= pool:
        return ""
    label = PLATFORM_LABELS.get(platform, platform)
    if share == 0:
        return (
            f"{label}'s share of the shared seats is used up; {pool} remain on other channels "
            "(strict allocation: the listings together never sell more than are left)."
        )
    return f"{label} may sell {share} of the {pool} shared seats left (strict allocation)."
