"""The row-lock baseline for bench/flash_sale.py: registration the plain way, as a bench-only
app (not a product route), served by granian like the product.

Each attempt is one PostgreSQL transaction that locks the event's row (`SELECT … FOR UPDATE`),
refuses a person already registered or a full event, else inserts the registration and counts
the seat. Bare Litestar and a raw asyncpg pool, so the baseline pays no framework cost the
product pays: it is the fastest this approach gets here. Its tables live in the run's scratch
database (created by bench/flash_sale.py); ROWLOCK_DSN names that database.

Not a benchmark itself: `make bench` runs only the files whose names do not start with "_".
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Response, post
from msgspec import Struct

POOL_SIZE = 20  # per process, as the product's default database pool

SCHEMA = """
CREATE TABLE IF NOT EXISTS rowlock_events (
    id integer PRIMARY KEY, capacity integer NOT NULL, taken integer NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rowlock_registrations (
    event_id integer NOT NULL REFERENCES rowlock_events (id),
    email text NOT NULL,
    name text NOT NULL,
    seat_no integer NOT NULL,
    PRIMARY KEY (event_id, email)
);
"""


class Person(Struct):
    name: str
    email: str


pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    global pool
    dsn = os.environ["ROWLOCK_DSN"]
    pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
    try:
        yield
    finally:
        await pool.close()


@post("/events/{event_id:int}/registrations", status_code=201)
async def register(event_id: int, data: Person) -> Response[dict[str, Any]]:
    assert pool is not None
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT capacity, taken FROM rowlock_events WHERE id = $1 FOR UPDATE", event_id
        )
        if row is None:
            return Response({"code": "event_not_found"}, status_code=404)
        already = await conn.fetchval(
            "SELECT 1 FROM rowlock_registrations WHERE event_id = $1 AND email = $2",
            event_id,
            data.email,
        )
        if already:
            return Response({"code": "already_registered"}, status_code=409)
        if row["taken"] >= row["capacity"]:
            return Response({"code": "sold_out"}, status_code=409)
        seat = row["taken"] + 1
        await conn.execute(
            "INSERT INTO rowlock_registrations (event_id, email, name, seat_no)"
            " VALUES ($1, $2, $3, $4)",
            event_id,
            data.email,
            data.name,
            seat,
        )
        await conn.execute("UPDATE rowlock_events SET taken = $2 WHERE id = $1", event_id, seat)
    return Response({"status": "confirmed", "seat_no": seat}, status_code=201)


app = Litestar([register], lifespan=[lifespan], openapi_config=None, logging_config=None)
