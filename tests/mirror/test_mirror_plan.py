"""The listing plan: absolute limits, sold out / waitlist per mode and platform."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from community.models.enums import ListingState, SoldOutMode
from community.services.mirror.plan import (
    ListingPlan,
    needs_push,
    plan_listing,
    share_note,
    split_pool,
)

PLATFORMS = ("meetup", "eventbrite", "luma")


def test_open_listing_gets_its_own_count_plus_the_shared_seats_left() -> None:
    plan = plan_listing(platform="meetup", platform_count=12, shared_left=5, mode="sold_out")
    assert plan == ListingPlan(limit=17, state=ListingState.OPEN)


@pytest.mark.parametrize("shared_left", [0, -3])
def test_no_shared_seat_left_closes_at_the_platform_count(shared_left: int) -> None:
    plan = plan_listing(
        platform="meetup", platform_count=12, shared_left=shared_left, mode="sold_out"
    )
    assert plan.limit == 12
    assert plan.state is ListingState.SOLD_OUT


@pytest.mark.parametrize(
    ("platform", "state"),
    [
        ("meetup", ListingState.WAITLIST),
        ("luma", ListingState.WAITLIST),
        ("eventbrite", ListingState.SOLD_OUT),  # no waitlist switch in Eventbrite's API
    ],
)
def test_waitlist_mode_uses_each_platforms_capability(platform: str, state: str) -> None:
    plan = plan_listing(platform=platform, platform_count=4, shared_left=0, mode="waitlist")
    assert plan.state is state
    assert plan.limit == 4
    assert (plan.note != "") is (platform != "meetup")


def test_meetup_cannot_waitlist_with_nobody_going_there() -> None:
    plan = plan_listing(platform="meetup", platform_count=0, shared_left=0, mode="waitlist")
    assert plan.state is ListingState.SOLD_OUT
    assert "limit of 0" in plan.note


def test_an_event_not_taking_registrations_shows_sold_out_everywhere() -> None:
    for platform in PLATFORMS:
        plan = plan_listing(
            platform=platform, platform_count=3, shared_left=50, mode="waitlist", accepting=False
        )
        assert plan == ListingPlan(limit=3, state=ListingState.SOLD_OUT)


def test_unknown_platform_and_negative_count_are_refused() -> None:
    with pytest.raises(ValueError):
        plan_listing(platform="myspace", platform_count=0, shared_left=1, mode="sold_out")
    with pytest.raises(ValueError):
        plan_listing(platform="luma", platform_count=-1, shared_left=1, mode="sold_out")


@given(
    platform=st.sampled_from(PLATFORMS),
    k=st.integers(0, 10_000),
    shared_left=st.integers(-100, 10_000),
    mode=st.sampled_from(list(SoldOutMode)),
    accepting=st.booleans(),
)
def test_plan_invariants(
    platform: str, k: int, shared_left: int, mode: SoldOutMode, accepting: bool
) -> None:
    plan = plan_listing(
        platform=platform, platform_count=k, shared_left=shared_left, mode=mode, accepting=accepting
    )
    # Never below the platform's own count (the platforms refuse that), never above the seats.
    assert k <= plan.limit <= k + max(0, shared_left)
    assert plan.is_open == (accepting and shared_left > 0)
    # An open listing offers exactly the shared seats left; a closed one offers none.
    assert plan.limit - k == (shared_left if plan.is_open else 0)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_needs_push_skips_only_an_identical_in_step_listing(platform: str) -> None:
    plan = ListingPlan(limit=20, state=ListingState.OPEN)

    def needs(limit: int | None, remote: str, in_step: bool = True) -> bool:
        return needs_push(
            plan, platform=platform, last_pushed_limit=limit, remote_state=remote, in_step=in_step
        )

    assert not needs(20, "open")
    assert needs(21, "open")
    assert needs(20, "sold_out")
    assert needs(20, "open", in_step=False)
    assert needs(None, "open")


@pytest.mark.parametrize(
    ("platform", "pushed_again"), [("meetup", True), ("luma", False), ("eventbrite", False)]
)
def test_sold_out_versus_waitlist_is_only_pushed_where_the_api_can_switch_it(
    platform: str, pushed_again: bool
) -> None:
    for planned, remote in (("waitlist", "sold_out"), ("sold_out", "waitlist")):
        plan = ListingPlan(limit=7, state=ListingState(planned))
        assert (
            needs_push(
                plan, platform=platform, last_pushed_limit=7, remote_state=remote, in_step=True
            )
            is pushed_again
        )
        assert needs_push(
            plan, platform=platform, last_pushed_limit=7, remote_state="open", in_step=True
        )


# --- strict allocation: splitting the shared pool -----------------------------------------


def test_the_pool_is_split_by_recent_sales() -> None:
    assert split_pool(10, {"native": 0, "meetup": 6, "eventbrite": 2, "luma": 0}) == {
        "native": 1,
        "meetup": 5,
        "eventbrite": 3,
        "luma": 1,
    }


def test_a_small_pool_goes_to_the_busiest_channels_first() -> None:
    assert split_pool(2, {"native": 1, "meetup": 5, "luma": 0}) == {
        "meetup": 1,
        "native": 1,
        "luma": 0,
    }
    # Among equals, our own page comes first.
    assert split_pool(1, {"native": 0, "luma": 0}) == {"native": 1, "luma": 0}
    assert split_pool(0, {"meetup": 5}) == {"meetup": 0}
    assert split_pool(-3, {"meetup": 5}) == {"meetup": 0}


@given(
    pool=st.integers(-5, 500),
    sales=st.dictionaries(
        st.sampled_from(["native", "meetup", "eventbrite", "luma"]), st.integers(0, 50)
    ),
)
def test_the_shares_add_up_to_the_pool_and_never_more(pool: int, sales: dict[str, int]) -> None:
    shares = split_pool(pool, sales)
    assert set(shares) == set(sales)
    assert all(share >= 0 for share in shares.values())
    if sales:
        assert sum(shares.values()) == max(0, pool)
        if pool >= len(sales):
            assert all(share >= 1 for share in shares.values())


def test_a_listing_whose_share_is_used_up_says_why() -> None:
    assert "share of the shared seats is used up; 4 remain" in share_note("luma", 0, 4)
    assert share_note("meetup", 4, 4) == ""
