"""Overload: more requests at once than the pools hold get answers, never a 500; refusals cost
PostgreSQL nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import event as sa_event

from community.app import create_app
from community.config import PoolSettings, Settings
from tests.helpers.seats import MANY, concurrent_client, new_person, rush


async def test_more_requests_than_the_pools_hold_get_no_500(
    settings: Settings, redis: Any, make_event: Any
) -> None:
    # 4 Redis and 2 database connections for 60 people at once.
    pools = PoolSettings(redis_size=4, redis_wait_s=5, db_size=2, db_overflow=0, db_wait_s=5)
    app = create_app(replace(settings, pools=pools, limits=MANY))
    event = await make_event(capacity=10)
    async with concurrent_client(app) as client:
        answers = await rush(client, event.id, 60)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] * 10 + [409] * 50, statuses
        counts = (await client.get(f"/api/events/{event.id}/counts")).json()
        assert counts["taken"] == 10


async def test_a_pool_that_stays_busy_answers_503_with_retry_after(
    settings: Settings, redis: Any, make_event: Any
) -> None:
    # Waits so short that most of the rush cannot get a connection in time: they are shed.
    pools = PoolSettings(redis_size=4, redis_wait_s=0.01, db_size=2, db_overflow=0, db_wait_s=0.01)
    app = create_app(replace(settings, pools=pools, limits=MANY))
    event = await make_event(capacity=10)
    async with concurrent_client(app) as client:
        answers = await rush(client, event.id, 60)
        statuses = {a.status_code for a in answers}
        assert 500 not in statuses and statuses <= {201, 409, 503}, statuses
        shed = [a for a in answers if a.status_code == 503]
        assert shed and all(a.headers["retry-after"] == "1" for a in shed)
        assert all(a.json()["detail"] for a in shed)
        counts = (await client.get(f"/api/events/{event.id}/counts")).json()
        created = sum(a.status_code == 201 for a in answers)
        assert counts["taken"] == created  # nobody holds a seat without being told


async def test_past_the_in_flight_limit_a_fast_503(
    settings: Settings, redis: Any, make_event: Any
) -> None:
    app = create_app(replace(settings, pools=PoolSettings(max_in_flight=2), limits=MANY))
    event = await make_event(capacity=100)
    async with concurrent_client(app) as client:
        answers = await rush(client, event.id, 30)
        statuses = {a.status_code for a in answers}
        assert statuses <= {201, 503} and 503 in statuses, statuses
        busy = next(a for a in answers if a.status_code == 503)
        assert busy.headers["retry-after"] == "1" and busy.json()["code"] == "busy"
        assert (await client.get("/healthz")).status_code in (200, 503)


async def test_sold_out_and_already_registered_never_touch_postgresql(
    settings: Settings, redis: Any, make_event: Any
) -> None:
    app = create_app(replace(settings, limits=MANY))
    event = await make_event(capacity=2)
    checkouts = 0

    def count(*_: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    engine = app.state["db_config"].get_engine().sync_engine
    async with AsyncTestClient(app=app) as client:
        path = f"/api/events/{event.id}/registrations"
        ada = new_person(0)
        assert (await client.post(path, json=ada)).status_code == 201
        assert (await client.post(path, json=new_person(1))).status_code == 201
        await app.state["after_reply"].drain()  # the mirror's reads that follow those seats
        sa_event.listen(engine, "checkout", count)
        try:
            for n in range(2, 12):
                sold_out = await client.post(path, json=new_person(n))
                assert sold_out.json()["code"] == "sold_out"
            again = await client.post(path, json=ada)
            assert again.json()["code"] == "already_registered"
        finally:
            sa_event.remove(engine, "checkout", count)
    assert checkouts == 0
