"""Every Redis key keeps its exact string: a change would orphan what a running deployment
holds (seats, budgets, sessions) and could split a script's keys over two cluster slots."""

from __future__ import annotations

from uuid import UUID

from redis.cluster import key_slot

from community import redis_keys as keys

EVENT = UUID("00000000-0000-0000-0000-0000000000e1")
LISTING = UUID("00000000-0000-0000-0000-0000000000a1")
USER = UUID("00000000-0000-0000-0000-0000000000b1")


def test_every_key_keeps_its_string() -> None:
    p = "cd:"
    assert keys.event_key(p, EVENT, "meta") == f"cd:ev:{{{EVENT}}}:meta"
    assert keys.page_version(p, EVENT) == f"cd:ev:{{{EVENT}}}:page"
    assert keys.coalescing(p, "push", LISTING) == [
        f"cd:push:{{{LISTING}}}:want",
        f"cd:push:{{{LISTING}}}:runner",
        f"cd:push:{{{LISTING}}}:done",
    ]
    assert keys.rate_budget(p, "meetup", "acct-1") == "cd:budget:{meetup:acct-1}"
    assert keys.stranded_sweep(p, "202601021530") == "cd:sched:stranded:202601021530"
    assert keys.queue_name(p, "mirror") == "{cd:q:mirror}"
    assert keys.visitor_limit(p, "resend", "ab12") == "cd:limit:resend:ab12"
    assert keys.login_account(p, "ab12") == "cd:login:acct:ab12"
    assert keys.login_address(p, "cd34") == "cd:login:addr:cd34"
    assert keys.magic_link_spent(p, "n1") == "cd:magic:spent:n1"
    assert keys.invitation(p, "ab12") == "cd:invite:ab12"
    assert keys.invitation_of_user(p, USER) == f"cd:invite-user:{USER}"
    assert keys.signed_out(p, "s1") == "cd:signed-out:s1"
    assert keys.sessions_namespace(p) == "cd:sessions"


def test_keys_used_together_share_a_slot() -> None:
    event_slots = {key_slot(keys.event_key("x:", EVENT, s).encode()) for s in ("meta", "free")}
    assert event_slots == {key_slot(keys.page_version("x:", EVENT).encode())}
    assert len({key_slot(k.encode()) for k in keys.coalescing("x:", "pull", LISTING)}) == 1
