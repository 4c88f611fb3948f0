"""The product on a real Redis Cluster (REDIS_URL=redis+cluster://..., queues on QUEUE_URL):
registration over HTTP through the Traffic Cop, holds, sessions, rate limits, job coalescing,
and a job enqueued by the app and run by a worker."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import ResponseError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import Settings
from community.demo.ledger_rows import make_event
from community.models import OutboxMessage, Registration, User
from community.queue import make_queues
from community.redis_keys import event_key
from community.services.access import visitor_limits
from community.services.access.login_throttle import Throttle
from community.services.mirror.coalescing import Coalescer
from community.services.mirror.rate_budget import RateBudget
from community.services.seats.inventory import (
    KEY_SUFFIXES,
    Inventory,
    InventorySettings,
    Missing,
    PlaceState,
    Seat,
    Snapshot,
    SoldOut,
)
from community.tasks.registry import QUEUE_NAMES
from community.worker import make_workers
from tests.helpers.seats import MANY, concurrent_client, rush
from tests.helpers.web import login

Client = AsyncTestClient[Litestar]


def one_slot(keys: list[str]) -> bool:
    return len({key_slot(key.encode()) for key in keys}) == 1


async def test_it_is_a_real_cluster_that_refuses_keys_of_two_slots(
    cluster: Redis, cluster_nodes: list[int]
) -> None:
    """The control for every test below: this cluster spreads keys over its three nodes and
    its servers refuse a script whose keys lie in two slots."""
    info = await cluster.cluster_info()
    assert info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == 3
    nodes = {
        cluster.get_node_from_key(event_key("x:", uuid.uuid4(), "meta")).name  # type: ignore[attr-defined]
        for _ in range(60)
    }
    assert len(nodes) == 3
    two = [event_key("x:", uuid.uuid4(), "meta") for _ in range(2)]
    while one_slot(two):
        two[1] = event_key("x:", uuid.uuid4(), "meta")
    for port in cluster_nodes:  # straight to each server, past the client's own check
        node = Redis(port=port)
        try:
            with pytest.raises(ResponseError, match="same slot"):
                await node.eval("return redis.call('EXISTS', KEYS[1], KEYS[2])", 2, *two)
        finally:
            await node.aclose()


async def test_keys_used_together_share_one_slot(
    cluster: Redis, cluster_settings: Settings
) -> None:
    prefix = cluster_settings.redis_prefix
    inventory, coalescer = Inventory(cluster, prefix), Coalescer(cluster, prefix, "push")
    budget = RateBudget(cluster, prefix)
    for _ in range(20):
        event_id, listing_id = uuid.uuid4(), uuid.uuid4()
        assert len(inventory.keys(event_id)) == len(KEY_SUFFIXES)
        assert one_slot(inventory.keys(event_id))
        assert one_slot(coalescer._keys(listing_id))
        assert budget.key("meetup", "acct-1").count("{meetup:acct-1}") == 1
    # The queues' keys share their queue's slot too (they run on a single server anyway).
    for name, queue in make_queues(cluster_settings, cluster).items():
        keys = [queue.namespace(part) for part in ("incomplete", "queued", "active", "schedule")]
        assert one_slot([*keys, queue.job_id("some-job")]), name


async def test_registration_over_http_fills_the_event_exactly(
    cluster_client: Client,
    cluster: Redis,
    queue_redis: Redis,
    cluster_settings: Settings,
    db_session: AsyncSession,
) -> None:
    assert (await cluster_client.get("/healthz")).status_code == 200
    event = await make_event(db_session, capacity=5)
    answers = await asyncio.gather(
        *(
            cluster_client.post(
                f"/api/events/{event.id}/registrations",
                json={"name": f"Person {i}", "email": f"p{i}-{secrets.token_hex(3)}@example.com"},
            )
            for i in range(12)
        )
    )
    codes = sorted(answer.status_code for answer in answers)
    # One client: past the per-event limit (10, counted on the cluster too) it gets 429.
    assert codes == [201] * 5 + [409] * 5 + [429] * 2, [a.text for a in answers]
    seats = sorted(a.json()["seat_no"] for a in answers if a.status_code == 201)
    assert seats == [1, 2, 3, 4, 5]
    counts = (await cluster_client.get(f"/api/events/{event.id}/counts")).json()
    assert counts["native"] == 5 and counts["shared_left"] == 0
    confirmed = await db_session.scalar(
        select(func.count()).where(
            Registration.event_id == event.id, Registration.status == "confirmed"
        )
    )
    assert confirmed == 5
    # The seats live in the cluster, and nowhere on the queues' server.
    meta = event_key(cluster_settings.redis_prefix, event.id, "meta")
    assert await cluster.exists(meta) and not await queue_redis.exists(meta)


async def test_holds_confirm_and_expire_on_the_cluster(
    cluster: Redis, cluster_settings: Settings
) -> None:
    inventory = Inventory(cluster, cluster_settings.redis_prefix)
    event_id = uuid.uuid4()
    assert await inventory.load(event_id, Snapshot(InventorySettings(2, 1, "sold_out"), []))
    held = await inventory.hold(event_id, ["a"], ttl_s=0.2)
    assert isinstance(held, Seat) and held.state == PlaceState.HELD
    kept = await inventory.hold(event_id, ["b"], "meetup", ttl_s=30)
    assert isinstance(kept, Seat)
    assert isinstance(await inventory.reserve(event_id, ["c"]), SoldOut)
    await asyncio.sleep(0.3)
    assert isinstance(await inventory.confirm_hold(event_id, ["a"]), Missing)  # expired
    assert isinstance(await inventory.confirm_hold(event_id, ["b"]), Seat)
    assert isinstance(await inventory.reserve(event_id, ["c"]), Seat)
    await inventory.forget(event_id)
    assert not await inventory.is_loaded(event_id)


async def test_sign_in_keeps_its_session_in_the_cluster(
    cluster_client: Client, cluster: Redis, cluster_settings: Settings, organiser: User
) -> None:
    await login(cluster_client, organiser)
    session_id = cluster_client.cookies.get("session")
    assert session_id
    assert await cluster.exists(f"{cluster_settings.redis_prefix}sessions:{session_id}")
    assert (await cluster_client.get("/admin/events", follow_redirects=False)).status_code == 200


async def test_rate_limits_and_the_login_throttle_count_on_the_cluster(
    cluster: Redis, cluster_settings: Settings
) -> None:
    limit = visitor_limits.Limit("cluster-test", 3, 60)
    waits = [
        await visitor_limits.hit(cluster, cluster_settings, limit, "1.2.3.4") for _ in range(4)
    ]
    assert waits[:3] == [0, 0, 0] and 0 < waits[3] <= 60
    throttle = Throttle(cluster, cluster_settings.redis_prefix)
    for _ in range(5):
        assert await throttle.retry_after("ada@example.com", "1.2.3.4") == 0
        await throttle.failed("ada@example.com", "1.2.3.4")
    assert await throttle.retry_after("ada@example.com", "1.2.3.4") > 0
    budget = RateBudget(cluster, cluster_settings.redis_prefix)
    assert await budget.try_take("meetup", "acct-1") == 0.0


async def test_job_coalescing_runs_its_scripts_on_the_cluster(
    cluster: Redis, cluster_settings: Settings
) -> None:
    coalescer = Coalescer(cluster, cluster_settings.redis_prefix, "push")
    listing = uuid.uuid4()
    first = await coalescer.request(listing)
    assert first.version == 1 and not first.runner_active
    lease = await coalescer.acquire(listing)
    assert lease is not None and await coalescer.acquire(listing) is None
    token, seen = lease
    assert (await coalescer.request(listing)).runner_active  # a change while it runs
    again = await coalescer.settle(listing, token, seen)
    assert again == 2  # the runner goes round once more for it
    assert await coalescer.settle(listing, token, again) is None
    progress = await coalescer.progress(listing)
    assert (progress.want, progress.done, progress.pending) == (2, 2, False)


async def test_a_worker_runs_the_ticket_mail_the_app_enqueued(
    cluster_client: Client,
    cluster_settings: Settings,
    queue_redis: Redis,
    db_session: AsyncSession,
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    event = await make_event(db_session, capacity=3)
    email = f"mail-{secrets.token_hex(3)}@example.com"
    answer = await cluster_client.post(
        f"/api/events/{event.id}/registrations", json={"name": "Mia", "email": email}
    )
    assert answer.status_code == 201, answer.text
    queues = make_queues(cluster_settings, queue_redis)
    assert set(queues) == set(QUEUE_NAMES)

    workers = make_workers(cluster_settings, concurrency=2)
    running = [asyncio.create_task(worker.start()) for worker in workers]
    try:
        deadline = time.monotonic() + 20
        mail: Any = None
        while time.monotonic() < deadline and mail is None:
            async with session_maker() as session:
                mail = await session.scalar(
                    select(OutboxMessage).where(
                        OutboxMessage.to_addr == email, OutboxMessage.status == "kept"
                    )
                )
            await asyncio.sleep(0.1)
        assert mail is not None, "the worker did not send the ticket mail"
    finally:
        for worker in workers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.stop(), 10)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def test_a_rush_past_the_node_pools_gets_no_500_and_loses_no_seat(
    cluster_settings: Settings, cluster: Redis, queue_redis: Redis, db_session: AsyncSession
) -> None:
    """A cluster client's pools (one per node) do not wait: what they cannot serve is shed
    with 503 and Retry-After, and everyone told 201 holds a seat."""
    from community.app import create_app

    pools = replace(cluster_settings.pools, redis_size=4)
    app = create_app(replace(cluster_settings, pools=pools, limits=MANY))
    event = await make_event(db_session, capacity=10)
    async with concurrent_client(app) as client:
        answers = await rush(client, event.id, 60)
        statuses = {a.status_code for a in answers}
        assert statuses <= {201, 409, 503}, statuses
        shed = [a for a in answers if a.status_code == 503]
        assert shed and all(a.headers["retry-after"] == "1" for a in shed)
        created = sum(a.status_code == 201 for a in answers)
        # Read the counts as a client that honours Retry-After would: the pools may still be
        # draining the rush, and a shed read is answered 503 like any other.
        for _ in range(20):
            reply = await client.get(f"/api/events/{event.id}/counts")
            if reply.status_code != 503:
                break
            await asyncio.sleep(float(reply.headers["retry-after"]) / 10)
        assert reply.status_code == 200, reply.text
        counts = reply.json()
        assert counts["taken"] == created
