"""The calls that make a platform show a listing's target, never below what it sold."""

from __future__ import annotations

from dataclasses import replace

from community.models import PLATFORM_LABELS
from community.platforms.base import PlatformClient, PushResult, RemoteListingState
from community.platforms.errors import PlatformRejected
from community.tasks.mirror.target import Target


async def clamped_to_sold(client: PlatformClient, target: Target) -> Target | None:
    """The target with its limit raised to what the platform counts as sold now, or None when
    it is not below it. A platform refuses a capacity below its sales (Eventbrite:
    BAD_QUANTITIES); the extra people are pulled in next, which re-plans the limit."""
    going = (await client.get_event(target.external_id)).going_count
    if target.plan.limit >= going:
        return None
    return replace(target, plan=replace(target.plan, limit=going))


async def push_never_below_sold(
    client: PlatformClient, target: Target
) -> tuple[Target, str, PushResult]:
    """Push the target; a limit below what the platform sold is recounted there and clamped.

    Recounted first when it is below what the platform last reported; recounted after the
    platform refused it too, since sales since our last pull are unknown until we ask.
    """
    if target.plan.limit < target.floor:
        target = await clamped_to_sold(client, target) or target
    try:
        action, result = await apply_plan(client, target)
    except PlatformRejected:
        clamped = await clamped_to_sold(client, target)
        if clamped is None:
            raise
        target = clamped
        action, result = await apply_plan(client, target)
    return target, action, result


async def apply_plan(client: PlatformClient, target: Target) -> tuple[str, PushResult]:
    plan, external_id = target.plan, target.external_id
    if plan.is_open and target.remote_state == RemoteListingState.OPEN:
        return "set_limit", await client.set_limit(external_id, plan.limit)
    if plan.is_open:
        result = await client.set_state(
            external_id, RemoteListingState.OPEN, target.platform_count, limit=plan.limit
        )
        return "reopen", result
    result = await client.set_state(
        external_id, RemoteListingState(plan.state), target.platform_count
    )
    return str(plan.state), result


def describe(target: Target, action: str, result: PushResult) -> str:
    label = PLATFORM_LABELS.get(target.platform, target.platform)
    plan = target.plan
    if plan.is_open and target.allotment.strict:
        words = (
            f"Limit {plan.limit}: {target.platform_count} going on {label} + its share of "
            f"{target.allotment.seats} of the {target.allotment.pool} shared seats left."
        )
    elif plan.is_open:
        words = (
            f"Limit {plan.limit}: {target.platform_count} going on {label} + "
            f"{target.shared_left} shared seats left."
        )
    else:
        state = RemoteListingState(result.state).value.replace("_", " ")
        words = f"Switched to {state} at {plan.limit}."
    if plan.note:
        words += " " + plan.note
    return words
