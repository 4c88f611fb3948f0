"""How often each listing is pulled: every few seconds while it sells, every few minutes when
quiet. Pure: no I/O (tasks.pull applies it).

A listing is *hot* while its platform is selling (a pull or a webhook saw its count go up in
the last few minutes) or when it is near its limit (few seats left under the limit we pushed):
that is when a sale we have not seen yet can oversell. Hot listings are polled as often as the
platform's rate budget allows: pulls of the hot listings on one account may spend at most half
of the account's sustained rate (services.mirror.rate_budget), the rest stays for pushes. A listing
that sold in the last half hour is *warm* (once a minute); any other is *quiet*: every 5
minutes where webhooks tell us of sales, every 2 minutes on Meetup, which has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from community.models import Listing
from community.models.enums import ListingState, Platform
from community.services.mirror.rate_budget import LIMITS

HOT_FOR = timedelta(minutes=3)
WARM_FOR = timedelta(minutes=30)
POLL_SHARE = 0.5  # of an account's sustained call rate, for the pulls of its hot listings
MIN_HOT_S = 2.0
WARM_S = 60.0
QUIET_S = {Platform.MEETUP: 120.0, Platform.EVENTBRITE: 300.0, Platform.LUMA: 300.0}
LUMA_PAGE = 100  # guests per page of a Luma pull (platforms.luma page size)


@dataclass(frozen=True, slots=True)
class PollFacts:
    platform: str
    platform_count: int
    last_pushed_limit: int | None
    remote_state: str
    sales_seen_at: datetime | None


def near_limit(facts: PollFacts) -> bool:
    """Open, with a limit, and at most max(3, 10 %) seats left under it."""
    if facts.last_pushed_limit is None or facts.remote_state != ListingState.OPEN:
        return False
    left = facts.last_pushed_limit - facts.platform_count
    return left <= max(3, math.ceil(facts.last_pushed_limit * 0.1))


def is_hot(facts: PollFacts, now: datetime) -> bool:
    selling = facts.sales_seen_at is not None and now - facts.sales_seen_at <= HOT_FOR
    return selling or near_limit(facts)


def pull_cost(facts: PollFacts) -> int:
    """API calls one pull makes: Meetup and Eventbrite read the count and one page of changes;
    Luma reads its whole guest list."""
    if facts.platform == Platform.LUMA:
        return max(1, math.ceil((facts.platform_count + 1) / LUMA_PAGE))
    return 2


def hot_interval(facts: PollFacts, hot_on_account: int) -> float:
    """Seconds between pulls of a hot listing, ``hot_on_account`` hot listings sharing its token."""
    limit = LIMITS[facts.platform]
    calls_per_s = POLL_SHARE * limit.refill_per_s
    return max(MIN_HOT_S, pull_cost(facts) * max(1, hot_on_account) / calls_per_s)


def poll_interval(facts: PollFacts, now: datetime, *, hot_on_account: int = 1) -> float:
    if is_hot(facts, now):
        return hot_interval(facts, hot_on_account)
    if facts.sales_seen_at is not None and now - facts.sales_seen_at <= WARM_FOR:
        return WARM_S
    return QUIET_S.get(facts.platform, WARM_S)


def next_pull_at(facts: PollFacts, now: datetime, *, hot_on_account: int = 1) -> datetime:
    return now + timedelta(seconds=poll_interval(facts, now, hot_on_account=hot_on_account))


def facts_of(listing: Listing) -> PollFacts:
    return PollFacts(
        platform=listing.platform,
        platform_count=listing.platform_count,
        last_pushed_limit=listing.last_pushed_limit,
        remote_state=listing.remote_state,
        sales_seen_at=listing.sales_seen_at,
    )


def mark_selling(listing: Listing, now: datetime) -> None:
    """The platform sold (or a webhook says something changed): hot from now on."""
    listing.sales_seen_at = now
